"""The metric families: Prometheus naming conventions, and no stream key ever becomes a label."""

from __future__ import annotations

import csv
import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from rnnstream.runtime.build import build_pipeline
from rnnstream.config import parse_config
from rnnstream.metrics import LATENCY_BUCKETS, get_metrics

def families(registry):
    return {f.name: f for f in registry.collect()}


def test_names_follow_prometheus_conventions():
    reg = CollectorRegistry()
    fams = families(get_metrics(reg).registry)
    ours = {n: f for n, f in fams.items() if n.startswith("rnnstream_")}
    assert len(ours) >= 25
    assert set(fams) - set(ours) >= {"process_cpu_seconds", "process_resident_memory_bytes"}
    for name, fam in ours.items():
        assert re.fullmatch(r"rnnstream_[a-z0-9_]+", name), name
        assert fam.documentation, name
        assert not name.endswith("_total"), name  # the client appends _total to counters
        if "latency" in name or "duration" in name:
            assert name.endswith("_seconds"), name  # base unit, never _ms
        if "timestamp" in name:
            assert name.endswith("_timestamp_seconds"), name
        if name.endswith("_info"):
            assert fam.type == "gauge"
        if fam.type == "gauge" and name.endswith("_seconds"):
            assert "timestamp" in name, name  # a gauge in seconds is a point in time
        assert not re.search(r"_(ms|milliseconds|kb|mb|percent)(_|$)", name), name
    assert LATENCY_BUCKETS[0] == 0.0001 and LATENCY_BUCKETS[-1] == 5.0
    assert list(LATENCY_BUCKETS) == sorted(LATENCY_BUCKETS)


KEYS_FEW = ["alpha", "beta", "gamma"]
KEYS_MANY = [f"plant-{i}/line \"{i % 7}\" ñ" for i in range(60)] + ["x" * 300]


def run_pipeline(tmp_path, keys, forecast_model, anomaly_model):
    path = tmp_path / "in.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "key", "value"])
        for t in range(40):
            for i, k in enumerate(keys):
                # one bad value per run, and keys that stop early so the TTL evicts them
                if t < 30 or i % 2 == 0:
                    w.writerow([1000 + t, k, "bad" if (t, i) == (5, 0) else (i + t) % 9])
    cfg = parse_config({
        "sources": [{"type": "csv", "name": "in", "path": str(path), "batch_records": 32}],
        "operators": [
            {"type": "forecast", "name": "forecast", "model": str(forecast_model), "provider": "cpu",
             "state": {"ttl_s": 5}},
            {"type": "anomaly", "name": "anomaly", "model": str(anomaly_model), "provider": "cpu", "threshold": 0.5},
        ],
        "sinks": [{"type": "jsonl", "name": "out", "path": str(tmp_path / "out.jsonl")}],
        "dead_letter": {"type": "jsonl", "path": str(tmp_path / "dead.jsonl")},
        "checkpoint": {"path": str(tmp_path / "state.ckpt"), "interval_s": 0.01},
    })
    reg = CollectorRegistry()
    pipeline = build_pipeline(cfg, registry=reg)
    pipeline.run()
    pipeline.close()
    samples = [s for fam in text_string_to_metric_families(generate_latest(reg).decode()) for s in fam.samples]
    return [s for s in samples if s.name.startswith("rnnstream_")]


@pytest.mark.parametrize("keys", [KEYS_FEW, KEYS_MANY], ids=["3 keys", "61 keys"])
def test_no_stream_key_is_a_label(tmp_path, keys, forecast_model, anomaly_model):
    samples = run_pipeline(tmp_path, keys, forecast_model, anomaly_model)
    values = {v for s in samples for v in s.labels.values()}
    assert not values & set(keys)
    assert not any(k in v for v in values for k in keys if len(k) > 4)
    got = {s.name: s.value for s in samples if not s.labels or s.name.startswith("rnnstream_events")}
    assert got["rnnstream_events_in_total"] == sum(40 if i % 2 == 0 else 30 for i in range(len(keys)))


def test_series_count_does_not_grow_with_keys(tmp_path, forecast_model, anomaly_model):
    def series(keys, sub):
        (tmp_path / sub).mkdir()
        return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "le")))
                for s in run_pipeline(tmp_path / sub, keys, forecast_model, anomaly_model)}

    few, many = series(KEYS_FEW, "few"), series(KEYS_MANY, "many")
    # The same families and label sets, whatever the number of keys.
    assert few == many
    names = {n for n, _ in few}
    assert {"rnnstream_evictions_total", "rnnstream_dead_letters_total", "rnnstream_live_keys",
            "rnnstream_model_info", "rnnstream_last_commit_timestamp_seconds"} <= names
