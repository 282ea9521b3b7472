"""16-bit PCM WAV input/output on the stdlib :mod:`wave` module, plus resampling.

Samples travel through the library as float32 in [-1, 1]; 16-bit PCM is only the
on-disk form, so a write/read round trip loses at most half a quantisation step.

>>> import numpy as np, tempfile, os
>>> x = np.sin(np.linspace(0, 20, 1600)).astype(np.float32) * 0.5
>>> p = os.path.join(tempfile.mkdtemp(), "a.wav")
>>> write_wav(p, x, 16000)
>>> y, sr = read_wav(p)
>>> sr, y.shape, bool(np.max(np.abs(x - y)) < 1e-4)
(16000, (1600,), True)
>>> resample(x, 16000, 8000).shape
(800,)
"""

from __future__ import annotations

import os
import wave
from math import gcd
from pathlib import Path

import numpy as np

from rnnstream.errors import RnnstreamError

__all__ = ["WavError", "read_wav", "write_wav", "resample", "load_mono_16k", "wav_duration"]

_PCM16_SCALE = 32768.0


class WavError(RnnstreamError):
    """A WAV file is unreadable, not PCM, or a sample array is unusable."""


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file as mono float32 in [-1, 1] and its sample rate.

    Multi-channel files are averaged to mono, because every consumer here is mono.
    8-, 16-, 24- and 32-bit integer PCM are accepted.
    """
    try:
        with wave.open(str(path), "rb") as w:
            n_ch, width, sr, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError, OSError) as exc:
        raise WavError(f"cannot read WAV {path}: {exc}") from exc
    if width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / _PCM16_SCALE
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        data = v.astype(np.float32) / float(1 << 23)
    elif width == 4:
        data = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    else:
        raise WavError(f"unsupported sample width {width} bytes in {path}")
    usable = (data.size // n_ch) * n_ch
    data = data[:usable].reshape(-1, n_ch)
    mono = data[:, 0] if n_ch == 1 else data.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), int(sr)


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int) -> None:
    """Write mono float samples as 16-bit PCM, clipping to [-1, 1].

    The file is written to a sibling temporary name and renamed, so a reader never
    sees a half-written WAV (the corpus builder's resume logic relies on that).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise WavError(f"write_wav wants a 1-D mono array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise WavError("write_wav got non-finite samples")
    if sample_rate <= 0:
        raise WavError(f"sample_rate must be positive, got {sample_rate}")
    pcm = np.clip(np.round(x * _PCM16_SCALE), -32768, 32767).astype("<i2")
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm.tobytes())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def resample(samples: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Polyphase resampling from ``sr_from`` to ``sr_to`` (float32 out).

    The output length is ``ceil(len * sr_to / sr_from)`` as scipy defines it.
    """
    from scipy.signal import resample_poly

    if sr_from <= 0 or sr_to <= 0:
        raise WavError(f"sample rates must be positive, got {sr_from} -> {sr_to}")
    x = np.asarray(samples, dtype=np.float32)
    if sr_from == sr_to or x.size == 0:
        return x.copy()
    g = gcd(int(sr_from), int(sr_to))
    return resample_poly(x, int(sr_to) // g, int(sr_from) // g).astype(np.float32)


def load_mono_16k(path: str | os.PathLike[str], sample_rate: int = 16000) -> np.ndarray:
    """Read any PCM WAV and return it as mono float32 at ``sample_rate``."""
    x, sr = read_wav(path)
    return resample(x, sr, sample_rate)


def wav_duration(path: str | os.PathLike[str]) -> float:
    """Duration in seconds from the header alone (cheap: no sample decoding)."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError, OSError) as exc:
        raise WavError(f"cannot read WAV {path}: {exc}") from exc
