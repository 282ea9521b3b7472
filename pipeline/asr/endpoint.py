"""Utterance endpointing from CTC posteriors (and optionally frame energy).

A frame counts as speech when the CTC blank probability is below
``blank_threshold`` (and, if energies are given, its energy is at least
``energy_threshold_db``).  Three rules end an utterance:

1. ``TRAILING_SILENCE``: speech was seen and then ``trailing_silence`` seconds of
   non-speech followed;
2. ``NO_SPEECH``: ``no_speech_timeout`` seconds passed without any speech;
3. ``MAX_LENGTH``: the utterance reached ``max_utterance`` seconds.

The state is three integer arrays per stream, so a runtime can keep it in slabs and
step many streams with one call.  After an endpoint the stream's counters restart
at the next frame.

>>> import numpy as np
>>> cfg = EndpointConfig(frame_shift=0.1, trailing_silence=0.3)
>>> ep = Endpointer(cfg)
>>> pb = np.array([0.99, 0.1, 0.2, 0.95, 0.97, 0.99, 0.99])
>>> [(e.frame, e.reason.name) for e in ep.push(pb)]
[(5, 'TRAILING_SILENCE')]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from rnnstream.errors import ConfigError, RnnstreamError

__all__ = [
    "EndpointConfig",
    "EndpointReason",
    "EndpointState",
    "Endpoint",
    "Endpointer",
    "endpoint_step",
    "blank_probability",
    "frame_energy_db",
]


class EndpointReason(IntEnum):
    NONE = 0
    TRAILING_SILENCE = 1
    NO_SPEECH = 2
    MAX_LENGTH = 3


class EndpointConfig(BaseModel):
    """Endpoint rules; times in seconds, ``frame_shift`` is seconds per posterior frame."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    frame_shift: float = 0.04
    trailing_silence: float = 0.8
    no_speech_timeout: float = 5.0
    max_utterance: float = 20.0
    blank_threshold: float = 0.9
    min_speech_frames: int = 2
    energy_threshold_db: float | None = None

    @model_validator(mode="after")
    def _check(self) -> "EndpointConfig":
        for name in ("frame_shift", "trailing_silence", "no_speech_timeout", "max_utterance"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"endpoint {name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.blank_threshold <= 1.0:
            raise ConfigError(f"endpoint blank_threshold must be in (0, 1], got {self.blank_threshold}")
        if self.min_speech_frames < 1:
            raise ConfigError(f"endpoint min_speech_frames must be >= 1, got {self.min_speech_frames}")
        return self

    def frames(self, seconds: float) -> int:
        """Seconds to a whole number of frames, rounding up (tolerant of float noise)."""
        return max(1, math.ceil(seconds / self.frame_shift - 1e-9))


@dataclass
class EndpointState:
    """Per-stream counters since the utterance began: frames, speech frames, and the
    current run of non-speech frames."""

    n_frames: np.ndarray
    n_speech: np.ndarray
    trailing: np.ndarray

    @classmethod
    def zeros(cls, n_streams: int) -> "EndpointState":
        z = np.zeros(n_streams, dtype=np.int64)
        return cls(z.copy(), z.copy(), z.copy())

    def copy(self) -> "EndpointState":
        return EndpointState(self.n_frames.copy(), self.n_speech.copy(), self.trailing.copy())


@dataclass(frozen=True)
class Endpoint:
    """An endpoint at stream frame ``frame`` (inclusive) ending at ``time`` seconds."""

    frame: int
    time: float
    reason: EndpointReason


def blank_probability(scores: np.ndarray, blank: int = 0) -> np.ndarray:
    """P(blank) per frame from logits or log-probs ``[..., V]``."""
    a = np.asarray(scores, dtype=np.float64)
    m = a.max(axis=-1, keepdims=True)
    return np.exp(a[..., blank] - m[..., 0]) / np.exp(a - m).sum(axis=-1)


def frame_energy_db(signal: np.ndarray, win: int, hop: int) -> np.ndarray:
    """Mean-square energy in dB per frame, same framing as the features."""
    x = np.asarray(signal, dtype=np.float64)
    if x.size < win:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    return 10.0 * np.log10(np.maximum((frames**2).mean(axis=1), 1e-12))


def endpoint_step(
    config: EndpointConfig,
    state: EndpointState,
    blank_prob: np.ndarray,
    energy_db: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
) -> tuple[EndpointState, np.ndarray]:
    """Advance B streams by ``[B, t]`` frames; returns ``(new_state, reasons [B, t])``.

    ``reasons[b, i]`` is an :class:`EndpointReason` value, non-zero where an utterance
    ends at that frame.  Frames at or past ``lengths[b]`` are ignored.  ``state`` is
    not modified.
    """
    pb = np.asarray(blank_prob, dtype=np.float64)
    if pb.ndim != 2 or pb.shape[0] != state.n_frames.shape[0]:
        raise RnnstreamError(f"blank_prob must be [B={state.n_frames.shape[0]}, t], got {pb.shape}")
    b, t = pb.shape
    speech = pb < config.blank_threshold
    if energy_db is not None and config.energy_threshold_db is not None:
        en = np.asarray(energy_db, dtype=np.float64)
        if en.shape != pb.shape:
            raise RnnstreamError(f"energy_db shape {en.shape} differs from blank_prob {pb.shape}")
        speech &= en >= config.energy_threshold_db
    ln = np.full(b, t, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)
    valid = np.arange(t)[None, :] < ln[:, None]
    trail_n = config.frames(config.trailing_silence)
    quiet_n = config.frames(config.no_speech_timeout)
    max_n = config.frames(config.max_utterance)
    n_frames, n_speech, trailing = state.n_frames.copy(), state.n_speech.copy(), state.trailing.copy()
    reasons = np.zeros((b, t), dtype=np.int8)
    # Loop over time only; every operation is vectorised over the streams.
    for i in range(t):
        v = valid[:, i]
        sp = speech[:, i] & v
        n_frames += v
        n_speech += sp
        trailing = np.where(sp, 0, trailing + v)
        had_speech = n_speech >= config.min_speech_frames
        r = np.where(
            had_speech & (trailing >= trail_n),
            EndpointReason.TRAILING_SILENCE,
            np.where(
                ~had_speech & (n_frames >= quiet_n),
                EndpointReason.NO_SPEECH,
                np.where(n_frames >= max_n, EndpointReason.MAX_LENGTH, EndpointReason.NONE),
            ),
        )
        r = np.where(v, r, EndpointReason.NONE)
        reasons[:, i] = r
        fired = r != EndpointReason.NONE
        n_frames[fired] = 0
        n_speech[fired] = 0
        trailing[fired] = 0
    return EndpointState(n_frames, n_speech, trailing), reasons


class Endpointer:
    """Single-stream wrapper that numbers frames from the stream's start."""

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self.reset()

    def reset(self) -> None:
        self.state = EndpointState.zeros(1)
        self.frame = 0

    def push(self, blank_prob: np.ndarray, energy_db: np.ndarray | None = None) -> list[Endpoint]:
        pb = np.asarray(blank_prob, dtype=np.float64).reshape(1, -1)
        en = None if energy_db is None else np.asarray(energy_db, dtype=np.float64).reshape(1, -1)
        self.state, reasons = endpoint_step(self.config, self.state, pb, en)
        hits = np.flatnonzero(reasons[0])
        out = [
            Endpoint(
                frame=self.frame + int(i),
                time=(self.frame + int(i) + 1) * self.config.frame_shift,
                reason=EndpointReason(int(reasons[0, i])),
            )
            for i in hits
        ]
        self.frame += pb.shape[1]
        return out
