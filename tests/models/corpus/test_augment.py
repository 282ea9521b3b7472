from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.models.corpus.augment import (
    AugmentConfig,
    add_noise,
    apply_gain,
    apply_rir,
    augment,
    change_tempo,
    synthetic_rir,
)
from rnnstream.errors import ConfigError, RnnstreamError

X = (0.3 * np.sin(np.arange(16000) * 2 * np.pi * 200 / 16000)).astype(np.float32)


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr", [0.0, 10.0, 30.0])
def test_noise_hits_the_requested_snr(colour: str, snr: float) -> None:
    y = add_noise(X, snr, np.random.default_rng(1), colour)  # type: ignore[arg-type]
    noise = y.astype(np.float64) - X
    measured = 10 * np.log10(np.mean(X.astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(measured - snr) < 0.01


def test_pink_noise_has_more_low_frequency_energy_than_white() -> None:
    rng = np.random.default_rng(2)
    silent = np.zeros(16000)
    silent[0] = 1.0  # non-zero power so noise is scaled
    low_share = {}
    for colour in ("white", "pink"):
        n = add_noise(silent, 0.0, rng, colour).astype(np.float64) - silent  # type: ignore[arg-type]
        spec = np.abs(np.fft.rfft(n)) ** 2
        low_share[colour] = spec[:800].sum() / spec.sum()
    assert low_share["pink"] > 2 * low_share["white"]


def test_gain_in_decibels() -> None:
    assert np.allclose(apply_gain(X, 20.0), X * 10.0, atol=1e-6)
    assert np.allclose(apply_gain(X, -6.0206), X * 0.5, atol=1e-5)


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.1, 1.25])
def test_tempo_changes_length(factor: float) -> None:
    y = change_tempo(X, factor)
    assert abs(y.size - X.size / factor) <= X.size * 0.002 + 1
    with pytest.raises(RnnstreamError):
        change_tempo(X, 0.0)


def test_rir_decays_and_keeps_level() -> None:
    h = synthetic_rir(np.random.default_rng(0), 16000, rt60=0.5)
    assert h.size == 8000 and h[0] == 1.0
    first, last = np.sum(h[1:800] ** 2), np.sum(h[-800:] ** 2)
    assert last < first * 1e-3  # roughly 50 dB down over the last tenth
    y = apply_rir(X, h)
    assert y.size == X.size
    assert abs(np.sqrt(np.mean(y**2)) - np.sqrt(np.mean(X**2))) < 1e-4
    assert not np.allclose(y, X, atol=1e-3)
    with pytest.raises(RnnstreamError):
        synthetic_rir(np.random.default_rng(0), 16000, 0.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_augment_is_reproducible_and_never_clips(seed: int) -> None:
    loud = X * 3.0
    y1, p1 = augment(loud, 16000, np.random.default_rng(seed))
    y2, p2 = augment(loud, 16000, np.random.default_rng(seed))
    assert np.array_equal(y1, y2) and p1 == p2
    assert np.max(np.abs(y1)) <= 0.99 + 1e-6
    assert np.all(np.isfinite(y1))


def test_augment_respects_probabilities() -> None:
    off = AugmentConfig(noise_prob=0, gain_prob=0, tempo_prob=0, rir_prob=0)
    y, params = augment(X, 16000, np.random.default_rng(0), off)
    assert np.array_equal(y, X) and params == {}
    on = AugmentConfig(noise_prob=1, gain_prob=1, tempo_prob=1, rir_prob=1)
    _, params = augment(X, 16000, np.random.default_rng(0), on)
    assert {"tempo", "rt60", "snr_db", "noise", "gain_db"} <= set(params)
    with pytest.raises(ConfigError):
        AugmentConfig(noise_prob=2)
    with pytest.raises(ConfigError):
        AugmentConfig(snr_db=(30, 5))
