"""The one exception hierarchy of rnnstream.

Every error the library raises on purpose derives from :class:`RnnstreamError`, so a
caller can catch the product's failures without catching programming bugs.

>>> issubclass(ConfigError, RnnstreamError)
True
"""

from __future__ import annotations

__all__ = [
    "RnnstreamError",
    "ConfigError",
    "ModelError",
    "SnapshotError",
    "ConnectorError",
]


class RnnstreamError(Exception):
    """Root of every deliberate rnnstream error."""


class ConfigError(RnnstreamError):
    """A configuration value is missing or invalid; the message names the field."""


class ModelError(RnnstreamError):
    """A model file or manifest is missing, tampered with, or inconsistent."""


class SnapshotError(RnnstreamError):
    """A state snapshot is corrupt, truncated, or belongs to another model."""


class ConnectorError(RnnstreamError):
    """A source or sink cannot be opened or has failed irrecoverably."""
