from __future__ import annotations

import shutil

import numpy as np
import pytest

from rnnstream.models.corpus import voices as vmod
from rnnstream.asr.features import LogMel
from rnnstream.models.corpus.synth import SynthError, SynthParams, random_params, synth_command, synthesize
from rnnstream.models.corpus.voices import Voice

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
needs_festival = pytest.mark.skipif(shutil.which("text2wave") is None, reason="festival is not installed")


def median_pitch(x: np.ndarray, sr: int = 16000) -> float:
    """Median autocorrelation pitch (Hz) over the louder 40 ms frames, 60-400 Hz."""
    n = int(0.04 * sr)
    lo, hi = sr // 400, sr // 60
    out = []
    for i in range(0, x.size - n, n):
        s = x[i : i + n].astype(np.float64)
        if np.abs(s).mean() < 0.05 * np.abs(x).max():
            continue
        ac = np.correlate(s, s, "full")[n - 1 :]
        out.append(sr / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(out))


def test_commands_carry_the_prosody() -> None:
    p = SynthParams(rate=150, pitch=30, gap=2, stretch=1.1, f0=120.0)
    e = synth_command(Voice("espeak-ng", "en+f2"), "hi there", "/x/o.wav", p)
    assert e[:3] == ["espeak-ng", "-v", "en+f2"] and "-s" in e and e[e.index("-s") + 1] == "150"
    assert e[e.index("-g") + 1] == "2" and e[-1] == "hi there"
    f = synth_command(Voice("flite", "awb"), "hi", "/x/o.wav", p)
    assert f[:3] == ["flite", "-voice", "awb"] and "duration_stretch=1.1" in f
    t = synth_command(Voice("festival", "ked_diphone"), "hi", "/x/o.wav", p)
    assert t[0] == "text2wave" and "voice_ked_diphone" in t[2] and t[-1] == "/x/o.txt"


def test_pitch_settings_only_with_a_spread() -> None:
    old = SynthParams(f0=120.0)
    assert not any("int_lr_params" in a for a in synth_command(Voice("festival", "ked_diphone"), "hi", "/o.wav", old))
    assert not any("stddev" in a for a in synth_command(Voice("flite", "awb"), "hi", "/o.wav", old))
    assert "f0_std" not in old.as_dict()  # manifests of older builds keep their shape
    new = SynthParams(f0=210.0, f0_std=20.0)
    t = synth_command(Voice("festival", "ked_diphone"), "hi", "/o.wav", new)
    assert "(target_f0_mean 210.0) (target_f0_std 20.0)" in t[2]
    f = synth_command(Voice("flite", "awb"), "hi", "/o.wav", new)
    assert "int_f0_target_mean=210.0" in f and "int_f0_target_stddev=20.0" in f


def test_f0_range_covers_flite_and_festival_but_not_espeak() -> None:
    rng = np.random.default_rng(3)
    for v in (Voice("flite", "awb"), Voice("festival", "ked_diphone")):
        draws = [random_params(v, rng, (80.0, 250.0)) for _ in range(300)]
        f0 = np.array([p.f0 for p in draws])
        assert f0.min() >= 80 and f0.max() <= 250 and f0.min() < 100 and f0.max() > 220
        assert all(0.05 * p.f0 <= p.f0_std <= 0.21 * p.f0 for p in draws)
    e = random_params(Voice("espeak-ng", "en-us+m3"), np.random.default_rng(1), (80.0, 250.0))
    assert e == random_params(Voice("espeak-ng", "en-us+m3"), np.random.default_rng(1))
    # Without a range the draw is the one older corpora were built with.
    a, b = (random_params(Voice("flite", "awb"), np.random.default_rng(9), r) for r in (None, (80.0, 250.0)))
    assert (a.rate, a.pitch, a.gap, a.stretch) == (b.rate, b.pitch, b.gap, b.stretch) and a.f0_std is None


@pytest.mark.parametrize("voice", [pytest.param(Voice("flite", "awb"), marks=needs_flite),
                                   pytest.param(Voice("festival", "ked_diphone"), marks=needs_festival)])
def test_f0_moves_the_pitch_of_male_voices(voice: Voice) -> None:
    text = "the quick brown fox jumps over the lazy dog"
    low = median_pitch(synthesize(voice, text, SynthParams(f0=100.0, f0_std=10.0)))
    high = median_pitch(synthesize(voice, text, SynthParams(f0=210.0, f0_std=10.0)))
    assert 80 < low < 130 and 170 < high < 250


def test_random_params_stay_in_range() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = random_params(Voice("espeak-ng", "en-us+f3"), rng)
        assert 130 <= p.rate <= 200 and 25 <= p.pitch <= 75 and 0 <= p.gap <= 3
        assert 0.85 <= p.stretch <= 1.2 and 170 <= p.f0 <= 230


@needs_espeak
def test_espeak_renders_16k_speech() -> None:
    x = synthesize(Voice("espeak-ng", "en-us+m3"), "turn on the kitchen light", SynthParams(rate=170))
    assert x.dtype == np.float32 and 0.8 < x.size / 16000 < 4.0
    assert np.max(np.abs(x)) > 0.05
    # Slower speech is longer.
    slow = synthesize(Voice("espeak-ng", "en-us+m3"), "turn on the kitchen light", SynthParams(rate=100))
    assert slow.size > 1.3 * x.size
    assert LogMel().whole(x).shape[1] == 80


@needs_flite
def test_flite_8k_voice_is_resampled() -> None:
    x = synthesize(Voice("flite", "kal"), "hello world", SynthParams())
    x16 = synthesize(Voice("flite", "kal16"), "hello world", SynthParams())
    # kal speaks at 8 kHz, kal16 at 16 kHz: after resampling the durations agree.
    assert abs(x.size - x16.size) < 0.05 * x16.size


def test_failures_raise_synth_error(monkeypatch) -> None:
    with pytest.raises(SynthError):
        synthesize(Voice("espeak-ng", "en"), "   ", SynthParams())
    monkeypatch.setitem(vmod.ENGINE_BINARIES, "flite", "no-such-tts-bin")
    with pytest.raises(SynthError):
        synthesize(Voice("flite", "awb"), "hello", SynthParams())
