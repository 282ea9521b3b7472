from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.asr.features import (
    FeatureStats,
    LogMel,
    LogMelConfig,
    hz_to_mel,
    mel_to_hz,
    num_frames,
    stream_frames,
    stream_frames_batch,
)
from rnnstream.errors import ConfigError, RnnstreamError

MEL = LogMel()


def test_defaults_are_25ms_10ms_80_bins() -> None:
    c = MEL.config
    assert (c.sample_rate, c.win, c.hop, c.n_mels, c.n_fft) == (16000, 400, 160, 80, 512)
    # One second at 16 kHz: frames start every 160 samples while 400 still fit.
    assert num_frames(16000, 400, 160) == 98
    assert num_frames(399, 400, 160) == 0
    assert num_frames(400, 400, 160) == 1
    assert MEL.whole(np.zeros(399)).shape == (0, 80)


def test_htk_mel_scale_fixed_points() -> None:
    # The HTK scale is built so that 1000 Hz is (almost exactly) 1000 mel.
    assert abs(float(hz_to_mel(1000.0)) - 1000.0) < 0.1
    f = np.array([0.0, 300.0, 4000.0, 8000.0])
    assert np.allclose(mel_to_hz(hz_to_mel(f)), f)


def test_filterbank_triangles_cover_the_band() -> None:
    fb = MEL.filterbank
    assert fb.shape == (80, 257)
    assert (fb >= 0).all() and (fb <= 1 + 1e-12).all()
    peaks = fb.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all()  # filters ordered by frequency
    assert (fb.sum(axis=1) > 0).all()


@pytest.mark.parametrize("freq", [250.0, 1000.0, 3000.0, 6000.0])
def test_sine_lights_up_the_filter_at_its_frequency(freq: float) -> None:
    t = np.arange(16000) / 16000
    feats = MEL.whole(np.sin(2 * np.pi * freq * t).astype(np.float32))
    centres = mel_to_hz(np.linspace(hz_to_mel(20.0), hz_to_mel(8000.0), 82))[1:-1]
    best = int(np.median(feats.argmax(axis=1)))
    # The loudest filter is the one centred nearest the tone (or its neighbour).
    assert abs(best - int(np.abs(centres - freq).argmin())) <= 1


def test_silence_hits_the_log_floor() -> None:
    feats = MEL.whole(np.zeros(1600))
    assert np.allclose(feats, np.log(1e-10), atol=1e-4)


def test_louder_signal_raises_log_energy_by_the_gain() -> None:
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1
    # Power scales with the square of amplitude: x2 -> +ln(4) in every bin.
    diff = MEL.whole(2 * x) - MEL.whole(x)
    assert np.allclose(diff, np.log(4.0), atol=1e-4)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 3000),
    cuts=st.lists(st.integers(0, 700), min_size=0, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_chunked_equals_whole(n: int, cuts: list[int], seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    s = MEL.stream()
    out, pos = [], 0
    for c in cuts:  # includes empty chunks and chunks shorter than a hop
        out.append(s.push(x[pos : pos + c]))
        pos = min(n, pos + c)
    out.append(s.push(x[pos:]))
    chunked = np.concatenate(out)
    whole = MEL.whole(x)
    assert chunked.shape == whole.shape
    assert np.max(np.abs(chunked - whole), initial=0.0) <= 1e-6
    assert s.n_left < MEL.win and s.frames_emitted == whole.shape[0]


def test_stream_frames_is_pure() -> None:
    left = np.arange(400, dtype=np.float32)
    keep = left.copy()
    _, new_left, n = stream_frames(MEL, left, 100, np.ones(250, dtype=np.float32))
    assert np.array_equal(left, keep)
    assert n == 350 and new_left.shape == (400,)
    with pytest.raises(RnnstreamError):
        stream_frames(MEL, left, 400, np.ones(3))


@settings(max_examples=40, deadline=None)
@given(
    b=st.integers(1, 5),
    l_max=st.integers(0, 900),
    seed=st.integers(0, 2**16),
)
def test_batch_step_equals_single_stream_steps(b: int, l_max: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    leftover = rng.standard_normal((b, 400)).astype(np.float32)
    n_left = rng.integers(0, 400, size=b)
    chunks = rng.standard_normal((b, l_max)).astype(np.float32)
    lengths = rng.integers(0, l_max + 1, size=b)
    feats, nf, new_left, new_n = stream_frames_batch(MEL, leftover, n_left, chunks, lengths)
    for i in range(b):
        f1, l1, n1 = stream_frames(MEL, leftover[i], int(n_left[i]), chunks[i, : lengths[i]])
        assert nf[i] == f1.shape[0]
        assert np.allclose(feats[i, : nf[i]], f1, atol=1e-6)
        assert not feats[i, nf[i] :].any()
        assert new_n[i] == n1
        assert np.array_equal(new_left[i, :n1], l1[:n1])


def test_batch_streams_over_many_steps_match_whole() -> None:
    rng = np.random.default_rng(3)
    sigs = [rng.standard_normal(int(n)).astype(np.float32) for n in (5000, 3100, 0, 777)]
    left, nl = MEL.empty_state(len(sigs))
    outs: list[list[np.ndarray]] = [[] for _ in sigs]
    pos = np.zeros(len(sigs), dtype=int)
    while any(p < s.size for p, s in zip(pos, sigs)):
        step = int(rng.integers(1, 1200))
        chunks = np.zeros((len(sigs), step), dtype=np.float32)
        lens = np.zeros(len(sigs), dtype=int)
        for i, s in enumerate(sigs):
            piece = s[pos[i] : pos[i] + step]
            chunks[i, : piece.size] = piece
            lens[i] = piece.size
            pos[i] += piece.size
        feats, nf, left, nl = stream_frames_batch(MEL, left, nl, chunks, lens)
        for i in range(len(sigs)):
            outs[i].append(feats[i, : nf[i]])
    for i, s in enumerate(sigs):
        assert np.allclose(np.concatenate(outs[i]), MEL.whole(s), atol=1e-6)


def test_config_validation_raises_config_error() -> None:
    with pytest.raises(ConfigError):
        LogMelConfig(hop=500)
    with pytest.raises(ConfigError):
        LogMelConfig(n_fft=256)
    with pytest.raises(ConfigError):
        LogMelConfig(fmax=9000.0)
    with pytest.raises(ConfigError):
        LogMel(n_mels=0)
    assert LogMel(n_mels=40).whole(np.ones(800)).shape == (3, 40)


def test_feature_stats_match_numpy() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(-4.0, 3.0, size=(3000, 80))
    st_ = FeatureStats(80)
    for part in np.array_split(x, 7):
        st_.update(part)
    assert st_.count == 3000
    assert np.allclose(st_.mean, x.mean(axis=0)) and np.allclose(st_.std, x.std(axis=0))
    z = st_.normalise(x)
    assert np.allclose(z.mean(axis=0), 0, atol=1e-5) and np.allclose(z.std(axis=0), 1, atol=1e-3)
