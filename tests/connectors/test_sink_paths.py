"""A jsonl sink (and dead letters) to any writable path: /dev/null, a FIFO, a regular file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

CONFIG = """
sources:
  - {{type: csv, name: s, path: {csv}, key_field: key, ts_field: timestamp}}
operators:
  - {{type: forecast, name: f, model: {model}, provider: cpu}}
sinks:
  - {{type: jsonl, name: out, path: {out}}}
dead_letter: {{type: jsonl, path: {dead}}}
checkpoint: {{path: {ckpt}, interval_s: 0.01}}
metrics: {{enabled: false}}
"""


def run(tmp_path, csv, model, out, dead="/dev/null"):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(CONFIG.format(csv=csv, model=model, out=out, dead=dead, ckpt=tmp_path / "ckpt"))
    return subprocess.run([sys.executable, "-m", "rnnstream.cli", "run", str(cfg)], capture_output=True, text=True,
                          timeout=120)


def test_jsonl_sink_to_dev_null_runs_to_the_end(tmp_path, sensor_csv, forecast_model):
    r = run(tmp_path, sensor_csv, forecast_model, "/dev/null")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr


def test_jsonl_sink_to_a_fifo_delivers_every_row(tmp_path, sensor_csv, forecast_model):
    fifo = tmp_path / "rows.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
    reader.start()
    r = run(tmp_path, sensor_csv, forecast_model, fifo, dead=tmp_path / "dead.jsonl")
    reader.join(30)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert len(got[0].splitlines()) == 600  # 3 keys x 200 steps, every one through the pipe


def test_a_failing_sink_is_one_error_naming_it():
    from rnnstream.connectors.stdio import JsonlSink
    from rnnstream.errors import ConnectorError

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    sink = JsonlSink("out", "/dev/full")  # every write fails with ENOSPC
    import numpy as np

    from rnnstream.engine.records import OutputBatch

    batch = OutputBatch(keys=np.array(["a"], object), key_ids=np.array([0]), ts=np.array([1.0]),
                        values=np.ones((1, 1), np.float32), ingest=np.zeros(1), fields={})
    with pytest.raises(ConnectorError, match="sink 'out'"):
        sink.write(batch)
        sink.flush()
