"""Daemon behaviour without brokers: health and readiness, rewind after a sink failure,
SIGTERM drains and commits, JSON logs, config rules for the Kafka/MQTT sections."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from rnnstream.runtime.build import build_pipeline
from rnnstream.config import parse_config
from rnnstream.errors import ConfigError, ConnectorError

ROOT = Path(__file__).resolve().parents[3]


def file_config(src, out, model, *, ckpt=None, interval=0.05, **daemon):
    return parse_config({
        "sources": [{"type": "jsonl", "name": "j", "path": str(src), "batch_records": 20}],
        "operators": [{"type": "forecast", "name": "forecast", "model": str(model), "provider": "cpu"}],
        "sinks": [{"type": "jsonl", "name": "out", "path": str(out)}],
        "metrics": {"enabled": False},
        "checkpoint": {"path": str(ckpt) if ckpt else None, "interval_s": interval},
        "daemon": {"retry_backoff_s": 0.01, "retry_backoff_max_s": 0.05, **daemon},
    })


def events_file(path: Path, n_keys=4, steps=60) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(3)
    ev = [(f"k{k}", float(t), float(np.round(rng.normal(), 4))) for t in range(steps) for k in range(n_keys)]
    path.write_text("".join(json.dumps({"key": k, "ts": t, "value": v}) + "\n" for k, t, v in ev))
    return ev


def by_key(p) -> dict:
    exported = p.schedulers["forecast"].store.export()
    names = p.keys.names(exported.pop("key_ids")).tolist()
    return {n: {k: v[i] for k, v in exported.items()} for i, n in enumerate(names)}


def rows(path: Path) -> dict:
    return {(r["key"], r["ts"]): r for r in map(json.loads, path.read_text().splitlines())}


def test_sink_failure_rewinds_to_the_checkpoint_and_loses_or_repeats_nothing(tmp_path, forecast_model):
    src = tmp_path / "in.jsonl"
    events_file(src, steps=150)
    whole = build_pipeline(file_config(src, tmp_path / "whole.jsonl", forecast_model))
    whole.run()
    want_state = by_key(whole)
    whole.close()

    out = tmp_path / "out.jsonl"
    p = build_pipeline(file_config(src, out, forecast_model, ckpt=tmp_path / "c.ckpt", interval=0.001))
    sink = p.sinks[0]
    flushes = [0]
    original = sink.flush

    def flaky_flush():
        flushes[0] += 1
        if flushes[0] in (2, 3, 5):  # fails three times, twice in a row
            raise ConnectorError("disk went away")
        original()

    sink.flush = flaky_flush
    stats = p.run()
    got_state = by_key(p)
    sink.flush = original
    p.close()
    assert flushes[0] > 5
    assert p.registry.get_sample_value("rnnstream_commit_failures_total") == 3
    assert stats.events_in > 600  # events after the last checkpoint were read again
    assert rows(out).keys() == rows(tmp_path / "whole.jsonl").keys()
    for k, r in rows(tmp_path / "whole.jsonl").items():
        assert rows(out)[k]["forecast"]["p50"] == pytest.approx(r["forecast"]["p50"], abs=1e-6)
    assert sorted(got_state) == sorted(want_state)
    for key, want in want_state.items():
        assert got_state[key]["steps"] == want["steps"]  # nothing applied twice, nothing lost
        np.testing.assert_allclose(got_state[key]["slab/norm_mean"], want["slab/norm_mean"])
        np.testing.assert_allclose(got_state[key]["slab/h_in"], want["slab/h_in"], atol=1e-6)


class LaggingSource:
    """A source that is always behind and never delivers (commits cannot help)."""

    name = "lagging"
    exhausted = False
    ready = True

    def __init__(self):
        self.lag = 0

    def poll(self, timeout_s):
        time.sleep(timeout_s)
        return None

    def position(self):
        return {}

    def seek(self, position):
        pass

    def commit(self, position):
        pass

    def close(self):
        pass


class DeadSink:
    name = "dead"
    flushes_on_schedule = True

    def write(self, batch):
        pass

    def flush(self):
        raise ConnectorError("broker unreachable")

    def close(self):
        pass


def test_health_fails_when_commits_stop_while_there_is_lag(tmp_path, forecast_model):
    from rnnstream.connectors.stdio import JsonlDeadLetters
    from rnnstream.engine.keys import KeyTable
    from rnnstream.runtime.loop import Pipeline

    src = LaggingSource()
    p = Pipeline(sources=[src], operators=[], sinks=[DeadSink()], keys=KeyTable(), dead_letters=JsonlDeadLetters(tmp_path / "d"),
                 checkpoint_interval_s=0.05, health_stall_s=0.3, loop_stall_s=5.0, retry_backoff_s=0.05,
                 retry_backoff_max_s=0.05)
    assert p.is_ready()[0] is False
    stop = threading.Event()
    t = threading.Thread(target=p.run, args=(stop,))
    t.start()
    try:
        time.sleep(0.5)
        assert p.is_ready()[0] is True
        ok, msg = p.health()
        assert ok, msg  # no lag: not committing is fine
        src.lag = 120
        ok, msg = p.health()
        assert not ok and "120 messages wait" in msg
        src.lag = 0
        assert p.health()[0]
    finally:
        stop.set()
        t.join(10)
    p.last_loop = time.monotonic() - 10.0
    ok, msg = p.health()
    assert not ok and "loop last ran" in msg


def test_sigterm_drains_and_commits_and_logs_are_json_lines(tmp_path, forecast_model):
    src = tmp_path / "in.jsonl"
    ev = events_file(src, n_keys=3, steps=400)
    out, ckpt = tmp_path / "out.jsonl", tmp_path / "state.ckpt"
    cfg = {
        "sources": [{"type": "jsonl", "name": "j", "path": str(src), "speed": 100.0}],  # ~4 s of replay
        "operators": [{"type": "forecast", "name": "forecast", "model": str(forecast_model), "provider": "cpu"}],
        "sinks": [{"type": "jsonl", "name": "out", "path": str(out)}],
        "metrics": {"enabled": False},
        "checkpoint": {"path": str(ckpt), "interval_s": 60},  # only the shutdown commits
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "rnnstream.cli", "--log-format", "json", "run",
                             str(tmp_path / "c.yaml")], stderr=subprocess.PIPE, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    logs = [json.loads(line) for line in err.decode().splitlines() if line.strip()]
    assert any("SIGTERM" in x["msg"] for x in logs) and all({"ts", "level", "logger", "msg"} <= set(x) for x in logs)
    from rnnstream.runtime.checkpoint import read_snapshot

    snap = read_snapshot(ckpt)
    done = snap.positions["j"]["offset"]
    consumed = len(src.read_bytes()[:done].splitlines())
    assert 0 < consumed < len(ev)  # stopped mid-stream
    assert len(out.read_text().splitlines()) == consumed  # every consumed event was processed and flushed
    assert int(snap.header["operators"]["forecast"]["keys"]) == 3


def base(**over):
    cfg = {"sources": [{"type": "kafka", "name": "k", "topics": ["t"], "bootstrap_servers": ["h:9092"],
                        "group_id": "g"}]}
    cfg.update(over)
    return cfg


@pytest.mark.parametrize("cfg,field", [
    (base(sources=[base()["sources"][0], {"type": "jsonl", "name": "f", "path": "x"}]), "sources"),
    (base(checkpoint={"path": "x.ckpt"}), "checkpoint.path"),
    (base(dead_letter={"type": "kafka", "topic": "dl"}), "dead_letter"),
    (base(sources=[dict(base()["sources"][0], library="librdkafka")]), "library"),
    (base(sources=[dict(base()["sources"][0], changelog_chunk_bytes=10)]), "changelog_chunk_bytes"),
    ({"sources": [{"type": "mqtt", "name": "m", "topics": ["a/+"], "key_from_topic": -1}]}, "key_from_topic"),
])
def test_kafka_and_mqtt_config_rules(cfg, field):
    with pytest.raises(ConfigError, match=field):
        parse_config(cfg)


def test_kafka_config_defaults():
    cfg = parse_config(base())
    src = cfg.sources[0]
    assert src.changelog == "g-changelog" and src.library == "auto" and src.start == "earliest"
    assert cfg.daemon.health_stall_s == 60.0
