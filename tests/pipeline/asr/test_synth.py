from __future__ import annotations

import shutil

import numpy as np
import pytest

from rnnstream.asr import voices as vmod
from rnnstream.asr.features import LogMel
from rnnstream.asr.synth import SynthError, SynthParams, random_params, synth_command, synthesize
from rnnstream.asr.voices import Voice

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")


def test_commands_carry_the_prosody() -> None:
    p = SynthParams(rate=150, pitch=30, gap=2, stretch=1.1, f0=120.0)
    e = synth_command(Voice("espeak-ng", "en+f2"), "hi there", "/x/o.wav", p)
    assert e[:3] == ["espeak-ng", "-v", "en+f2"] and "-s" in e and e[e.index("-s") + 1] == "150"
    assert e[e.index("-g") + 1] == "2" and e[-1] == "hi there"
    f = synth_command(Voice("flite", "awb"), "hi", "/x/o.wav", p)
    assert f[:3] == ["flite", "-voice", "awb"] and "duration_stretch=1.1" in f
    t = synth_command(Voice("festival", "ked_diphone"), "hi", "/x/o.wav", p)
    assert t[0] == "text2wave" and "voice_ked_diphone" in t[2] and t[-1] == "/x/o.txt"


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
