"""Waveform augmentation in numpy: additive noise, gain, tempo, synthetic reverb.

Every random choice is drawn from the generator passed in, so an augmented
utterance is reproducible from its seed (the corpus builder relies on that to
resume without redoing work).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.sin(np.arange(16000) * 0.05).astype(np.float32) * 0.3
>>> y = add_noise(x, 10.0, rng)
>>> round(float(10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))), 1)
10.0
>>> change_tempo(x, 1.25).shape
(12800,)
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from rnnstream.errors import ConfigError, RnnstreamError

__all__ = [
    "AugmentConfig",
    "add_noise",
    "apply_gain",
    "change_tempo",
    "synthetic_rir",
    "apply_rir",
    "augment",
]

NoiseColour = Literal["white", "pink", "brown"]


class AugmentConfig(BaseModel):
    """Probabilities and ranges for :func:`augment` (ranges are ``(low, high)``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    noise_prob: float = 0.6
    snr_db: tuple[float, float] = (5.0, 30.0)
    gain_prob: float = 0.8
    gain_db: tuple[float, float] = (-12.0, 4.0)
    tempo_prob: float = 0.5
    tempo: tuple[float, float] = (0.9, 1.1)
    rir_prob: float = 0.3
    rt60: tuple[float, float] = (0.15, 0.6)

    @model_validator(mode="after")
    def _check(self) -> "AugmentConfig":
        for name in ("noise_prob", "gain_prob", "tempo_prob", "rir_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"augment {name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("snr_db", "gain_db", "tempo", "rt60"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ConfigError(f"augment {name} range is reversed: {lo} > {hi}")
        if self.tempo[0] <= 0 or self.rt60[0] <= 0:
            raise ConfigError("augment tempo and rt60 ranges must be positive")
        return self


def _noise(n: int, rng: np.random.Generator, colour: NoiseColour) -> np.ndarray:
    white = rng.standard_normal(n)
    if colour == "white" or n < 2:
        return white
    spec = np.fft.rfft(white)
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    # Power falls as 1/f (pink) or 1/f^2 (brown): amplitude as its square root.
    spec /= np.sqrt(f) if colour == "pink" else f
    return np.fft.irfft(spec, n=n)


def add_noise(
    x: np.ndarray, snr_db: float, rng: np.random.Generator, colour: NoiseColour = "white"
) -> np.ndarray:
    """Add noise scaled so the signal-to-noise ratio is exactly ``snr_db``."""
    s = np.asarray(x, dtype=np.float64)
    if s.size == 0:
        return s.astype(np.float32)
    noise = _noise(s.size, rng, colour)
    p_sig = np.mean(s**2)
    p_noise = np.mean(noise**2)
    if p_sig == 0.0 or p_noise == 0.0:
        return s.astype(np.float32)
    noise *= np.sqrt(p_sig / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (s + noise).astype(np.float32)


def apply_gain(x: np.ndarray, gain_db: float) -> np.ndarray:
    return (np.asarray(x, dtype=np.float64) * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def change_tempo(x: np.ndarray, factor: float) -> np.ndarray:
    """Speed perturbation by resampling: ``factor`` 1.1 plays 10 % faster (and higher).

    The output has ``round(len(x) / factor)`` samples up to the rational approximation
    of ``factor`` (denominator at most 100).
    """
    from scipy.signal import resample_poly

    if factor <= 0:
        raise RnnstreamError(f"tempo factor must be > 0, got {factor}")
    frac = Fraction(1.0 / factor).limit_denominator(100)
    if frac == 1:
        return np.asarray(x, dtype=np.float32).copy()
    return resample_poly(np.asarray(x, dtype=np.float64), frac.numerator, frac.denominator).astype(np.float32)


def synthetic_rir(rng: np.random.Generator, sample_rate: int, rt60: float) -> np.ndarray:
    """A crude room response: a unit direct path then exponentially decaying noise.

    The tail decays by 60 dB after ``rt60`` seconds and is cut there.
    """
    if rt60 <= 0:
        raise RnnstreamError(f"rt60 must be > 0 seconds, got {rt60}")
    n = max(2, int(rt60 * sample_rate))
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-3.0 * np.log(10.0) * t / rt60)
    delay = int(rng.integers(int(0.002 * sample_rate), int(0.01 * sample_rate) + 1))
    tail[: min(delay, n)] = 0.0
    tail *= 0.3 / max(np.sqrt(np.sum(tail**2)), 1e-12)
    tail[0] = 1.0
    return tail


def apply_rir(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with ``rir``, keep the original length and RMS level."""
    from scipy.signal import fftconvolve

    s = np.asarray(x, dtype=np.float64)
    if s.size == 0:
        return s.astype(np.float32)
    y = fftconvolve(s, np.asarray(rir, dtype=np.float64))[: s.size]
    rms_in, rms_out = np.sqrt(np.mean(s**2)), np.sqrt(np.mean(y**2))
    if rms_out > 0:
        y *= rms_in / rms_out
    return y.astype(np.float32)


def augment(
    x: np.ndarray, sample_rate: int, rng: np.random.Generator, config: AugmentConfig | None = None
) -> tuple[np.ndarray, dict[str, float | str]]:
    """Apply a random subset of tempo, reverb, noise and gain; returns ``(y, params)``.

    ``params`` records what was applied (for the manifest).  The result is scaled
    down if needed so it never clips.
    """
    cfg = config or AugmentConfig()
    y = np.asarray(x, dtype=np.float32)
    params: dict[str, float | str] = {}
    if rng.random() < cfg.tempo_prob:
        factor = float(rng.uniform(*cfg.tempo))
        y = change_tempo(y, factor)
        params["tempo"] = round(factor, 4)
    if rng.random() < cfg.rir_prob:
        rt60 = float(rng.uniform(*cfg.rt60))
        y = apply_rir(y, synthetic_rir(rng, sample_rate, rt60))
        params["rt60"] = round(rt60, 4)
    if rng.random() < cfg.noise_prob:
        snr = float(rng.uniform(*cfg.snr_db))
        colour: NoiseColour = ("white", "pink", "brown")[int(rng.integers(3))]  # type: ignore[assignment]
        y = add_noise(y, snr, rng, colour)
        params["snr_db"] = round(snr, 3)
        params["noise"] = colour
    if rng.random() < cfg.gain_prob:
        gain = float(rng.uniform(*cfg.gain_db))
        y = apply_gain(y, gain)
        params["gain_db"] = round(gain, 3)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.99:
        y = (y * (0.99 / peak)).astype(np.float32)
        params["limited"] = round(peak, 4)
    return y, params
