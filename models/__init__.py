"""Torch networks, the trainer, ONNX export, and the shipped model artefacts.

Importing this package needs no torch; the torch modules import it lazily.
"""

__all__: list[str] = []
