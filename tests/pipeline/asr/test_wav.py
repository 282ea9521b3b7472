from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from rnnstream.asr.wav import (WavError, audio_duration, load_mono_16k, read_audio, read_wav, resample,
                               wav_duration, write_wav)


def test_round_trip_within_one_quantisation_step(tmp_path: Path) -> None:
    x = np.random.default_rng(0).uniform(-0.999, 0.999, 8000).astype(np.float32)  # clear of clipping
    p = tmp_path / "a.wav"
    write_wav(p, x, 16000)
    with wave.open(str(p)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 16000, 8000)
    y, sr = read_wav(p)
    assert sr == 16000 and y.dtype == np.float32
    assert np.max(np.abs(x - y)) <= 0.5 / 32768 + 1e-7
    assert wav_duration(p) == 0.5
    assert not list(tmp_path.glob(".*tmp"))  # the temporary name is gone


def test_write_clips_and_rejects_bad_input(tmp_path: Path) -> None:
    write_wav(tmp_path / "c.wav", np.array([2.0, -2.0, 0.0]), 8000)
    y, _ = read_wav(tmp_path / "c.wav")
    assert np.allclose(y, [32767 / 32768, -1.0, 0.0])
    with pytest.raises(WavError):
        write_wav(tmp_path / "n.wav", np.array([np.nan]), 8000)
    with pytest.raises(WavError):
        write_wav(tmp_path / "s.wav", np.zeros((2, 2)), 8000)
    with pytest.raises(WavError):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all")
    with pytest.raises(WavError):
        read_wav(tmp_path / "junk.wav")


def test_stereo_and_8_bit_files_are_read_as_mono(tmp_path: Path) -> None:
    left = np.full(100, 1000, dtype="<i2")
    right = np.full(100, -3000, dtype="<i2")
    with wave.open(str(tmp_path / "st.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(np.stack([left, right], axis=1).tobytes())
    y, sr = read_wav(tmp_path / "st.wav")
    assert sr == 22050 and y.shape == (100,) and np.allclose(y, -1000 / 32768)
    with wave.open(str(tmp_path / "u8.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes([128, 192, 64]))
    y, _ = read_wav(tmp_path / "u8.wav")
    assert np.allclose(y, [0.0, 0.5, -0.5])


@pytest.mark.parametrize("sr_from", [8000, 22050, 44100, 48000])
def test_resample_keeps_frequency_and_duration(sr_from: int) -> None:
    t = np.arange(sr_from) / sr_from
    x = np.sin(2 * np.pi * 440.0 * t).astype(np.float32)
    y = resample(x, sr_from, 16000)
    assert y.shape == (16000,)
    spec = np.abs(np.fft.rfft(y))
    assert abs(int(spec.argmax()) - 440) <= 1  # 1 Hz bins for a one-second signal
    with pytest.raises(WavError):
        resample(x, 0, 16000)


def test_load_mono_16k(tmp_path: Path) -> None:
    write_wav(tmp_path / "k.wav", np.zeros(8000), 8000)
    assert load_mono_16k(tmp_path / "k.wav").shape == (16000,)


# -- audio files as users have them: soundfile writes each format, read_audio reads it back ---------

def _signal() -> np.ndarray:
    """One second at 16 kHz: a windowed chirp over a steady tone, well inside every codec's band."""
    t = np.arange(16000) / 16000
    chirp = 0.3 * np.sin(2 * np.pi * (300 + 400 * t) * t) * np.hanning(t.size)
    return (chirp + 0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)


# (format, subtype, suffix, file rate, lossless). Opus only runs at 8/12/16/24/48 kHz; 48 kHz is
# what Opus files in the wild use, and it makes load_mono_16k resample.
FORMATS = [("WAV", "PCM_16", "wav", 16000, True), ("FLAC", "PCM_16", "flac", 16000, True),
           ("OGG", "VORBIS", "ogg", 16000, False), ("OGG", "OPUS", "opus", 48000, False),
           ("MP3", "MPEG_LAYER_III", "mp3", 16000, False)]


@pytest.mark.parametrize("fmt,subtype,suffix,rate,lossless", FORMATS, ids=[f[2] for f in FORMATS])
def test_every_format_reads_back_as_written(tmp_path: Path, fmt, subtype, suffix, rate, lossless) -> None:
    soundfile = pytest.importorskip("soundfile")
    x = _signal()
    path = tmp_path / f"speech.{suffix}"
    soundfile.write(path, resample(x, 16000, rate), rate, format=fmt, subtype=subtype)
    y, sr = read_audio(path)
    assert sr == rate and y.dtype == np.float32 and y.ndim == 1
    z = load_mono_16k(path)
    assert z.dtype == np.float32
    assert audio_duration(path) == pytest.approx(y.size / rate, abs=1e-9)
    if lossless:
        assert z.shape == x.shape
        assert np.max(np.abs(z - x)) <= 1.0 / 32768 + 1e-7  # one 16-bit step: soundfile rounds on write
        return
    # Lossy codecs: the encoder's delay is trimmed on decode (Ogg pre-skip, LAME's gapless header),
    # so the length matches within one codec frame (MP3's 1152 samples is the longest) and the
    # waveform lines up without a shift.
    assert abs(z.size - x.size) <= 1152
    n = min(z.size, x.size)
    corr = float(np.corrcoef(z[:n], x[:n])[0, 1])
    assert corr > 0.9, f"{suffix}: correlation {corr:.3f}"


def test_stereo_files_are_averaged(tmp_path: Path) -> None:
    soundfile = pytest.importorskip("soundfile")
    left, right = _signal(), np.full(16000, -0.25, np.float32)
    soundfile.write(tmp_path / "st.flac", np.stack([left, right], axis=1), 16000, subtype="PCM_16")
    y, sr = read_audio(tmp_path / "st.flac")
    assert sr == 16000 and y.shape == (16000,)
    assert np.max(np.abs(y - (left + right) / 2)) <= 1.0 / 32768 + 1e-7


def test_the_real_speech_fixture_reads(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parents[2] / "data" / "speech" / "118-47824-0030.flac"
    x = load_mono_16k(fixture)
    assert x.size == pytest.approx(2.745 * 16000, abs=160)  # the manifest's seconds
    assert audio_duration(fixture) == pytest.approx(x.size / 16000, abs=1e-9)
    write_wav(tmp_path / "same.wav", x, 16000)
    assert np.max(np.abs(load_mono_16k(tmp_path / "same.wav") - x)) <= 0.5 / 32768 + 1e-7  # 16-bit FLAC


def _corrupt(tmp_path: Path) -> dict[str, Path]:
    """Files a user might hand the recogniser by mistake, each with the reason it must give."""
    soundfile = pytest.importorskip("soundfile")
    good = tmp_path / "good.flac"
    soundfile.write(good, _signal(), 16000, subtype="PCM_16")
    data = good.read_bytes()
    files = {"missing": tmp_path / "missing.flac", "text": tmp_path / "notes.flac",
             "text_mp3": tmp_path / "notes.mp3", "empty": tmp_path / "empty.ogg",
             "truncated": tmp_path / "cut.flac", "garbage_wav": tmp_path / "junk.wav", "folder": tmp_path}
    files["text"].write_text("graham on the other hand was ill at ease\n" * 20)
    files["text_mp3"].write_text("not an mp3 at all\n")
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["garbage_wav"].write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    return files


WHY = {"missing": "No such file", "text": "not an audio format", "text_mp3": "not an audio format",
       "empty": "empty", "truncated": "corrupt or truncated", "garbage_wav": "No 'data' chunk", "folder": "directory"}


@pytest.mark.parametrize("case", list(WHY))
def test_unreadable_files_raise_one_line_naming_the_path(tmp_path: Path, capfd, case: str) -> None:
    path = _corrupt(tmp_path)[case]
    # audio_duration reads only the header, which a truncated file still has whole.
    readers = (read_audio, load_mono_16k) + ((audio_duration,) if case != "truncated" else ())
    for reader in readers:
        with pytest.raises(WavError) as err:
            reader(path)
        msg = str(err.value)
        assert msg.startswith(f"cannot read audio {path}: ") and WHY[case] in msg, msg
        assert "\n" not in msg and "Error opening" not in msg, msg  # libsndfile's wording is not repeated
    assert capfd.readouterr().err == ""  # nothing on stderr from the C decoders either


def test_a_wav_libsndfile_refuses_falls_back_to_the_stdlib_reader(tmp_path: Path, monkeypatch) -> None:
    # No WAV the stdlib reads was found that libsndfile 1.2 refuses, so make it refuse: the
    # fallback is there for builds of libsndfile that lack a WAV variant.
    soundfile = pytest.importorskip("soundfile")

    def refuse(*args, **kw):
        raise soundfile.LibsndfileError(1, prefix=f"Error opening {str(args[0])!r}: ")

    monkeypatch.setattr(soundfile, "read", refuse)
    monkeypatch.setattr(soundfile, "info", refuse)
    x = _signal()
    write_wav(tmp_path / "a.wav", x, 16000)
    y, sr = read_audio(tmp_path / "a.wav")
    assert sr == 16000 and np.max(np.abs(y - x)) <= 0.5 / 32768 + 1e-7
    assert audio_duration(tmp_path / "a.wav") == 1.0
    (tmp_path / "a.flac").write_bytes((tmp_path / "a.wav").read_bytes()[:12] + b"junk")
    with pytest.raises(WavError, match="cannot read audio"):
        read_audio(tmp_path / "a.flac")  # the stdlib reader could not read it either: libsndfile's reason
