"""Torch networks, the trainer, ONNX export, and the shipped model artefacts.

Importing this package needs no torch; the torch modules import it lazily.
"""

from __future__ import annotations

from rnnstream.models.train_config import TrainConfig, config_digest

__all__ = ["TrainConfig", "config_digest"]
