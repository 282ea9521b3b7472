"""rnnstream: stateful RNN/LSTM/GRU stream processing with cross-key batching."""

from __future__ import annotations

from rnnstream.errors import RnnstreamError

__all__ = ["RnnstreamError", "__version__"]

__version__ = "0.1.0"
