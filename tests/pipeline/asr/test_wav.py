from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from rnnstream.asr.wav import WavError, load_mono_16k, read_wav, resample, wav_duration, write_wav


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
