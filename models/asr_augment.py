"""Training-time augmentation of log-mel frames: vocal-tract warp, band limit, masks.

The corpus can only offer the handful of synthesiser voices it is allowed to train on,
so the trainer fakes more speakers and channels on the cached features, where it costs
almost nothing:

* **warp** scales every frequency by ``alpha`` (formants and pitch move together, as
  between a longer and a shorter vocal tract);
* **band limit** flattens the bins above a random 3.4-4.2 kHz cut-off to a low level,
  as in audio that was synthesised or sent at 8 kHz;
* **masks** blank random bands and spans (SpecAugment style).

>>> import numpy as np
>>> f = np.tile(np.linspace(-5, 5, 80, dtype=np.float32), (30, 1))
>>> centres = mel_centres(16000, 80, 20.0, 8000.0)
>>> w = warp_frames(f, 1.0, centres)
>>> bool(np.allclose(w, f))
True
>>> up = warp_frames(f, 1.2, centres)   # content moves to higher bins
>>> bool(up[0, 40] < f[0, 40])
True
>>> b = band_limit(f, 4000.0, -14.0, centres, np.random.default_rng(0))
>>> bool((b[:, centres > 4000.0] < -12).all() and np.array_equal(b[:, centres < 3000], f[:, centres < 3000]))
True
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rnnstream.asr.features import hz_to_mel, mel_to_hz

__all__ = ["FeatureAugment", "mel_centres", "warp_frames", "band_limit", "augment_frames"]


class FeatureAugment(BaseModel):
    """Probabilities and ranges of the feature augmentations (ranges are ``(low, high)``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    warp_prob: float = Field(0.8, ge=0, le=1)
    warp: tuple[float, float] = (0.85, 1.2)
    band_limit_prob: float = Field(0.15, ge=0, le=1)
    freq_masks: int = Field(2, ge=0)
    time_masks: int = Field(2, ge=0)


def mel_centres(sample_rate: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Centre frequency (Hz) of each triangular mel filter."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))[1:-1]


def warp_frames(frames: np.ndarray, alpha: float, centres: np.ndarray) -> np.ndarray:
    """Frames as if every frequency were multiplied by ``alpha`` (interpolated between bins)."""
    mels = hz_to_mel(centres)
    src = np.interp(hz_to_mel(centres / alpha), mels, np.arange(centres.size, dtype=np.float64))
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, centres.size - 1)
    w = (src - lo).astype(np.float32)
    return (frames[:, lo] * (1 - w) + frames[:, hi] * w).astype(np.float32)


def band_limit(frames: np.ndarray, cutoff_hz: float, level: float, centres: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """Bins above ``cutoff_hz`` become ``level`` plus a little noise (never louder than before)."""
    out = frames.copy()
    high = centres > cutoff_hz
    noise = level + 0.5 * rng.standard_normal((frames.shape[0], int(high.sum()))).astype(np.float32)
    out[:, high] = np.minimum(out[:, high], noise)
    return out


def augment_frames(frames: np.ndarray, rng: np.random.Generator, cfg: FeatureAugment, centres: np.ndarray,
                   fill: np.ndarray) -> np.ndarray:
    """One utterance's raw log-mel, augmented; masks are filled with ``fill`` (the corpus mean)."""
    f = frames
    if rng.random() < cfg.warp_prob:
        f = warp_frames(f, float(rng.uniform(*cfg.warp)), centres)
    if rng.random() < cfg.band_limit_prob:
        f = band_limit(f, float(rng.uniform(3400.0, 4200.0)), float(rng.uniform(-17.0, -11.0)), centres, rng)
    f = f.copy() if f is frames else f
    n_t, n_f = f.shape
    for _ in range(cfg.freq_masks):
        w = int(rng.integers(0, 10))
        s = int(rng.integers(0, max(1, n_f - w)))
        f[:, s : s + w] = fill[s : s + w]
    for _ in range(cfg.time_masks):
        tw = int(rng.integers(0, min(20, max(1, n_t // 8))))
        ts = int(rng.integers(0, max(1, n_t - tw)))
        f[ts : ts + tw] = fill
    return f
