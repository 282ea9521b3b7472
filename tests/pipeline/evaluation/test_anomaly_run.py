"""Running the anomaly operator over a corpus and scoring it by NAB's rules."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.errors import ConfigError
from rnnstream.evaluation.anomaly_run import parse_label_json, score_series, stream_operator, windows_from_points
from rnnstream.evaluation.nab_io import list_data_files, read_data_csv, read_windows
from rnnstream.models.synthetic import generate

FEATURES = {"value_dim": 1, "horizon": 1, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01,
            "likelihood": {"warmup": 20}}


@pytest.fixture
def anomaly_op(model_factory):
    from rnnstream.operators.anomaly import AnomalyOperator
    from rnnstream.engine.session import load_session

    _, path = model_factory(cell="gru", input_size=1, hidden=8, output_size=3, task="anomaly", features=FEATURES)
    return lambda: AnomalyOperator(load_session(path, provider="cpu"))


def test_interleaved_streaming_equals_one_key_at_a_time(anomaly_op):
    rng = np.random.default_rng(3)
    series = [rng.normal(size=n).cumsum() for n in (150, 37, 90)]
    together = stream_operator(anomaly_op(), series, steps_per_batch=16)
    for s, got in zip(series, together):
        (alone,) = stream_operator(anomaly_op(), [s], steps_per_batch=1)
        assert got["score"].shape == (s.size,)
        np.testing.assert_allclose(got["score"], alone["score"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(got["raw"], alone["raw"], rtol=0, atol=1e-9)


def test_no_look_ahead_changing_the_future_leaves_past_scores_alone(anomaly_op):
    rng = np.random.default_rng(4)
    s = rng.normal(size=200)
    t = s.copy()
    t[120:] += 50.0
    a, b = stream_operator(anomaly_op(), [s, t])
    np.testing.assert_array_equal(a["score"][:120], b["score"][:120])
    assert not np.array_equal(a["score"][120:], b["score"][120:])


def test_windows_from_points_follow_nabs_rule_and_merge_overlaps():
    ts = np.arange(1000).astype("datetime64[m]")
    w = windows_from_points(["f.csv", "g.csv"], [ts, ts], {"f.csv": [str(ts[500])], "g.csv": [str(ts[300]), str(ts[320])]})
    assert w["f.csv"] == [(ts[450], ts[550])]  # 10% of 1000 rows, centred
    assert w["g.csv"] == [(ts[275], ts[345])]  # two 50-row windows that overlap become one


def test_label_files_are_recognised_by_shape():
    assert parse_label_json({"a": [], "b": [["x", "y"]]})[0] == "windows"
    assert parse_label_json({"a": ["2020-01-01 00:00:00"]})[0] == "points"
    for bad in ([], {"a": "x"}, {"a": [["x"]]}, {"a": ["x", ["y", "z"]]}):
        with pytest.raises(ConfigError):
            parse_label_json(bad)


def test_scoring_a_synthetic_nab_corpus_from_files(anomaly_op, tmp_path):
    # Every key gets at least one window with this seed (nab_io cannot yet write an empty window list).
    s = generate(4, 800, seed=11, n_dims=1, anomaly_rate=0.005)
    data_dir, windows_path = s.write_nab_layout(tmp_path)
    names = list_data_files(data_dir)
    stamps, values = zip(*(read_data_csv(data_dir / n) for n in names))
    windows = read_windows(windows_path)
    res = score_series(anomaly_op(), names, stamps, values, windows)
    sc = res.scores
    assert sc["files"] == 4 and sc["windows"] == sum(len(v) for v in windows.values()) > 0
    for prof in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert sc[prof] <= 100.0
    assert res.rows == 3200 and all(np.all((r.scores >= 0) & (r.scores <= 1)) for r in res.results)
    with pytest.raises(ConfigError, match="not in the data directory"):
        score_series(anomaly_op(), names[:2], stamps[:2], values[:2], windows)
