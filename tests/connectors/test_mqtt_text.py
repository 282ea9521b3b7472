"""MQTT text events (``format: text``) through a real mosquitto: the payload is the text, the
topic names the key, the receive time is the timestamp, and bad text is dead-lettered."""

from __future__ import annotations

import time
import uuid

import pytest

from rnnstream.config import MqttSourceConfig
from rnnstream.connectors.mqtt import MqttSource
from rnnstream.engine.keys import KeyTable

pytestmark = pytest.mark.slow


def publish(port: int, msgs: list[tuple[str, bytes]]) -> None:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for info in [c.publish(topic, payload, qos=1) for topic, payload in msgs]:
            info.wait_for_publish(10)
    finally:
        c.loop_stop()
        c.disconnect()


def test_text_payloads_become_text_rows_and_bad_ones_dead_letters(mosquitto):
    prefix = f"logs-{uuid.uuid4().hex[:8]}"
    cfg = MqttSourceConfig(type="mqtt", name="logs", port=mosquitto, topics=[f"{prefix}/+/line"], key_from_topic=1,
                           format="text", max_text_bytes=40)
    src = MqttSource(cfg, KeyTable(), width=2)
    try:
        deadline = time.monotonic() + 10
        while not src.ready and time.monotonic() < deadline:
            time.sleep(0.02)
        assert src.ready, "never subscribed"
        sent = [("web1", 'GET /index "ok"\n'.encode()), ("web1", b"   "), ("web2", "ünïcödé 😀".encode()),
                ("web2", b"x" * 41), ("web1", b"caf\xe9"), ("", b"no key"), ("web1", b"{not json}")]
        t0 = time.time()
        publish(mosquitto, [(f"{prefix}/{k}/line", p) for k, p in sent])
        batches, deadline = [], time.monotonic() + 10
        while sum(len(b) + len(b.dead) for b in batches) < len(sent) and time.monotonic() < deadline:
            b = src.poll(0.1)
            batches += [b] if b is not None else []
    finally:
        src.close()
    texts = [t for b in batches for t in b.meta["text"].tolist()]
    assert texts == ['GET /index "ok"\n', "ünïcödé 😀", "{not json}"]
    assert [src.decoder.keys.name(int(k)) for b in batches for k in b.key_ids] == ["web1", "web2", "web1"]
    assert all(t0 - 1 <= ts <= time.time() for b in batches for ts in b.ts.tolist())  # receive time
    assert all(b.values.shape[1:] == (2,) and not b.values.any() for b in batches)
    assert all(set(b.meta) == {"source_topic", "text"} for b in batches)
    dead = [(d.reason, d.raw) for b in batches for d in b.dead]
    assert dead == [("empty_text", b"   "), ("oversized", b"x" * 41), ("non_utf8", b"caf\xe9"),
                    ("missing_key", b"no key")]
