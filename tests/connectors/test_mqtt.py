"""(e) An MQTT sensor feed end to end: topic wildcard -> key, the forecaster, outputs on a
topic per key; the checkpoint file carries state across a daemon restart."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from rnnstream.connectors.mqtt import topic_key

pytestmark = pytest.mark.slow


def test_topic_levels_name_keys():
    assert topic_key("plant/boiler-3/temp", 1) == "boiler-3"
    assert topic_key("plant/boiler-3/temp", None) == "plant/boiler-3/temp"
    assert topic_key("plant", 1) is None and topic_key("plant//temp", 1) is None


class Subscriber:
    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.rows: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.c.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert ready.wait(10)

    def _on_message(self, _c, _u, msg) -> None:
        with self._lock:
            self.rows.append((msg.topic, json.loads(msg.payload)))

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def publish(port: int, readings) -> None:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.max_inflight_messages_set(100)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = [c.publish(f"plant/{k}/temp", json.dumps({"ts": t, "value": v}), qos=1) for k, t, v in readings]
    for info in infos:
        info.wait_for_publish(10)
    c.loop_stop()
    c.disconnect()


def test_mqtt_sensor_feed_runs_through_the_forecaster_and_out_on_a_topic(mosquitto, kit, tmp_path,
                                                                         small_forecaster):
    rng = random.Random(2)
    keys = [f"boiler-{i}" for i in range(6)]
    readings = [(k, float(t), round(60 + 3 * rng.random(), 3)) for t in range(80) for k in keys]
    half = len(readings) // 2
    prefix = kit.unique("out")
    cfg = {
        "sources": [{"type": "mqtt", "name": "plant", "port": mosquitto, "topics": ["plant/+/temp"],
                     "key_from_topic": 1}],
        "operators": [{"type": "forecast", "name": "forecast", "model": str(small_forecaster), "provider": "cpu"}],
        "sinks": [{"type": "mqtt", "name": "out", "port": mosquitto, "topic": prefix + "/{key}/forecast"}],
        "metrics": {"port": kit.free_port()},
        "checkpoint": {"path": str(tmp_path / "state.ckpt"), "interval_s": 0.2},
    }
    sub = Subscriber(mosquitto, prefix + "/#")
    d = kit.Daemon(tmp_path, cfg)
    try:
        for part in (readings[:half], readings[half:]):
            n = len(sub.rows)
            d.start()
            kit.wait_for(lambda: d.http("/readyz")[0] == 200, 30, "the daemon subscribed")
            publish(mosquitto, part)
            kit.wait_for(lambda: len(sub.rows) >= n + len(part), 60, "the forecasts")
            time.sleep(0.3)
            assert d.terminate() == 0
    finally:
        if d.alive():
            d.kill9()
        sub.close()
    assert len(sub.rows) == len(readings)
    for topic, row in sub.rows:
        assert topic == f"{prefix}/{row['key']}/forecast"
    reference, _ = kit.reference_run(tmp_path, readings, small_forecaster)
    got = {(row["key"], row["ts"]): row for _, row in sub.rows}
    assert sorted(got) == sorted(reference)
    for k, want in reference.items():
        # The second half continues from the checkpointed state: equal forecasts prove it.
        assert got[k]["forecast"]["p50"] == pytest.approx(want["forecast"]["p50"], abs=1e-5)
