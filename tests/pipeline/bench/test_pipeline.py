"""`bench pipeline`: the same events through the product's path and the engine alone."""

from __future__ import annotations

import json

import numpy as np

from rnnstream.bench.pipeline import _series, make_events
from rnnstream.cli import main


def test_events_keep_each_keys_order_and_cover_every_key():
    key, step, _ = _series(keys=7, events=50, seed=3)
    assert set(key.tolist()) == set(range(7))
    for k in range(7):
        assert step[key == k].tolist() == list(range(int((key == k).sum())))
    lines = make_events(keys=7, events=50, seed=3).splitlines()
    assert [json.loads(x)["key"] for x in lines] == [f"k{k}" for k in key.tolist()]


def test_bench_pipeline_runs_every_path_on_every_event(tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert main(["bench", "pipeline", "--keys", "50", "--events", "600", "--batch", "64",
                 "--operators", "anomaly,forecast", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["path"] for r in rows] == ["engine", "file -> jsonl", "stdin -> jsonl"]
    assert all(r["events_out"] == 600 for r in rows[1:])
    assert all(0 < r["share_of_engine"] for r in rows) and rows[0]["share_of_engine"] == 1.0
    assert "share of engine" in capsys.readouterr().out
    assert np.isfinite([r["events_per_s"] for r in rows]).all()
