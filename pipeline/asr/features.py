"""Streaming log-mel features in numpy.

Frame ``i`` covers samples ``[i*hop, i*hop + win)``; there is no centre padding, so a
stream cut into arbitrary chunks yields exactly the frames of the whole signal.  The
only state a stream needs is the samples not yet consumed by a complete frame, which
is always shorter than ``win`` and therefore fits a fixed ``[win]`` slab per stream.

Features are kept raw (no per-utterance normalisation, which a stream cannot know in
advance); :class:`FeatureStats` accumulates a global mean/std that a model can bake in.

>>> import numpy as np
>>> mel = LogMel()
>>> x = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
>>> mel.whole(x).shape
(98, 80)
>>> s = mel.stream()
>>> chunks = [s.push(c) for c in np.array_split(x, 7)]
>>> bool(np.allclose(np.concatenate(chunks), mel.whole(x), atol=1e-6))
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from rnnstream.errors import ConfigError, RnnstreamError

__all__ = [
    "LogMelConfig",
    "LogMel",
    "LogMelStream",
    "FeatureStats",
    "num_frames",
    "stream_frames",
    "stream_frames_batch",
    "mel_filterbank",
    "hz_to_mel",
    "mel_to_hz",
]


class LogMelConfig(BaseModel):
    """Feature settings; the defaults are the 25 ms / 10 ms / 80-bin ASR standard."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample_rate: int = 16000
    n_mels: int = 80
    win: int = 400
    hop: int = 160
    n_fft: int = 512
    fmin: float = 20.0
    fmax: float | None = None
    log_floor: float = 1e-10

    @model_validator(mode="after")
    def _check(self) -> "LogMelConfig":
        if self.sample_rate <= 0:
            raise ConfigError(f"sample_rate must be > 0, got {self.sample_rate}")
        if self.win <= 0 or self.hop <= 0:
            raise ConfigError(f"win and hop must be > 0, got win={self.win} hop={self.hop}")
        if self.hop > self.win:
            raise ConfigError(f"hop ({self.hop}) > win ({self.win}) would skip samples")
        if self.n_fft < self.win:
            raise ConfigError(f"n_fft ({self.n_fft}) must be >= win ({self.win})")
        if self.n_mels <= 0:
            raise ConfigError(f"n_mels must be > 0, got {self.n_mels}")
        top = self.sample_rate / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < top <= self.sample_rate / 2:
            raise ConfigError(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin} fmax={top}")
        if self.log_floor <= 0:
            raise ConfigError(f"log_floor must be > 0, got {self.log_floor}")
        return self


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``2595 * log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular HTK-mel filters as a ``[n_mels, n_fft // 2 + 1]`` float64 matrix.

    Triangles are evaluated at the exact bin frequencies rather than snapped to bins,
    so narrow low filters never come out empty.

    >>> fb = mel_filterbank(16000, 512, 80, 20.0, 8000.0)
    >>> fb.shape, bool((fb.sum(axis=1) > 0).all())
    ((80, 257), True)
    """
    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lo) / (mid - lo)
    falling = (hi - bins[None, :]) / (hi - mid)
    return np.maximum(0.0, np.minimum(rising, falling))


def num_frames(n_samples: int | np.ndarray, win: int, hop: int) -> int | np.ndarray:
    """Number of complete frames in ``n_samples`` samples (vectorised over arrays)."""
    n = np.asarray(n_samples)
    out = np.where(n >= win, 1 + (n - win) // hop, 0)
    return int(out) if out.ndim == 0 else out


class LogMel:
    """Log-mel extractor: ``whole`` for a complete signal, ``stream`` for chunks."""

    def __init__(self, config: LogMelConfig | None = None, **overrides: object) -> None:
        cfg = config or LogMelConfig()
        self.config = LogMelConfig(**{**cfg.model_dump(), **overrides}) if overrides else cfg
        c = self.config
        n = np.arange(c.win)
        # Periodic Hann: consecutive windows at 50 % overlap sum to a constant.
        self.window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / c.win)
        top = c.sample_rate / 2.0 if c.fmax is None else float(c.fmax)
        self.filterbank = mel_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.fmin, top)
        self._fb_t = np.ascontiguousarray(self.filterbank.T)
        self._fb_t32 = self._fb_t.astype(np.float32)
        self._window32 = self.window.astype(np.float32)

    @property
    def win(self) -> int:
        return self.config.win

    @property
    def hop(self) -> int:
        return self.config.hop

    @property
    def n_mels(self) -> int:
        return self.config.n_mels

    def frames_to_features(self, frames: np.ndarray) -> np.ndarray:
        """``[..., win]`` raw sample frames to ``[..., n_mels]`` float32 log-mel."""
        # float32 throughout halves the cost of the streaming hot path; numpy >= 2 keeps
        # float32 FFTs in single precision. Every path (whole, chunked, batched) uses this.
        spec = np.fft.rfft(frames.astype(np.float32) * self._window32, n=self.config.n_fft, axis=-1)
        power = np.square(spec.real) + np.square(spec.imag)
        mel = power @ self._fb_t32
        return np.log(np.maximum(mel, np.float32(self.config.log_floor)))

    def whole(self, signal: np.ndarray) -> np.ndarray:
        """Features of a complete 1-D signal: ``[T, n_mels]`` with T from :func:`num_frames`."""
        x = _as_signal(signal)
        t = num_frames(x.size, self.win, self.hop)
        if t == 0:
            return np.zeros((0, self.n_mels), dtype=np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(x, self.win)[:: self.hop][:t]
        return self.frames_to_features(frames)

    def stream(self) -> "LogMelStream":
        """A fresh streaming extractor sharing this configuration."""
        return LogMelStream(self)

    def empty_state(self, n_streams: int | None = None) -> tuple[np.ndarray, np.ndarray | int]:
        """Zeroed leftover slab(s): ``([win], 0)`` or ``([B, win], zeros(B))``."""
        if n_streams is None:
            return np.zeros(self.win, dtype=np.float32), 0
        return np.zeros((n_streams, self.win), dtype=np.float32), np.zeros(n_streams, dtype=np.int64)


def _as_signal(signal: np.ndarray) -> np.ndarray:
    # Samples are float32 everywhere (the leftover slab too), so both paths see the
    # same values and chunked output equals whole-signal output bit for bit.
    x = np.asarray(signal, dtype=np.float32).astype(np.float64)
    if x.ndim != 1:
        raise RnnstreamError(f"expected a 1-D signal, got shape {x.shape}")
    return x


def stream_frames(
    mel: LogMel, leftover: np.ndarray, n_left: int, chunk: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Pure streaming step: ``(frames [t, n_mels], new_leftover [win], new_n_left)``.

    ``leftover[:n_left]`` are the carried samples; ``leftover`` is never modified, a
    new slab is returned so the caller decides where the state lives.
    """
    if not 0 <= n_left < mel.win or leftover.shape[-1] < n_left:
        raise RnnstreamError(f"n_left={n_left} is outside [0, win={mel.win}) or the slab")
    buf = np.concatenate([_as_signal(leftover[:n_left]), _as_signal(chunk)])
    t = num_frames(buf.size, mel.win, mel.hop)
    new_left = np.zeros(mel.win, dtype=np.float32)
    rest = buf[t * mel.hop :]
    new_left[: rest.size] = rest
    feats = mel.whole(buf) if t else np.zeros((0, mel.n_mels), dtype=np.float32)
    return feats, new_left, int(rest.size)


def stream_frames_batch(
    mel: LogMel,
    leftover: np.ndarray,
    n_left: np.ndarray,
    chunks: np.ndarray,
    lengths: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One streaming step for B streams at once.

    Args: ``leftover [B, win]`` slabs, ``n_left [B]`` valid counts, ``chunks [B, L]``
    new samples (row b valid up to ``lengths[b]``, default all ``L``).
    Returns ``(feats [B, Tmax, n_mels], n_frames [B], new_leftover, new_n_left)``;
    rows past ``n_frames[b]`` are zero.  Equal to :func:`stream_frames` per row.
    """
    left = np.asarray(leftover)
    nl = np.asarray(n_left, dtype=np.int64)
    ch = np.asarray(chunks, dtype=np.float32)
    if left.ndim != 2 or ch.ndim != 2 or left.shape[0] != ch.shape[0] or nl.shape != (left.shape[0],):
        raise RnnstreamError(
            f"shapes disagree: leftover {left.shape}, n_left {nl.shape}, chunks {ch.shape}"
        )
    b, l_max = ch.shape
    ln = np.full(b, l_max, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)
    if ln.shape != (b,) or (ln < 0).any() or (ln > l_max).any():
        raise RnnstreamError(f"lengths must be [B] within [0, {l_max}], got {ln}")
    if (nl < 0).any() or (nl >= mel.win).any() or left.shape[1] < mel.win:
        raise RnnstreamError(f"n_left must be in [0, win={mel.win}) and slabs at least win wide")
    if b and lengths is None and (nl == nl[0]).all():
        # Steady state of the ASR operator: one full chunk per stream, equal carry-over.
        return _uniform_batch(mel, left, int(nl[0]), ch)
    ch = ch.astype(np.float64)
    width = mel.win + l_max
    pos = np.arange(width)[None, :]
    from_left = pos < nl[:, None]
    chunk_idx = np.clip(pos - nl[:, None], 0, max(l_max - 1, 0))
    total = nl + ln
    # Gather "leftover then chunk" per row without a Python loop over streams.
    left_part = np.take_along_axis(left[:, : mel.win].astype(np.float64), np.minimum(pos, mel.win - 1).repeat(b, 0), 1)
    chunk_part = np.take_along_axis(ch, chunk_idx, 1) if l_max else np.zeros((b, width))
    buf = np.where(from_left, left_part, chunk_part)
    buf = np.where(pos < total[:, None], buf, 0.0)
    nf = np.asarray(num_frames(total, mel.win, mel.hop)).reshape(b)
    t_max = int(nf.max(initial=0))
    feats = np.zeros((b, t_max, mel.n_mels), dtype=np.float32)
    if t_max:
        windows = np.lib.stride_tricks.sliding_window_view(buf, mel.win, axis=1)[:, :: mel.hop][:, :t_max]
        valid = np.arange(t_max)[None, :] < nf[:, None]
        feats[valid] = mel.frames_to_features(windows[valid])
    start = nf * mel.hop
    new_n = total - start
    idx = np.minimum(start[:, None] + np.arange(mel.win)[None, :], width - 1)
    new_left = np.take_along_axis(buf, idx, 1)
    new_left = np.where(np.arange(mel.win)[None, :] < new_n[:, None], new_left, 0.0).astype(np.float32)
    return feats, nf, new_left, new_n


def _uniform_batch(mel: LogMel, left: np.ndarray, n0: int, ch: np.ndarray):
    """Fast path: every stream carries the same number of samples and gets a full chunk
    (the ASR operator's steady state), so no per-row gathering is needed."""
    b, l_max = ch.shape
    buf = np.concatenate([left[:, :n0].astype(np.float32, copy=False), ch], axis=1)
    total = n0 + l_max
    t = int(num_frames(total, mel.win, mel.hop))
    if t:
        windows = np.lib.stride_tricks.sliding_window_view(buf, mel.win, axis=1)[:, :: mel.hop][:, :t]
        feats = mel.frames_to_features(windows)
    else:
        feats = np.zeros((b, 0, mel.n_mels), np.float32)
    rest = total - t * mel.hop
    new_left = np.zeros((b, mel.win), np.float32)
    new_left[:, :rest] = buf[:, t * mel.hop :]
    return feats, np.full(b, t, np.int64), new_left, np.full(b, rest, np.int64)


class LogMelStream:
    """Chunk-by-chunk extractor; its whole state is ``(leftover, n_left)``."""

    def __init__(self, mel: LogMel) -> None:
        self.mel = mel
        self.leftover, self.n_left = mel.empty_state()
        self.frames_emitted = 0

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Feed samples (any length, even 0); returns the frames they complete."""
        feats, self.leftover, self.n_left = stream_frames(self.mel, self.leftover, int(self.n_left), chunk)
        self.frames_emitted += feats.shape[0]
        return feats

    def reset(self) -> None:
        self.leftover, self.n_left = self.mel.empty_state()
        self.frames_emitted = 0


@dataclass
class FeatureStats:
    """Running per-bin mean/variance (Chan's parallel update) for global normalisation.

    >>> import numpy as np
    >>> x = np.random.default_rng(1).normal(3.0, 2.0, size=(5000, 4))
    >>> st = FeatureStats(4); st.update(x[:1234]); st.update(x[1234:])
    >>> bool(np.allclose(st.mean, x.mean(0)) and np.allclose(st.std, x.std(0)))
    True
    """

    dim: int
    count: int = 0
    mean: np.ndarray = field(default=None)  # type: ignore[assignment]
    m2: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.mean is None:
            self.mean = np.zeros(self.dim)
        if self.m2 is None:
            self.m2 = np.zeros(self.dim)

    def update(self, feats: np.ndarray) -> None:
        x = np.asarray(feats, dtype=np.float64).reshape(-1, self.dim)
        n = x.shape[0]
        if n == 0:
            return
        mean_b = x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        total = self.count + n
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n / total)
        self.count = total

    @property
    def std(self) -> np.ndarray:
        if self.count == 0:
            return np.ones(self.dim)
        return np.sqrt(self.m2 / self.count)

    def normalise(self, feats: np.ndarray, eps: float = 1e-5) -> np.ndarray:
        return ((feats - self.mean) / (self.std + eps)).astype(np.float32)
