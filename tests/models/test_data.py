"""Training data: file loading, targets in the runtime's units, TBPTT segments, synthetic corpora."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rnnstream.errors import ConfigError
from rnnstream.engine.features import denormalize, norm_step
from rnnstream.models.data import build_segments, load_series, make_targets, read_table
from rnnstream.models.synthdata import FAMILIES, synthetic_series


def test_csv_with_keys_is_split_and_sorted_by_time(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("timestamp,key,value,label\n"
                 "2024-01-01 00:10:00,b,5,0\n2024-01-01 00:00:00,a,1,0\n"
                 "2024-01-01 00:05:00,a,2,1\n2024-01-01 00:00:00,b,4,0\n")
    series = load_series(p)
    assert [s.key for s in series] == ["b", "a"]
    assert series[1].values[:, 0].tolist() == [1.0, 2.0]  # the label column is not a value
    assert series[0].values[:, 0].tolist() == [4.0, 5.0]


def test_jsonl_multi_value_and_gaps_are_forward_filled(tmp_path):
    p = tmp_path / "s.jsonl"
    rows = [{"ts": 3, "key": "k", "x": 3.0, "y": None}, {"ts": 1, "key": "k", "x": 1.0, "y": 10.0},
            {"ts": 2, "key": "k", "x": 2.0, "y": 20.0}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (s,) = load_series(p, value_cols=["x", "y"])
    assert s.values.tolist() == [[1.0, 10.0], [2.0, 20.0], [3.0, 20.0]]


def test_directory_without_key_column_names_keys_by_path(tmp_path):
    for name, vals in (("cat/a.csv", [1, 2]), ("cat/b.csv", [3, 4, 5])):
        f = tmp_path / name
        f.parent.mkdir(exist_ok=True)
        f.write_text("timestamp,value\n" + "".join(f"2024-01-0{i + 1} 00:00:00,{v}\n" for i, v in enumerate(vals)))
    series = load_series(tmp_path)
    assert [s.key for s in series] == ["cat/a.csv", "cat/b.csv"]
    assert series[1].timestamps.dtype.kind == "M"


@pytest.mark.parametrize("text,match", [
    ("when,value\n1,2\n", "no time column"),
    ("timestamp,value\n1,abc\n", "not numeric"),
    ("timestamp,value\n1,2,3\n", "fields"),
])
def test_bad_files_name_the_problem(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_series(p)


def test_missing_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_series(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="not JSON"):
        (tmp_path / "x.jsonl").write_text("{oops\n")
        read_table(tmp_path / "x.jsonl")


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=5, max_size=60), st.integers(1, 4))
def test_targets_map_back_to_the_future_values_with_the_runtime_statistics(xs, horizon):
    x = np.array(xs)[:, None]
    z, target, valid = make_targets(x, alpha_min=0.01, horizon=horizon)
    # Replay the runtime's own step function and check both the inputs and the targets.
    count, mean, var = np.zeros(1), np.zeros((1, 1)), np.zeros((1, 1))
    for t in range(len(xs)):
        zt, count, mean, var = norm_step(x[t : t + 1], count, mean, var, 0.01)
        assert z[t, 0] == pytest.approx(zt[0, 0], abs=1e-9)
        for h in range(horizon):
            assert valid[t, h] == (t + h + 1 < len(xs))
            if valid[t, h] and abs(target[t, h, 0]) < 1e3:
                back = denormalize(target[t : t + 1, h], mean, var)[0, 0]
                assert back == pytest.approx(xs[t + h + 1], rel=1e-6, abs=1e-6)


def test_segments_mask_burn_in_warmup_and_the_validation_tail():
    t_len, n_train = 100, 80
    z, target, valid = make_targets(np.arange(t_len, dtype=float)[:, None] % 7, alpha_min=0.01, horizon=2)
    seg = build_segments([(z, target, valid, n_train)], segment_len=30, burn_in=5, norm_warmup=8)
    assert seg.z.shape == (3, 35, 1) and seg.weight.shape == (3, 35, 2)
    # Lane 0 starts at the series start: only the normalisation warm-up is masked.
    assert seg.weight[0, :8].sum() == 0 and seg.weight[0, 8:30].all()
    # Lane 1 covers steps 25..59 with 25..29 as burn-in.
    assert seg.weight[1, :5].sum() == 0 and seg.weight[1, 5:].all()
    assert np.array_equal(seg.z[1], z[25:60].astype(np.float32))
    # Lane 2 covers 55..79: no target may reach step 80 (the validation tail); the rest is padding.
    origins = np.arange(55, 80)
    reach = origins[:, None] + np.array([1, 2])[None, :]
    assert np.array_equal(seg.weight[2, 5:25] > 0, reach[5:] < n_train)
    assert seg.weight[2, 25:].sum() == 0


def test_synthetic_corpus_is_deterministic_and_covers_every_family():
    a = synthetic_series(seed=4, keys=len(FAMILIES), steps=300)
    b = synthetic_series(seed=4, keys=len(FAMILIES), steps=300)
    c = synthetic_series(seed=5, keys=len(FAMILIES), steps=300)
    assert [s.key.split("_")[0] for s in a] == list(FAMILIES)
    assert all(np.array_equal(x.values, y.values) for x, y in zip(a, b))
    assert not np.allclose(a[0].values, c[0].values)
    assert all(np.isfinite(s.values).all() and s.values.shape == (300, 1) for s in a)
    counts = next(s for s in a if s.key.startswith("counts"))
    assert np.array_equal(counts.values, np.round(counts.values))
    basic = synthetic_series(seed=4, keys=3, steps=300, recipe="basic")
    assert {s.key.split("_")[0] for s in basic} == {"basic"}
    with pytest.raises(ConfigError):
        synthetic_series(seed=4, keys=3, steps=300, recipe="fancy")


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 4e9), st.integers(0, 20))
def test_time_features_repeat_every_cycle(t, days):
    from rnnstream.models.data import time_features

    a = time_features(np.array([t, t + 86_400.0 * days]), ["day"])
    assert np.allclose(a[0], a[1], atol=1e-6)
    assert np.allclose((a[:, 0] ** 2 + a[:, 1] ** 2), 1.0)
    with pytest.raises(ConfigError):
        time_features(np.array([t]), ["month"])
