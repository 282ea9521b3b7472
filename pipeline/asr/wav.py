"""Audio files in (WAV, FLAC, Ogg/Opus, MP3 through soundfile), 16-bit WAV out, resampling.

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

__all__ = ["WavError", "read_audio", "audio_duration", "read_wav", "write_wav", "resample", "load_mono_16k",
           "wav_duration"]

_PCM16_SCALE = 32768.0
_NOT_AUDIO = "not an audio format this reads (WAV, FLAC, Ogg Vorbis/Opus, MP3)"
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


class WavError(RnnstreamError):
    """An audio file is missing, unreadable or undecodable, or a sample array is unusable."""


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


def _check_file(path: str | os.PathLike[str]) -> bytes:
    """The first 12 bytes of ``path``, or a WavError that says plainly why it cannot be read.

    libsndfile reports a missing, unreadable or empty file as "System error." or "not a regular
    file (possibly a pipe?)", so the file is opened here first to name the real cause.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        raise WavError(f"cannot read audio {path}: {exc.strerror or exc}") from exc
    if not head:
        raise WavError(f"cannot read audio {path}: the file is empty")
    if str(path).lower().endswith(".mp3") and all(c in _TEXT_BYTES for c in head):
        # libsndfile hands a file named .mp3 that it cannot place to libmpg123, which prints
        # "Note: Illegal Audio-MPEG-Header" lines on stderr; text is refused before that.
        raise WavError(f"cannot read audio {path}: {_NOT_AUDIO}")
    return head


def _is_wav(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def _reason(exc: Exception, path: str | os.PathLike[str]) -> str:
    """Why libsndfile failed, in words for the user (the caller names the file)."""
    text = str(exc).strip()
    prefix = f"Error opening {str(path)!r}: "
    if not text.startswith(prefix):
        # It opened the file and failed while decoding: the data is damaged or cut short.
        return f"corrupt or truncated audio data ({text.removeprefix('Error : ').rstrip('.')})"
    text = text[len(prefix):]
    if "not a regular file" in text or "Format not recognised" in text:
        # A regular non-empty file (checked before) that no decoder claims: say what is accepted.
        return _NOT_AUDIO
    return text.rstrip(".")


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read WAV, FLAC, Ogg (Vorbis or Opus) or MP3 as mono float32 in [-1, 1] and its rate.

    libsndfile (through soundfile) decodes every format; the stdlib reader stays for WAV
    variants libsndfile refuses, so nothing that read before stops reading. Every failure
    is one :class:`WavError` line, "cannot read audio PATH: why".

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "notes.flac")
    >>> _ = open(p, "w").write("not audio")
    >>> try:
    ...     read_audio(p)
    ... except WavError as exc:
    ...     print(exc)
    cannot read audio ...notes.flac: not an audio format this reads (WAV, FLAC, Ogg Vorbis/Opus, MP3)
    """
    import soundfile

    head = _check_file(path)
    try:
        data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError, TypeError, ValueError, OSError) as exc:
        if _is_wav(head):
            try:
                return read_wav(path)
            except WavError:
                pass  # libsndfile's reason is the one to show: it understood more of the file
        raise WavError(f"cannot read audio {path}: {_reason(exc, path)}") from exc
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), int(sr)


def audio_duration(path: str | os.PathLike[str]) -> float:
    """Duration in seconds of any file :func:`read_audio` reads, from its header where it has one.

    MP3 has no exact length in its header; libsndfile's figure can be a frame off.
    """
    import soundfile

    head = _check_file(path)
    try:
        info = soundfile.info(str(path))
    except (soundfile.SoundFileError, RuntimeError, TypeError, ValueError, OSError) as exc:
        if _is_wav(head):
            try:
                return wav_duration(path)
            except WavError:
                pass  # as in read_audio: libsndfile's reason is the better one
        raise WavError(f"cannot read audio {path}: {_reason(exc, path)}") from exc
    if info.samplerate <= 0:
        raise WavError(f"cannot read audio {path}: sample rate {info.samplerate}")
    return info.frames / float(info.samplerate)


def load_mono_16k(path: str | os.PathLike[str], sample_rate: int = 16000) -> np.ndarray:
    """Read any audio file :func:`read_audio` knows as mono float32 at ``sample_rate``."""
    x, sr = read_audio(path)
    return resample(x, sr, sample_rate)


def wav_duration(path: str | os.PathLike[str]) -> float:
    """Duration in seconds of a PCM WAV from its header (stdlib only); :func:`audio_duration` reads every format."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError, OSError) as exc:
        raise WavError(f"cannot read WAV {path}: {exc}") from exc
