"""Helpers for the broker tests: topic tools, the daemon as a child process, reference runs.

Loaded by conftest.py (the ``kit`` fixture); pytest's importlib mode cannot import it by name.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

STARTED: list[Daemon] = []
"""Daemons started by the running test: conftest.py appends their log tails to a failure report."""
OPEN: list = []
"""Test-side clients of the running test: conftest.py closes them after it, so none keeps
reconnecting (and logging) once its broker is gone."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class KafkaTool:
    """Topic setup, feeding and reading for tests (kafka-python, group-less)."""

    def __init__(self, bootstrap: str) -> None:
        from kafka import KafkaProducer

        self.bootstrap = bootstrap
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
        OPEN.append(self)

    def create(self, *topics: tuple[str, int]) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        admin.create_topics([NewTopic(t, n, 1) for t, n in topics])
        admin.close()

    def send(self, topic: str, key: bytes | None, value: bytes, headers=None, partition=None):
        """The send's future: ``.get()`` gives (partition, offset) once delivered."""
        return self.producer.send(topic, key=key, value=value, headers=headers, partition=partition)

    def flush(self) -> None:
        self.producer.flush(60)

    def read(self, topic: str, *, until: int | None = None, idle_s: float = 3.0, timeout_s: float = 120.0):
        """Every message of ``topic`` as dicts, until ``until`` messages or ``idle_s`` of silence."""
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out, last, t0 = [], time.monotonic(), time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            got = c.poll(300, max_records=5000)
            for recs in got.values():
                for r in recs:
                    out.append({"partition": r.partition, "offset": r.offset, "key": r.key, "value": r.value,
                                "headers": {k: v for k, v in (r.headers or [])}})
                last = time.monotonic()
            if until is not None and len(out) >= until:
                break
            if until is None and time.monotonic() - last > idle_s:
                break
        c.close()
        return out

    def close(self) -> None:
        self.producer.close(timeout=5)


class Collector:
    """Reads a topic incrementally on its own consumer (no re-reading from the start)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self._c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        tps = [TopicPartition(topic, p) for p in sorted(self._c.partitions_for_topic(topic) or [])]
        self._c.assign(tps)
        self._c.seek_to_beginning(*tps)
        self.messages: list[dict] = []
        OPEN.append(self)

    def poll(self) -> list[dict]:
        for recs in self._c.poll(200, max_records=10000).values():
            for r in recs:
                self.messages.append({"partition": r.partition, "offset": r.offset, "key": r.key,
                                      "value": r.value, "headers": {k: v for k, v in (r.headers or [])}})
        return self.messages

    def distinct_sources(self) -> int:
        self.poll()
        return len({(m["headers"]["rnnstream-source-partition"], m["headers"]["rnnstream-source-offset"])
                    for m in self.messages})

    def coverage(self) -> str:
        """Per source partition: distinct offsets seen and the highest, to tell a stall from a gap."""
        seen: dict[int, set[int]] = {}
        for m in self.messages:
            h = m["headers"]
            seen.setdefault(int(h["rnnstream-source-partition"]), set()).add(int(h["rnnstream-source-offset"]))
        return ", ".join(f"p{p}: {len(o)} offsets, max {max(o)}" for p, o in sorted(seen.items())) or "no output"

    def close(self) -> None:
        self._c.close()


def dedup_outputs(messages) -> dict[tuple, dict]:
    """Output rows keyed by their source (topic, partition, offset) headers; duplicates must agree."""
    out: dict[tuple, dict] = {}
    for m in messages:
        h = m["headers"]
        triple = (h["rnnstream-source-topic"], int(h["rnnstream-source-partition"]), int(h["rnnstream-source-offset"]))
        row = json.loads(m["value"])
        if triple in out:
            prev = out[triple]
            assert prev["key"] == row["key"] and prev["ts"] == row["ts"], f"{triple} re-emitted differently"
        out[triple] = row
    return out


class Daemon:
    """``rnnstream run CONFIG`` as a child process with JSON logs in a file."""

    def __init__(self, tmp: Path, cfg: dict, name: str = "daemon") -> None:
        self.cfg_path = tmp / f"{name}.yaml"
        self.cfg_path.write_text(yaml.safe_dump(cfg))
        self.log_path = tmp / f"{name}.log"
        self.metrics_port = cfg.get("metrics", {}).get("port")
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Daemon:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rnnstream.cli", "--log-format", "json", "run", str(self.cfg_path)],
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "ab"), env=env, cwd=str(ROOT),
        )
        self.starts += 1
        if self not in STARTED:
            STARTED.append(self)
        return self

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout: float = 60.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` of the log, raw: for failure reports."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def logs(self) -> list[dict]:
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return [json.loads(x) for x in lines if x.startswith("{")]

    def http(self, path: str) -> tuple[int, str]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def metric(self, name: str, labels: dict | None = None) -> float | None:
        from prometheus_client.parser import text_string_to_metric_families

        code, text = self.http("/metrics")
        if code != 200:
            return None
        total = None
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                    total = (total or 0.0) + s.value
        return total


def wait_for(cond, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_for_all(collector: Collector, total: int, *, idle_s: float = 60.0, limit_s: float = 300.0,
                 detail=None) -> None:
    """Wait until ``collector`` has output for ``total`` distinct source records.

    Slow progress on a loaded machine is fine; a stall (no new output for ``idle_s``) fails at
    once, with the per-partition coverage and ``detail()`` in the message.
    """
    t0 = last = time.monotonic()
    seen = collector.distinct_sources()
    while seen < total:
        now = time.monotonic()
        if now - last > idle_s or now - t0 > limit_s:
            extra = f"; {detail()}" if detail is not None else ""
            raise AssertionError(f"output for {seen} of {total} records after {now - t0:.0f}s, none new for "
                                 f"{now - last:.0f}s: {collector.coverage()}{extra}")
        time.sleep(0.2)
        got = collector.distinct_sources()
        if got > seen:
            seen, last = got, time.monotonic()


FAST_GROUP = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500, "max_poll_interval_ms": 60000}
"""Tansu joins a group in about session_timeout/2; short sessions keep the tests quick."""
FAST_GROUP_CK = {"session.timeout.ms": 3000, "heartbeat.interval.ms": 500, "max.poll.interval.ms": 60000}

LIBRARIES = ["kafka-python", pytest.param("confluent", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("confluent_kafka") is None, reason="confluent-kafka not installed"))]


def kafka_config(bootstrap: str, *, topic: str, out: str, dead: str, group: str, model, metrics_port: int,
                 interval_s: float = 0.3, batch_records: int = 200, client: dict | None = None,
                 library: str = "kafka-python", **source) -> dict:
    default = FAST_GROUP if library == "kafka-python" else FAST_GROUP_CK
    return {
        "sources": [{"type": "kafka", "name": "events", "topics": [topic], "bootstrap_servers": [bootstrap],
                     "group_id": group, "batch_records": batch_records, "client": client or dict(default),
                     "library": library, **source}],
        "operators": [{"type": "forecast", "name": "forecast", "model": str(model), "provider": "cpu",
                       "batching": {"max_wait_ms": 2}}],
        "sinks": [{"type": "kafka", "name": "out", "topic": out, "bootstrap_servers": [bootstrap],
                   "library": library}],
        "dead_letter": {"type": "kafka", "topic": dead, "bootstrap_servers": [bootstrap], "library": library},
        "metrics": {"port": metrics_port},
        "checkpoint": {"interval_s": interval_s},
        "daemon": {"retry_backoff_s": 0.2, "retry_backoff_max_s": 2.0},
    }


def reference_run(tmp: Path, events: list[tuple[str, float, float]], model) -> tuple[dict, dict]:
    """An uninterrupted in-process run over a file: rows by (key, ts) and final state by key."""
    from rnnstream.runtime.build import build_pipeline
    from rnnstream.config import parse_config

    src = tmp / f"ref-{uuid.uuid4().hex[:6]}.jsonl"
    src.write_text("".join(json.dumps({"key": k, "ts": t, "value": v}) + "\n" for k, t, v in events))
    out = src.with_suffix(".out")
    p = build_pipeline(parse_config({
        "sources": [{"type": "jsonl", "name": "ref", "path": str(src)}],
        "operators": [{"type": "forecast", "name": "forecast", "model": str(model), "provider": "cpu"}],
        "sinks": [{"type": "jsonl", "name": "out", "path": str(out)}],
        "metrics": {"enabled": False},
    }))
    p.run()
    rows = {(r["key"], r["ts"]): r for r in map(json.loads, out.read_text().splitlines())}
    exported = p.schedulers["forecast"].store.export()
    names = p.keys.names(exported.pop("key_ids")).tolist()
    state = {n: {k: v[i] for k, v in exported.items()} for i, n in enumerate(names)}
    p.close()
    return rows, state


def changelog_state(bootstrap: str, changelog: str, topic: str, partitions: int, op: str = "forecast") -> dict:
    """Per-key state of ``op`` as the changelog's newest markers hold it (what a restore would load)."""
    from rnnstream.runtime.changelog import PartitionedState, SimpleHost
    from rnnstream.runtime.checkpoint import decode_snapshot
    from rnnstream.connectors.kafka_kpy import KpyReader
    from rnnstream.engine.keys import KeyTable

    reader = KpyReader([bootstrap], {})

    class Log:
        def scan(self, partition, progress=None):
            return reader.scan(changelog, partition, progress)

    ps = PartitionedState(SimpleHost({}, KeyTable()), Log())
    state = {}
    for p in range(partitions):
        found = ps.read(topic, p)
        if found is None:
            continue
        snap = decode_snapshot(found[1])
        names = snap.arrays[f"{op}/keys"].tolist()
        arrays = {k[len(op) + 1:]: v for k, v in snap.arrays.items() if k.startswith(op + "/") and k != f"{op}/keys"}
        for i, n in enumerate(names):
            state[n] = {k: v[i] for k, v in arrays.items()}
    reader.close()
    return state


def assert_same_state(got: dict, want: dict) -> None:
    import numpy as np

    assert sorted(got) == sorted(want)
    for key, arrays in want.items():
        assert int(got[key]["steps"]) == int(arrays["steps"]), f"{key}: steps differ (lost or repeated events)"
        assert int(got[key]["slab/norm_count"]) == int(arrays["slab/norm_count"])
        for name, arr in arrays.items():
            np.testing.assert_allclose(got[key][name], arr, rtol=1e-5, atol=1e-5, err_msg=f"{key} {name}")


def assert_outputs_match(dedup: dict, reference: dict) -> None:
    import numpy as np

    by_event = {(r["key"], r["ts"]): r for r in dedup.values()}
    assert len(by_event) == len(dedup), "two source offsets produced the same (key, ts)"
    assert sorted(by_event) == sorted(reference)
    for k, want in reference.items():
        np.testing.assert_allclose(by_event[k]["forecast"]["p50"], want["forecast"]["p50"], rtol=1e-5, atol=1e-5)


dedup = dedup_outputs
