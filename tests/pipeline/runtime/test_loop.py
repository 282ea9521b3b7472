"""The pipeline end to end: file replay -> forecast + anomaly -> JSONL, with checkpoints."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from rnnstream.runtime.build import build_pipeline
from rnnstream.config import parse_config
from rnnstream.errors import SnapshotError


def config(sensor_csv, out, forecast_model, anomaly_model, *, ckpt=None, batch_records=64, dead=None):
    return parse_config({
        "sources": [{"type": "csv", "name": "s", "path": str(sensor_csv), "ts_field": "timestamp",
                     "batch_records": batch_records}],
        "operators": [
            {"type": "forecast", "name": "forecast", "model": str(forecast_model), "provider": "cpu",
             "batching": {"max_batch": 2}},
            {"type": "anomaly", "name": "anomaly", "model": str(anomaly_model), "provider": "cpu"},
        ],
        "sinks": [{"type": "jsonl", "name": "out", "path": str(out)}],
        "dead_letter": {"type": "jsonl", "path": str(dead or out.with_suffix(".dead"))},
        "metrics": {"enabled": False},
        "checkpoint": {"path": str(ckpt) if ckpt else None, "interval_s": 0.001},
    })


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_event_gets_forecast_and_score(sensor_csv, tmp_path, forecast_model, anomaly_model):
    out = tmp_path / "out.jsonl"
    reg = CollectorRegistry()
    p = build_pipeline(config(sensor_csv, out, forecast_model, anomaly_model), registry=reg)
    stats = p.run()
    p.close()
    rows = read(out)
    assert stats.events_out == len(rows) == 600 and stats.dead == 0
    first = rows[0]
    assert set(first) >= {"key", "ts", "value", "forecast", "anomaly"}
    assert len(first["forecast"]["p50"]) == 4
    assert all(r["forecast"]["p10"][0] <= r["forecast"]["p50"][0] <= r["forecast"]["p90"][0] for r in rows)
    assert all(0.0 <= r["anomaly"]["score"] <= 1.0 for r in rows)
    # Per-key order is the file's order.
    for k in ("k0", "k1", "k2"):
        ts = [r["ts"] for r in rows if r["key"] == k]
        assert ts == sorted(ts) and len(ts) == 200
    assert reg.get_sample_value("rnnstream_events_in_total", {"source": "s"}) == 600
    assert reg.get_sample_value("rnnstream_live_keys", {"operator": "forecast"}) == 3
    # max_batch=2 with 3 keys: every round needs two calls.
    assert reg.get_sample_value("rnnstream_batch_size_bucket", {"operator": "forecast", "le": "2.0"}) > 0
    # Every event is stepped exactly once, whatever the flush timing.
    assert reg.get_sample_value("rnnstream_batch_size_sum", {"operator": "forecast"}) == 600


def test_snapshot_restore_continue_equals_uninterrupted(sensor_csv, tmp_path, forecast_model, anomaly_model):
    whole = tmp_path / "whole.jsonl"
    p = build_pipeline(config(sensor_csv, whole, forecast_model, anomaly_model))
    p.run()
    p.close()

    parts = tmp_path / "parts.jsonl"
    ckpt = tmp_path / "state.ckpt"
    for stop_after in (150, 330, None):
        p = build_pipeline(config(sensor_csv, parts, forecast_model, anomaly_model, ckpt=ckpt))
        stop = threading.Event()
        if stop_after is not None:
            sink = p.sinks[0]
            original = sink.write

            def write(batch, original=original, stop=stop, limit=stop_after, seen=[0]):
                original(batch)
                seen[0] += len(batch)
                if seen[0] >= limit:
                    stop.set()

            sink.write = write
        p.run(stop)
        p.close()
    a, b = read(whole), read(parts)
    assert len(a) == len(b) == 600
    key = lambda r: (r["key"], r["ts"])  # noqa: E731
    for x, y in zip(sorted(a, key=key), sorted(b, key=key)):
        assert key(x) == key(y)
        np.testing.assert_allclose(x["forecast"]["p50"], y["forecast"]["p50"], atol=1e-6)
        assert x["anomaly"]["score"] == pytest.approx(y["anomaly"]["score"], abs=1e-6)


def test_changed_model_resets_state_instead_of_misusing_it(sensor_csv, tmp_path, forecast_model, anomaly_model,
                                                           model_factory):
    ckpt = tmp_path / "state.ckpt"
    out = tmp_path / "o.jsonl"
    p = build_pipeline(config(sensor_csv, out, forecast_model, anomaly_model, ckpt=ckpt))
    p.run()
    p.close()
    features = {"value_dim": 1, "horizon": 4, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01}
    _, retrained = model_factory(cell="gru", input_size=1, hidden=8, output_size=12, task="forecast",
                                 features=features, seed=99)
    p2 = build_pipeline(config(sensor_csv, out, retrained, anomaly_model, ckpt=ckpt))
    outcome = p2.restore()
    assert outcome == {"forecast": "model_changed", "anomaly": "restored"}
    assert p2.schedulers["forecast"].store.live_keys == 0
    assert p2.schedulers["anomaly"].store.live_keys == 3
    p2.close()


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_snapshot_is_one_clear_error(sensor_csv, tmp_path, forecast_model, anomaly_model, damage):
    ckpt = tmp_path / "state.ckpt"
    out = tmp_path / "o.jsonl"
    p = build_pipeline(config(sensor_csv, out, forecast_model, anomaly_model, ckpt=ckpt))
    p.run()
    p.close()
    data = bytearray(ckpt.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-100] ^= 0x01
    else:
        data = bytearray(b"hello world" * 10)
    ckpt.write_bytes(bytes(data))
    p2 = build_pipeline(config(sensor_csv, out, forecast_model, anomaly_model, ckpt=ckpt))
    with pytest.raises(SnapshotError):
        p2.restore()
    p2.close()


def test_bad_records_are_dead_lettered_and_counted(tmp_path, forecast_model, anomaly_model):
    src = tmp_path / "in.jsonl"
    good = [json.dumps({"key": f"k{i % 3}", "ts": i, "value": float(i)}) for i in range(30)]
    bad = [
        (b'{"key": "a", "value": ', "bad_json"),
        (b'[1, 2]', "not_object"),
        (b'{"value": 1.0}', "missing_key"),
        (b'{"key": "a", "value": "x"}', "non_numeric"),
        (b'{"key": "a", "value": NaN}', "non_finite"),
        (b'{"key": "a", "value": Infinity}', "non_finite"),
        (b'{"key": "a", "value": 1e39}', "non_finite"),
        (b'{"key": "a", "value": [1.0, 2.0]}', "wrong_width"),
        (b'{"key": "a", "ts": "yesterday", "value": 1}', "bad_timestamp"),
        (b'{"key": "a", "value": 1, "pad": "' + b"x" * 70000 + b'"}', "oversized"),
        (b'{"key": "\xff\xfe", "value": 1}', "non_utf8"),
        (b'{"key": "a", "val\xff": 1}', "non_utf8"),
        (b'{"key": "a"}', "missing_value"),
        (b'{"key": "a", "control": "explode"}', "bad_control"),
    ]
    lines = []
    for i, g in enumerate(good):
        lines.append(g.encode())
        if i < len(bad):
            lines.append(bad[i][0])
    src.write_bytes(b"\n".join(lines) + b"\n")
    out, dead = tmp_path / "out.jsonl", tmp_path / "dead.jsonl"
    cfg = parse_config({
        "sources": [{"type": "jsonl", "name": "j", "path": str(src), "batch_records": 7}],
        "operators": [{"type": "forecast", "name": "forecast", "model": str(forecast_model), "provider": "cpu"}],
        "sinks": [{"type": "jsonl", "name": "out", "path": str(out)}],
        "dead_letter": {"type": "jsonl", "path": str(dead)},
        "metrics": {"enabled": False},
    })
    reg = CollectorRegistry()
    p = build_pipeline(cfg, registry=reg)
    stats = p.run()
    p.close()
    expected = [reason for _, reason in bad if reason]
    dead_rows = [json.loads(x)["dead_letter"] for x in dead.read_text().splitlines()]
    assert sorted(r["reason"] for r in dead_rows) == sorted(expected)
    assert all(("raw" in r) or ("raw_base64" in r) for r in dead_rows)
    assert [json.loads(x)["value"] for x in out.read_text().splitlines() if json.loads(x)["key"] in ("k0", "k1", "k2")] \
        == [float(i) for i in range(30)]
    for reason in set(expected):
        assert reg.get_sample_value("rnnstream_dead_letters_total", {"source": "j", "reason": reason}) == \
            expected.count(reason)
    assert stats.dead == len(expected)


def test_control_records_end_and_reset_keys(tmp_path, forecast_model):
    src = tmp_path / "in.jsonl"
    rows = [{"key": "a", "ts": 1, "value": 1.0}, {"key": "b", "ts": 1, "value": 2.0},
            {"key": "a", "control": "end"}, {"key": "b", "ts": 2, "value": 2.0}]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = parse_config({
        "sources": [{"type": "jsonl", "name": "j", "path": str(src)}],
        "operators": [{"type": "forecast", "name": "forecast", "model": str(forecast_model), "provider": "cpu"}],
        "sinks": [{"type": "jsonl", "name": "out", "path": str(tmp_path / "o.jsonl")}],
        "metrics": {"enabled": False},
    })
    reg = CollectorRegistry()
    p = build_pipeline(cfg, registry=reg)
    p.run()
    assert p.schedulers["forecast"].store.live_keys == 1
    assert p.keys.get("a") is None and p.keys.get("b") is not None  # the ended key's id was released
    assert reg.get_sample_value("rnnstream_evictions_total", {"operator": "forecast", "reason": "end"}) == 1
    p.close()


def test_decode_and_encode_time_are_stages_of_their_own(tmp_path, sensor_csv, forecast_model):
    from prometheus_client import CollectorRegistry

    from rnnstream.config import parse_config
    from rnnstream.runtime.build import build_pipeline

    registry = CollectorRegistry()
    cfg = parse_config({"sources": [{"type": "csv", "name": "s", "path": str(sensor_csv), "ts_field": "timestamp"}],
                        "operators": [{"type": "forecast", "name": "f", "model": str(forecast_model),
                                       "provider": "cpu"}],
                        "sinks": [{"type": "jsonl", "name": "o", "path": str(tmp_path / "o.jsonl")}],
                        "metrics": {"enabled": False}})
    pipe = build_pipeline(cfg, registry=registry)
    pipe.run()
    pipe.close()

    def stage(name: str) -> float:
        return registry.get_sample_value("rnnstream_stage_seconds_total", {"stage": name, "state": "busy"}) or 0.0

    assert stage("decode") > 0 and stage("encode") > 0
    assert stage("poll") >= 0 and stage("produce") > 0 and stage("model") > 0
    waits = registry.get_sample_value("rnnstream_batch_wait_seconds_count")
    assert waits and waits >= 1
