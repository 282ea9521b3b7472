"""Training checkpoints: everything a run needs to continue as if it had never stopped.

A checkpoint holds the weights, the optimiser and LR-schedule state, the torch RNG, the
data cursor (epoch, batch, window) with the recurrent state carried into the next window,
the loss history and the early-stopping bookkeeping. It is written to a temporary file and
renamed over the old one, so a kill while writing leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from rnnstream.errors import ConfigError

__all__ = ["CHECKPOINT_NAME", "checkpoint_path", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_NAME = "last.pt"
_FORMAT = 1


def checkpoint_path(directory: str | Path) -> Path:
    return Path(directory) / CHECKPOINT_NAME


def save_checkpoint(directory: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write ``payload`` as the directory's checkpoint; returns its path."""
    path = checkpoint_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"format": _FORMAT, **payload}, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(directory: str | Path, *, digest: str) -> dict[str, Any] | None:
    """The directory's checkpoint, or None when there is none.

    Raises :class:`ConfigError` when it belongs to a run with another config (``digest``),
    because resuming it would silently train a different model.
    """
    path = checkpoint_path(directory)
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise ConfigError(f"cannot read checkpoint {path}: {exc}") from None
    if payload.get("format") != _FORMAT:
        raise ConfigError(f"checkpoint {path} has unknown format {payload.get('format')!r}")
    if payload.get("digest") != digest:
        raise ConfigError(
            f"checkpoint {path} was written by a run with a different config "
            f"({payload.get('digest')} != {digest}); use another --checkpoint-dir or drop --resume"
        )
    return payload
