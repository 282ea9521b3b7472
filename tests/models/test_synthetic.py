"""Synthetic generator: determinism, labelled windows at the injected anomalies, NAB round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.models import synthetic as syn
from rnnstream.errors import ConfigError
from rnnstream.evaluation import nab, nab_io


def test_same_seed_same_set_and_other_seed_differs():
    a = syn.generate(3, 1500, seed=11, n_dims=2)
    b = syn.generate(3, 1500, seed=11, n_dims=2)
    c = syn.generate(3, 1500, seed=12, n_dims=2)
    for field in ("keys", "ts", "values", "labels"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert a.anomalies == b.anomalies
    assert not np.array_equal(a.values, c.values)


def test_a_key_depends_only_on_seed_and_index():
    small = syn.generate(2, 1200, seed=5)
    large = syn.generate(5, 1200, seed=5)
    for key in small.key_names:
        assert np.array_equal(small.series(key).values, large.series(key).values)
        assert small.series(key).anomalies == large.series(key).anomalies


def test_columnar_layout_is_time_major():
    s = syn.generate(4, 300, seed=2, step_s=60.0, start="2021-06-01T00:00:00")
    k = len(s.key_names)
    assert s.keys.shape == s.ts.shape == s.labels.shape == s.values.shape == (4 * 300,)
    assert s.values.dtype == np.float32 and s.ts.dtype == np.float64
    assert list(s.keys[:k]) == list(s.key_names) and list(s.keys[k : 2 * k]) == list(s.key_names)
    assert np.all(s.ts[:k] == s.ts[0]) and s.ts[k] - s.ts[0] == 60.0
    assert s.ts[0] == np.datetime64("2021-06-01T00:00:00", "s").astype(np.int64)
    assert s.n_steps == 300


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_dims=st.integers(1, 3),
    count=st.integers(1, 8),
    kinds=st.lists(st.sampled_from(syn.ANOMALY_KINDS), min_size=1, max_size=6, unique=True),
)
def test_anomalies_change_the_data_only_inside_their_windows(seed, n_dims, count, kinds):
    n = 3000
    clean = syn.generate_series(n, seed=seed, n_dims=n_dims, n_anomalies=0)
    dirty = syn.generate_series(n, seed=seed, n_dims=n_dims, n_anomalies=count, kinds=kinds)
    assert len(dirty.anomalies) == count and not clean.anomalies
    assert {a.kind for a in dirty.anomalies} <= set(kinds)
    changed = (clean.values != dirty.values).reshape(n, -1)
    expected_changed = np.zeros_like(changed)
    labels = np.zeros(n, dtype=np.int8)
    probation = nab.probation_rows(n)
    for a in dirty.anomalies:
        lo, hi = a.window
        assert probation <= lo <= a.start < a.stop <= hi + 1 <= n
        # Nearly every altered step really differs (a stuck value can match by chance only).
        assert changed[a.start : a.stop, list(a.dims)].mean() > 0.9
        expected_changed[a.start : a.stop, list(a.dims)] = True
        labels[lo : hi + 1] = 1
    assert not np.any(changed & ~expected_changed)
    assert np.array_equal(dirty.labels, labels)
    windows = sorted(a.window for a in dirty.anomalies)
    assert all(w1[0] > w0[1] for w0, w1 in zip(windows, windows[1:]))
    # The scorer sees exactly the labelled rows as windows.
    bounds = nab.window_bounds(dirty.timestamps, dirty.windows)
    assert np.array_equal(nab.window_labels(n, bounds), labels)


def test_kinds_parameter_and_kind_shapes():
    s = syn.generate_series(4000, seed=3, n_anomalies=5, kinds=("flatline",))
    assert [a.kind for a in s.anomalies] == ["flatline"] * 5
    for a in s.anomalies:
        stuck = s.values[a.start : a.stop]
        assert np.all(stuck == s.values[a.start - 1])
    spikes = syn.generate_series(4000, seed=3, n_anomalies=4, kinds="spike")
    clean = syn.generate_series(4000, seed=3, n_anomalies=0)
    spread = clean.values.max() - clean.values.min()
    for a in spikes.anomalies:
        assert 1 <= a.stop - a.start <= 3
        jump = np.abs(spikes.values[a.start : a.stop] - clean.values[a.start : a.stop])
        assert jump.min() > 0.5 * spread / 2
    shifts = syn.generate_series(4000, seed=4, n_anomalies=3, kinds=["level_shift"])
    base = syn.generate_series(4000, seed=4, n_anomalies=0)
    for a in shifts.anomalies:
        delta = shifts.values[a.start : a.stop] - base.values[a.start : a.stop]
        assert np.allclose(delta, delta[0], rtol=1e-3, atol=1e-3) and abs(delta[0]) > 0


def test_invalid_arguments_raise_config_error():
    with pytest.raises(ConfigError):
        syn.generate_series(1000, seed=1, kinds=("meteor",))
    with pytest.raises(ConfigError):
        syn.generate_series(1000, seed=1, kinds=())
    with pytest.raises(ConfigError):
        syn.generate_series(1000, seed=1, kinds=("pattern_change",), periods_s=())
    with pytest.raises(ConfigError, match="do not fit"):
        syn.generate_series(200, seed=1, n_anomalies=50)
    with pytest.raises(ConfigError):
        syn.generate(0, 100, seed=1)
    with pytest.raises(ConfigError):
        syn.generate(2, 500, seed=1).series("nope")


def test_anomaly_rate_controls_the_count():
    none = syn.generate(3, 2000, seed=9, anomaly_rate=0.0)
    assert not none.anomalies and not none.labels.any()
    many = syn.generate(3, 6000, seed=9, anomaly_rate=0.002)
    # Poisson with mean 12 per key: far from zero, and capped at what fits.
    assert 15 <= len(many.anomalies) <= 3 * 60


def test_daily_seasonality_is_present():
    s = syn.generate_series(288 * 14, seed=1, n_anomalies=0, periods_s=(86_400.0,))
    x = s.values - s.values.mean()

    def corr(lag: int) -> float:
        return float(np.corrcoef(x[:-lag], x[lag:])[0, 1])

    assert corr(288) > 0.7 and corr(144) < 0.0


def test_nab_layout_scores_perfect_100_and_null_0(tmp_path):
    s = syn.generate(4, 3000, seed=21, anomaly_rate=0.001, kinds=("spike", "level_shift", "drift"))
    assert s.anomalies
    data_dir, windows_path = s.write_nab_layout(tmp_path / "corpus")
    names = nab_io.list_data_files(data_dir)
    assert names == [f"synthetic/{k}.csv" for k in s.key_names]
    windows = nab_io.read_windows(windows_path)
    onsets = json.loads((tmp_path / "corpus" / "combined_labels.json").read_text())
    assert sum(len(v) for v in onsets.values()) == len(s.anomalies)
    perfect, null = [], []
    for name in names:
        ts, values = nab_io.read_data_csv(data_dir / name)
        key = name.split("/")[1][:-4]
        assert np.array_equal(values.astype(np.float32), s.series(key).values)
        scores = np.zeros(ts.size)
        scores[nab.window_bounds(ts, windows[name])[:, 0]] = 1.0
        perfect.append(nab.SeriesResult(name, ts, values, scores))
        null.append(nab.SeriesResult(name, ts, values, np.full(ts.size, 0.5)))
    for profile in nab.NAB_PROFILES:
        assert nab.score_corpus(perfect, windows)[profile] == pytest.approx(100.0)
        assert nab.score_corpus(null, windows)[profile] == pytest.approx(0.0)
    # In memory, scores aligned with the set's rows: a detector firing at each true onset.
    # An onset lies `margin` rows into its window, so it earns f(-(w - m)/w)/f(-1) > 0.85.
    onset = np.zeros(s.ts.size)
    for a in s.anomalies:
        onset[a.start * len(s.key_names) + s.key_names.index(a.key)] = 1.0
    results, mem_windows = s.nab_results(onset)
    out = nab.score_corpus(results, mem_windows)
    assert out["windows"] == len(s.anomalies)
    assert out["counts"]["standard"] == {"tp": len(s.anomalies), "fp": 0, "fn": 0}
    assert 85.0 < out["standard"] < 100.0


def test_to_csv_writes_every_row(tmp_path):
    s = syn.generate(2, 400, seed=8, n_dims=2, anomaly_rate=0.005)
    path = s.to_csv(tmp_path / "all.csv")
    header, *rows = path.read_text().splitlines()
    assert header == "key,timestamp,value_0,value_1,label"
    assert len(rows) == s.ts.size
    first = rows[1].split(",")
    assert first[0] == s.keys[1] and float(first[2]) == pytest.approx(float(s.values[1, 0]))
    assert [int(r.rsplit(",", 1)[1]) for r in rows] == s.labels.tolist()
    epoch = s.to_csv(tmp_path / "epoch.csv", epoch=True).read_text().splitlines()
    assert epoch[0].startswith("key,ts,") and float(epoch[1].split(",")[1]) == s.ts[0]
