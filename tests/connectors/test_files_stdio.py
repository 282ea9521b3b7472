"""File replay (fast and paced), stdin source, positions and seeking."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import numpy as np

from rnnstream.config import FileSourceConfig, StdinSourceConfig
from rnnstream.connectors.files import FileSource
from rnnstream.connectors.stdio import StdinSource
from rnnstream.engine.keys import KeyTable


def write_jsonl(path, n, step=1.0):
    path.write_text("".join(json.dumps({"key": f"k{i % 2}", "ts": i * step, "value": i}) + "\n" for i in range(n)))
    return path


def drain(src, timeout=0.01):
    out = []
    while not src.exhausted:
        b = src.poll(timeout)
        if b is not None:
            out.append(b)
    return out


def test_fast_replay_hands_out_everything_in_order(tmp_path):
    src = FileSource(FileSourceConfig(type="jsonl", name="f", path=write_jsonl(tmp_path / "a.jsonl", 100),
                                      batch_records=7), KeyTable(), width=1)
    batches = drain(src)
    values = np.concatenate([b.values[:, 0] for b in batches])
    assert values.tolist() == list(range(100))
    assert src.position()["offset"] == (tmp_path / "a.jsonl").stat().st_size


def test_seek_resumes_after_the_last_record(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", 50)
    keys = KeyTable()
    src = FileSource(FileSourceConfig(type="jsonl", name="f", path=path, batch_records=10), keys, width=1)
    first = src.poll(0.0)
    pos = first.position
    src2 = FileSource(FileSourceConfig(type="jsonl", name="f", path=path, batch_records=10), keys, width=1)
    src2.seek(pos)
    rest = np.concatenate([b.values[:, 0] for b in drain(src2)])
    assert first.values[:, 0].tolist() + rest.tolist() == list(range(50))


def test_paced_replay_follows_event_time(tmp_path):
    # 21 events 0.1 s apart in event time at speed 2: about 1 s of wall time.
    path = write_jsonl(tmp_path / "a.jsonl", 21, step=0.1)
    src = FileSource(FileSourceConfig(type="jsonl", name="f", path=path, speed=2.0), KeyTable(), width=1)
    t0 = time.monotonic()
    batches = drain(src, timeout=0.05)
    elapsed = time.monotonic() - t0
    assert sum(len(b) for b in batches) == 21
    assert elapsed >= 0.95  # never ahead of the recorded pace
    assert len(batches) > 3  # handed out progressively, not in one go
    positions = [b.position["offset"] for b in batches]
    assert positions == sorted(positions)


def test_csv_replay_with_missing_column_is_one_clear_error(tmp_path):
    import pytest

    from rnnstream.errors import ConnectorError

    path = tmp_path / "a.csv"
    path.write_text("ts,key,reading\n1,a,2\n")
    with pytest.raises(ConnectorError, match="no column 'value'"):
        FileSource(FileSourceConfig(type="csv", name="c", path=path), KeyTable(), width=1)


def test_stdin_source_reads_lines_until_eof():
    data = b"".join(json.dumps({"key": "a", "ts": i, "value": i}).encode() + b"\n" for i in range(30)) + b"nope\n"
    src = StdinSource(StdinSourceConfig(type="stdin", batch_records=8), KeyTable(), width=1, stream=io.BytesIO(data))
    batches = drain(src, timeout=0.2)
    assert sum(len(b) for b in batches) == 30
    assert [d.reason for b in batches for d in b.dead] == ["bad_json"]


def test_cli_pipeline_from_stdin(tmp_path, model_factory):
    features = {"value_dim": 1, "horizon": 4, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01}
    _, forecast_model_path = model_factory(cell="gru", input_size=1, hidden=8, output_size=12, task="forecast",
                                           features=features)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "sources: [{type: stdin}]\n"
        f"operators: [{{type: forecast, name: f, model: {forecast_model_path}, provider: cpu}}]\n"
        "sinks: [{type: stdout}]\nmetrics: {enabled: false}\n"
    )
    lines = "".join(json.dumps({"key": "s", "ts": i, "value": float(i % 5)}) + "\n" for i in range(20))
    r = subprocess.run([sys.executable, "-m", "rnnstream.cli", "run", str(cfg)], input=lines, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [row["value"] for row in rows] == [float(i % 5) for i in range(20)]
    assert all(len(row["f"]["p50"]) == 4 for row in rows)
