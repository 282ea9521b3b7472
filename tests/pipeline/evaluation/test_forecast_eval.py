"""Forecast evaluation: MASE, coverage and the baselines, on series with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.errors import ConfigError
from rnnstream.evaluation.forecast import evaluate_forecaster, evaluate_series, scaled_errors, season_length

FEATURES = {"value_dim": 1, "horizon": 3, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01}


def oracle(x: np.ndarray, horizon: int, spread: float = 0.0):
    """Quantiles that know the future: row t holds x[t+1..t+H] (edges padded)."""
    t_len = x.size
    idx = np.clip(np.arange(t_len)[:, None] + np.arange(1, horizon + 1)[None, :], 0, t_len - 1)
    mid = x[idx]
    return mid - spread, mid, mid + spread


def test_season_length_is_steps_per_day():
    five_min = np.arange(0, 60, 5).astype("datetime64[m]")
    hourly = np.arange(10).astype("datetime64[h]")
    daily = np.arange(10).astype("datetime64[D]")
    assert season_length(five_min) == 288 and season_length(hourly) == 24
    assert season_length(daily, default=7) == 7
    assert season_length(np.arange(10) * 1800.0) == 48  # float seconds


def test_scale_is_the_in_sample_mean_absolute_step():
    assert scaled_errors(np.array([0.0, 2.0, 1.0, 100.0]), 3) == pytest.approx(1.5)
    assert scaled_errors(np.ones(10), 8) == 0.0


def test_a_perfect_forecaster_scores_zero_mase_and_full_coverage():
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(size=400))
    row = evaluate_series(x, *oracle(x, 4, 0.5), season=24)
    assert row["model"]["mase"] == 0.0 and row["model"]["coverage80"] == 1.0
    assert row["naive"]["mase"] > 0.5


def test_seasonal_naive_is_exact_on_a_purely_periodic_series():
    x = np.tile(np.array([0.0, 5.0, 1.0, 7.0, 2.0, 3.0]), 60)
    lo, mid, hi = oracle(x + 1.0, 5)  # a model that is always off by one
    row = evaluate_series(x, lo, mid, hi, season=6)
    assert row["seasonal_naive"]["mase"] == pytest.approx(0.0)
    assert row["naive"]["mase"] > 0.5
    assert row["model"]["mase"] == pytest.approx(1.0 / scaled_errors(x, int(round(x.size * 0.8))))
    assert row["model"]["coverage80"] == 0.0


def test_baseline_intervals_cover_about_80_percent_on_stationary_noise():
    rng = np.random.default_rng(7)
    x = rng.normal(size=20000)
    row = evaluate_series(x, *oracle(x, 2), season=10)
    for name in ("naive", "seasonal_naive"):
        assert 0.77 < row[name]["coverage80"] < 0.83


def test_short_or_flat_series_are_not_scored():
    assert evaluate_series(np.arange(10.0), *oracle(np.arange(10.0), 3), season=24) is None
    flat = np.ones(500)
    assert evaluate_series(flat, *oracle(flat, 3), season=24) is None


def test_end_to_end_through_the_runtime_forecaster(model_factory):
    from rnnstream.operators.forecast import ForecastOperator
    from rnnstream.engine.session import load_session
    from rnnstream.models.synthetic import generate

    _, path = model_factory(cell="gru", input_size=1, hidden=8, output_size=9, task="forecast", features=FEATURES)
    op = ForecastOperator(load_session(path, provider="cpu"))
    s = generate(3, 600, seed=2, anomaly_rate=0.0, step_s=3600.0)
    series = [s.series(k) for k in s.key_names]
    flat = np.full(600, 4.0)
    names = [x.key for x in series] + ["flat"]
    stamps = [x.timestamps for x in series] + [series[0].timestamps]
    values = [x.values for x in series] + [flat]
    res = evaluate_forecaster(op, names, stamps, values, test_fraction=0.25)
    assert [r["series"] for r in res.per_series] == list(s.key_names)
    assert res.skipped[0]["series"] == "flat"
    assert {r["season"] for r in res.per_series} == {24}
    sm = res.summary
    assert sm["series"] == 3 and sm["horizon"] == 3
    for method in ("model", "naive", "seasonal_naive"):
        assert sm[method]["mase"] == pytest.approx(np.mean([r[method]["mase"] for r in res.per_series]))
        assert 0.0 <= sm[method]["coverage80"] <= 1.0
    assert sm["naive"]["mase"] > 0 and sm["seasonal_naive"]["mase"] > 0
    assert sm["model_beats_naive"] == sum(r["model"]["mase"] < r["naive"]["mase"] for r in res.per_series)
    with pytest.raises(ConfigError):
        evaluate_forecaster(op, names, stamps, values, test_fraction=1.5)
