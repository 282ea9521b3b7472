"""(d) 10 000 malformed messages mixed into good traffic: every one is dead-lettered with its
reason and original payload, good events come out as if the bad ones were never there, and
the daemon never restarts."""

from __future__ import annotations

import importlib.util
import json
import random

import pytest

pytestmark = pytest.mark.slow

LIBRARIES = ["kafka-python", pytest.param("confluent", marks=pytest.mark.skipif(
    importlib.util.find_spec("confluent_kafka") is None, reason="the optional confluent-kafka client is not installed"))]

# (payload, headers, key override, expected reason); the key override None keeps the stream key.
BAD = [
    (b'{"ts": 1, "value": ', None, None, "bad_json"),
    (b'[1, 2, 3]', None, None, "not_object"),
    (b'{"ts": 1, "value": "abc"}', None, None, "non_numeric"),
    (b'{"ts": 1, "value": true}', None, None, "non_numeric"),
    (b'{"ts": 1, "value": {"a": 1}}', None, None, "non_numeric"),
    (b'{"ts": 1, "value": null}', None, None, "non_numeric"),
    (b'{"ts": 1, "value": NaN}', None, None, "non_finite"),
    (b'{"ts": 1, "value": Infinity}', None, None, "non_finite"),
    (b'{"ts": 1, "value": -Infinity}', None, None, "non_finite"),
    (b'{"ts": 1, "value": 1e39}', None, None, "non_finite"),
    (b'{"ts": 1, "value": [1.0, 2.0]}', None, None, "wrong_width"),
    (b'{"ts": 1, "value": []}', None, None, "wrong_width"),
    (b'{"ts": 1, "value": "\xff\xfe"}', None, None, "non_utf8"),
    (b'{"ts": 1, "value": 1.0}', None, b"\xff\xfe-key", "non_utf8"),
    (b'{"ts": 1, "value": 1.0}', None, b"", "missing_key"),
    (b'{"ts": "yesterday", "value": 1.0}', None, None, "bad_timestamp"),
    (b'{"ts": 1}', None, None, "missing_value"),
    (b'{"ts": 1, "value": 1.0}', [("seq", b"twelve")], None, "bad_header"),
    (b'<value>1</value>', [("content-type", b"application/xml")], None, "unsupported_content_type"),
]
OVERSIZED = (b'{"ts": 1, "value": 1.0, "pad": "' + b"x" * 70000 + b'"}', None, None, "oversized")


@pytest.mark.parametrize("library", LIBRARIES)
def test_malformed_messages_go_to_dead_letters_and_good_ones_are_unaffected(tansu, kit, tmp_path, small_forecaster, library):
    rng = random.Random(4)
    topic, out, dead, group = kit.unique("d-in"), kit.unique("d-out"), kit.unique("d-dead"), kit.unique("d-g")
    tool = kit.KafkaTool(tansu.bootstrap)
    tool.create((topic, 3), (out, 3), (dead, 2))
    keys = [f"sensor-{i}" for i in range(20)]
    good = [(k, float(t), round(rng.gauss(10, 2), 4)) for t in range(100) for k in keys]
    bad = [BAD[i % len(BAD)] for i in range(9950)] + [OVERSIZED] * 50
    rng.shuffle(bad)
    # Interleave: bad messages ride on the good streams' keys, so they share partitions.
    order = [("good", g) for g in good] + [("bad", b) for b in bad]
    rng.shuffle(order)
    sends = []
    for kind, item in order:
        if kind == "good":
            k, t, v = item
            sends.append((None, tool.send(topic, k.encode(), json.dumps({"ts": t, "value": v}).encode())))
        else:
            payload, headers, key, reason = item
            k = keys[rng.randrange(len(keys))].encode() if key is None else (key or None)
            sends.append(((payload, reason), tool.send(topic, k, payload, headers)))
    tool.flush()
    expected_dead = {}
    for bad_item, fut in sends:
        if bad_item is not None:
            md = fut.get(30)
            expected_dead[(md.partition, md.offset)] = bad_item
    assert len(expected_dead) == 10000

    port = kit.free_port()
    d = kit.Daemon(tmp_path, kit.kafka_config(tansu.bootstrap, topic=topic, out=out, dead=dead, group=group,
                                             model=small_forecaster, metrics_port=port, batch_records=1000,
                                             library=library))
    d.start()
    try:
        kit.wait_for(lambda: (d.metric("rnnstream_dead_letters_total") or 0) >= 10000 and
                     (d.metric("rnnstream_events_out_total") or 0) >= 2000, 120, "all events handled")
        pid = d.proc.pid
        dead_msgs = tool.read(dead, until=10000)
        outputs = kit.dedup(tool.read(out, until=2000))
        assert d.alive() and d.proc.pid == pid and d.starts == 1
        assert d.metric("rnnstream_recoveries_total") in (None, 0.0)
        assert d.http("/healthz")[0] == 200 and d.http("/readyz")[0] == 200
    finally:
        code = d.terminate()
    assert code == 0

    got = {}
    for m in dead_msgs:
        h = m["headers"]
        got[(int(h["rnnstream-source-partition"]), int(h["rnnstream-source-offset"]))] = (
            m["value"], h["rnnstream-dead-reason"].decode(), m["key"])
    assert set(got) == set(expected_dead)
    for pos, (payload, reason) in expected_dead.items():
        value, got_reason, _ = got[pos]
        assert got_reason == reason, (pos, payload[:60])
        assert value == payload  # the original payload, byte for byte
    reasons = {r for _, r in expected_dead.values()}
    assert len(reasons) == 12

    sent_good = [item for kind, item in order if kind == "good"]  # per-key order as sent
    reference, _ = kit.reference_run(tmp_path, sent_good, small_forecaster)
    kit.assert_outputs_match(outputs, reference)
    logs = d.logs()
    assert logs and all("level" in x for x in logs)
    assert not [x for x in logs if "connector failure" in x["msg"]]
