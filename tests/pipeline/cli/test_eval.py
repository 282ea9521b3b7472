"""``rnnstream eval forecast|anomaly`` over directories written by the synthetic generator."""

from __future__ import annotations

import argparse
import json

import pytest

from rnnstream.cli import eval as commands_eval
from rnnstream.errors import ConfigError
from rnnstream.models.synthetic import generate

FORECAST = {"value_dim": 1, "horizon": 2, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01}
ANOMALY = {"value_dim": 1, "horizon": 1, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01, "likelihood": {"warmup": 10}}


def run(argv) -> int:
    p = argparse.ArgumentParser(prog="rnnstream")
    commands_eval.register(p.add_subparsers(dest="command"))
    args = p.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("nab")
    # Every key gets at least one window with this seed (nab_io cannot yet write an empty window list).
    s = generate(3, 700, seed=12, anomaly_rate=0.005)
    data_dir, windows = s.write_nab_layout(root)
    return data_dir, windows, root / "combined_labels.json"


def test_eval_forecast_prints_the_table_and_writes_json(model_factory, corpus, tmp_path, capsys):
    _, model = model_factory(cell="gru", input_size=1, hidden=6, output_size=6, task="forecast", features=FORECAST)
    out = tmp_path / "f.json"
    assert run(["eval", "forecast", "--data", str(corpus[0]), "--model", str(model), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "seasonal_naive" in text and "MASE" in text
    report = json.loads(out.read_text())
    assert report["summary"]["series"] == 3 and len(report["per_series"]) == 3
    assert {"model", "naive", "seasonal_naive"} <= set(report["summary"])


def test_eval_anomaly_writes_nab_results_and_the_json_summary(model_factory, corpus, tmp_path, capsys):
    _, model = model_factory(cell="gru", input_size=1, hidden=6, output_size=3, task="anomaly", features=ANOMALY)
    out, res = tmp_path / "a.json", tmp_path / "results"
    argv = ["eval", "anomaly", "--data", str(corpus[0]), "--labels", str(corpus[1]), "--model", str(model),
            "--results-dir", str(res), "--json", str(out)]
    assert run(argv) == 0
    text = capsys.readouterr().out
    for prof in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert prof in text
    summary = json.loads(out.read_text())
    assert set(summary) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate", "files", "windows"}
    assert summary["files"] == 3 and summary["windows"] >= 3
    files = sorted(p.relative_to(res).as_posix() for p in res.rglob("*.csv"))
    assert files == [f"rnnstream/synthetic/rnnstream_sensor_000{k}.csv" for k in range(3)]
    header = (res / files[0]).read_text().splitlines()[0]
    assert header == "timestamp,value,anomaly_score,label"
    # The NAB results can be re-scored from the files alone and give the same numbers.
    from rnnstream.evaluation.nab import score_corpus
    from rnnstream.evaluation.nab_io import read_results, read_windows

    again = score_corpus(read_results(res, "rnnstream"), read_windows(corpus[1]))
    assert again["standard"] == pytest.approx(summary["standard"], abs=1e-6)


def test_eval_anomaly_accepts_a_points_file_and_rejects_junk(model_factory, corpus, tmp_path):
    _, model = model_factory(cell="gru", input_size=1, hidden=6, output_size=3, task="anomaly", features=ANOMALY)
    assert run(["eval", "anomaly", "--data", str(corpus[0]), "--labels", str(corpus[2]), "--model", str(model)]) == 0
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2]")
    with pytest.raises(ConfigError):
        run(["eval", "anomaly", "--data", str(corpus[0]), "--labels", str(junk), "--model", str(model)])
