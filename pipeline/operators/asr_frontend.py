"""ASR front end shared by the trainer and the runtime: log-mel -> CMVN -> frame stacking.

The signal is pre-padded with ``win - hop`` zeros, so every chunk of ``k * hop`` samples
yields exactly ``k`` log-mel frames, and a chunk whose frame count is a multiple of
``stack`` yields a whole number of model steps. Every stream in a batch then advances by
the same number of steps, and chunked features equal whole-signal features exactly.
The streaming state is two per-key arrays (leftover samples and their count), which live
in the slab store like any other state.

>>> import numpy as np
>>> fe = AsrFrontend({"sample_rate": 16000, "n_mels": 80, "win": 400, "hop": 160, "stack": 2})
>>> x = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
>>> whole = fe.whole(x)
>>> left, n = fe.initial_state(1)
>>> parts = []
>>> for c in range(10):
...     f, left, n = fe.push(x[None, c * 1600:(c + 1) * 1600], left, n)
...     parts.append(f[0])
>>> whole.shape, bool(np.abs(np.concatenate(parts) - whole).max() < 1e-5)
((50, 160), True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnstream.asr.features import LogMel, LogMelConfig, stream_frames_batch
from rnnstream.errors import ConfigError, ModelError
from rnnstream.engine.state import ExtraSpec

__all__ = ["AsrFrontend", "FRONTEND_DEFAULTS"]

FRONTEND_DEFAULTS = {"sample_rate": 16000, "n_mels": 80, "win": 400, "hop": 160, "stack": 2}


class AsrFrontend:
    """Built from a manifest's ``features`` (``mean``/``std`` are the training CMVN stats)."""

    def __init__(self, features: dict[str, Any]) -> None:
        f = {**FRONTEND_DEFAULTS, **features}
        try:
            self.mel = LogMel(LogMelConfig(sample_rate=int(f["sample_rate"]), n_mels=int(f["n_mels"]),
                                           win=int(f["win"]), hop=int(f["hop"])))
            self.stack = int(f["stack"])
        except (TypeError, ValueError) as exc:
            raise ModelError(f"ASR feature spec is invalid: {exc}") from None
        n = self.mel.n_mels
        self.mean = np.asarray(f.get("mean", np.zeros(n)), dtype=np.float32)
        self.std = np.asarray(f.get("std", np.ones(n)), dtype=np.float32)
        if self.mean.shape != (n,) or self.std.shape != (n,) or (self.std <= 0).any():
            raise ModelError(f"ASR feature spec: mean/std must be {n} values with std > 0")
        self.sample_rate = self.mel.config.sample_rate
        self.pad = self.mel.win - self.mel.hop
        self.step_samples = self.mel.hop * self.stack
        self.dim = n * self.stack
        self.frame_shift = self.step_samples / self.sample_rate

    def spec(self) -> dict[str, Any]:
        """The manifest ``features`` entries that rebuild this front end."""
        c = self.mel.config
        return {"sample_rate": c.sample_rate, "n_mels": c.n_mels, "win": c.win, "hop": c.hop, "stack": self.stack,
                "mean": self.mean.tolist(), "std": self.std.tolist(), "frame_shift": self.frame_shift}

    def chunk_samples(self, chunk_ms: float) -> int:
        """Samples per chunk; a chunk must be a whole number of model steps."""
        n = int(round(chunk_ms * self.sample_rate / 1000.0))
        if n <= 0 or n % self.step_samples:
            ms = 1000.0 * self.step_samples / self.sample_rate
            raise ConfigError(f"chunk_ms: must be a positive multiple of {ms:g} ms, got {chunk_ms:g}")
        return n

    # -- whole signals (training, whole-file reference) ------------------------------------
    def logmel(self, signal: np.ndarray) -> np.ndarray:
        x = np.concatenate([np.zeros(self.pad, np.float32), np.asarray(signal, np.float32)])
        return self.mel.whole(x)

    def model_input(self, logmel: np.ndarray) -> np.ndarray:
        """``[..., T, n_mels]`` -> normalised, stacked ``[..., T // stack, stack * n_mels]``."""
        t = logmel.shape[-2] // self.stack * self.stack
        z = (logmel[..., :t, :] - self.mean) / self.std
        return z.reshape(*logmel.shape[:-2], t // self.stack, self.dim).astype(np.float32)

    def whole(self, signal: np.ndarray) -> np.ndarray:
        return self.model_input(self.logmel(signal))

    # -- streaming, batched ----------------------------------------------------------------
    def extras(self) -> tuple[ExtraSpec, ...]:
        return (ExtraSpec("fe_left", (self.mel.win,), "float32"), ExtraSpec("fe_nleft", (), "int64", self.pad))

    def initial_state(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((n, self.mel.win), np.float32), np.full(n, self.pad, np.int64)

    def push(self, chunks: np.ndarray, left: np.ndarray, n_left: np.ndarray):
        """``chunks [B, N]`` (N a multiple of ``step_samples``) -> (``[B, N/step, dim]``, left, n_left)."""
        feats, new_left, new_n = self.push_logmel(chunks, left, n_left)
        return self.model_input(feats), new_left, new_n

    def push_logmel(self, chunks: np.ndarray, left: np.ndarray, n_left: np.ndarray):
        """As :meth:`push`, but the raw log-mel frames, for models that normalise them differently."""
        if chunks.shape[1] % self.step_samples:
            raise ConfigError(f"audio chunk of {chunks.shape[1]} samples is not a multiple of {self.step_samples}")
        feats, _, new_left, new_n = stream_frames_batch(self.mel, left, n_left, chunks)
        return feats, new_left, new_n

    def same_frames(self, other: "AsrFrontend") -> bool:
        """Whether ``other`` cuts the same log-mel frames and steps (its normalisation may differ)."""
        return self.mel.config == other.mel.config and self.stack == other.stack
