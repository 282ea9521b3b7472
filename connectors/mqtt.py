"""MQTT source and sink (paho-mqtt 2.x) for sensor feeds.

The source subscribes with QoS 1 (resubscribing after every reconnect) and takes each
message's key from one level of its topic: with ``topics: ["plant/+/temp"]`` and
``key_from_topic: 1``, a message on ``plant/boiler-3/temp`` belongs to ``boiler-3``. The
payload is a JSON event as on Kafka (``{"ts": ..., "value": ...}``), or with ``format: text``
one UTF-8 text event (into the rows' ``text`` column, stamped with its receive time; blank,
too long or non-UTF-8 text is dead-lettered). Messages are buffered in a bounded queue; when
it is full the network thread blocks and the broker holds the rest.

MQTT cannot replay, so state is only as durable as the pipeline's checkpoint file: after a
crash the state resumes from the last checkpoint and the messages received since then have
no effect (with ``clean_session: false`` and a fixed ``client_id`` the broker keeps queueing
QoS 1 messages while the daemon is down).

The sink publishes one JSON row per output on ``topic`` (``{key}`` is replaced by the key)
with QoS 1; ``flush`` waits for every PUBACK.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry

from rnnstream.config import MqttSinkConfig, MqttSourceConfig
from rnnstream.connectors.kafka_wire import WireDecoder, WireMessages
from rnnstream.errors import ConnectorError
from rnnstream.engine.keys import KeyTable
from rnnstream.connectors.encode import encode_values
from rnnstream.engine.records import OutputBatch, RecordBatch

__all__ = ["MqttSource", "MqttSink", "make_source", "make_sink", "topic_key"]

log = logging.getLogger(__name__)


def topic_key(topic: str, level: int | None) -> str | None:
    """The key a topic names: one level of it, or the whole topic when ``level`` is None.

    >>> topic_key("plant/boiler-3/temp", 1), topic_key("plant/x", None), topic_key("plant", 1)
    ('boiler-3', 'plant/x', None)
    """
    if level is None:
        return topic
    parts = topic.split("/")
    return parts[level] if level < len(parts) and parts[level] else None


def _client(client_id: str | None, clean_session: bool, settings: dict[str, Any]):
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise ConnectorError("MQTT needs paho-mqtt: pip install 'rnnstream[mqtt]'") from None
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "", clean_session=clean_session)
    if "username" in settings:
        c.username_pw_set(settings["username"], settings.get("password"))
    if "tls" in settings:
        c.tls_set(**(settings["tls"] or {}))
    c.reconnect_delay_set(min_delay=1, max_delay=30)
    return c


class MqttSource:
    """See :class:`~rnnstream.config.MqttSourceConfig`."""

    def __init__(self, cfg: MqttSourceConfig, keys: KeyTable, *, width: int,
                 registry: CollectorRegistry | None = None) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self.decoder = WireDecoder(
            cfg.name, keys, width=width, fmt=cfg.format, key_field=cfg.key_field, ts_field=cfg.ts_field,
            value_fields=list(cfg.value_fields), max_record_bytes=cfg.max_record_bytes,
            max_text_bytes=cfg.max_text_bytes,
        )
        self._q: queue.Queue[tuple[str, bytes, int]] = queue.Queue(maxsize=cfg.queue_size)
        self._received = 0
        self.ready = False
        self._client = _client(cfg.client_id, cfg.clean_session, cfg.client)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        self._client.loop_start()

    # -- paho callbacks (network thread) --------------------------------------------------------
    def _on_connect(self, client, _userdata, _flags, reason, _props) -> None:
        if reason.is_failure:
            log.warning("mqtt source %s: connection refused: %s", self.name, reason)
            return
        log.info("mqtt source %s connected to %s:%d", self.name, self.cfg.host, self.cfg.port)
        client.subscribe([(t, self.cfg.qos) for t in self.cfg.topics])

    def _on_subscribe(self, _client, _userdata, _mid, reasons, _props) -> None:
        bad = [r for r in reasons if r.is_failure]
        if bad:
            log.error("mqtt source %s: subscription refused: %s", self.name, bad[0])
        else:
            self.ready = True

    def _on_disconnect(self, _client, _userdata, _flags, reason, _props) -> None:
        self.ready = False
        log.warning("mqtt source %s disconnected (%s); reconnecting", self.name, reason)

    def _on_message(self, _client, _userdata, msg) -> None:
        # Stamped on receipt: an event without its own timestamp (all text events) gets the time
        # it arrived, not the later time the pipeline got round to it.
        self._q.put((msg.topic, msg.payload, time.time_ns() // 1_000_000))

    # -- source protocol ----------------------------------------------------------------------
    @property
    def exhausted(self) -> bool:
        return False

    def position(self) -> dict[str, int]:
        return {"received": self._received}

    def seek(self, position: Any) -> None:
        """MQTT cannot replay; the checkpoint's state is restored, the stream continues live."""

    def commit(self, position: Any) -> None:
        """QoS 1 messages are acknowledged on receipt; the checkpoint file holds the state."""

    def poll(self, timeout_s: float) -> RecordBatch | None:
        items: list[tuple[str, bytes, int]] = []
        try:
            items.append(self._q.get(timeout=max(0.0, timeout_s)))
            while len(items) < self.cfg.batch_records:
                items.append(self._q.get_nowait())
        except queue.Empty:
            pass
        if not items:
            return None
        msgs = WireMessages()
        level = self.cfg.key_from_topic
        for topic, payload, received_ms in items:
            key = topic_key(topic, level)
            self._received += 1
            msgs.add(topic, 0, self._received, key.encode() if key else None, payload, None, received_ms)
        t_decode = time.perf_counter()
        batch = self.decoder.decode(msgs)
        batch.decode_s = time.perf_counter() - t_decode  # the "decode" stage, apart from polling
        # Partitions and offsets mean nothing on MQTT; the topic and any text are the row's.
        batch.meta = {k: v for k, v in batch.meta.items() if k in ("source_topic", "text")}
        batch.position = self.position()
        return batch

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


class MqttSink:
    """See :class:`~rnnstream.config.MqttSinkConfig`."""

    flushes_on_schedule = True  # the pipeline commits on its interval to surface delivery failures

    def __init__(self, cfg: MqttSinkConfig, *, registry: CollectorRegistry | None = None) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self._client = _client(None, True, cfg.client)
        self._client.max_inflight_messages_set(1000)
        self._connected = threading.Event()
        self._client.on_connect = lambda c, u, f, reason, p: (not reason.is_failure) and self._connected.set()
        self._client.connect_async(cfg.host, cfg.port)
        self._client.loop_start()
        self._pending: list = []

    def write(self, batch: OutputBatch) -> None:
        # paho accepts a publish before the connection is up but marks it failed (it may still
        # go out later), so flush() could not tell delivered from lost: publish only connected.
        if len(batch) and not self._connected.wait(self.cfg.flush_timeout_s):
            raise ConnectorError(f"mqtt sink {self.name}: not connected to {self.cfg.host}:{self.cfg.port}")
        template = self.cfg.topic
        for key, value in zip(batch.keys.tolist(), encode_values(batch)):
            safe = str(key).replace("+", "_").replace("#", "_")
            info = self._client.publish(template.replace("{key}", safe), value, qos=self.cfg.qos)
            self._pending.append(info)

    def flush(self) -> None:
        deadline = time.monotonic() + self.cfg.flush_timeout_s
        if self._pending and not self._connected.wait(self.cfg.flush_timeout_s):
            raise ConnectorError(f"mqtt sink {self.name}: not connected to {self.cfg.host}:{self.cfg.port}")
        for info in self._pending:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (ValueError, RuntimeError) as exc:
                raise ConnectorError(f"mqtt sink {self.name}: publish failed: {exc}") from None
            if not info.is_published():
                raise ConnectorError(f"mqtt sink {self.name}: publishes not acknowledged within the flush timeout")
        self._pending.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._client.loop_stop()
            self._client.disconnect()


def make_source(cfg: MqttSourceConfig, keys: KeyTable, *, width: int,
                registry: CollectorRegistry | None = None) -> MqttSource:
    return MqttSource(cfg, keys, width=width, registry=registry)


def make_sink(cfg: MqttSinkConfig, *, registry: CollectorRegistry | None = None) -> MqttSink:
    return MqttSink(cfg, registry=registry)
