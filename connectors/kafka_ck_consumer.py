"""The confluent-kafka consumer: a consumer-group member for :class:`~rnnstream.connectors.kafka.KafkaSource`.

Rebalances are served inside ``consume`` on the pipeline's thread; newly assigned partitions
stay paused until their state is restored and they are sought to the changelog's offset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from rnnstream.connectors.kafka_ck_conf import PRODUCER_ONLY, ck_module, drop, make
from rnnstream.connectors.kafka_client import TP, RebalanceHandler
from rnnstream.connectors.kafka_wire import WireMessages
from rnnstream.errors import ConfigError, ConnectorError

__all__ = ["CkConsumer", "LOW_LATENCY", "take_ready"]

log = logging.getLogger(__name__)

LOW_LATENCY = {"fetch.wait.max.ms": 10, "socket.nagle.disable": True, "session.timeout.ms": 10000,
               "heartbeat.interval.ms": 3000}
"""Consumer defaults (``client:`` overrides them).

A 10 s session (kafka-python's default, and Kafka's before 3.0) rather than librdkafka's 45 s:
a member that died stalls its partitions for that long, and Tansu takes about half of it to
form a group (24 s at start-up, measured). Heartbeats come from librdkafka's own thread, so
a slow batch never ends a session.

A fetch returns within 10 ms when the broker has nothing new: a broker that does not wake a
waiting fetch on new data (Tansu among them) would otherwise add up to librdkafka's 500 ms
to an event that arrives just after. An idle consumer then sends a hundred small fetches a
second, a few percent of a core on the broker. Small requests are not held back by Nagle's
algorithm."""

def take_ready(consumer, max_records: int, timeout_s: float) -> list:
    """Up to ``max_records`` messages from a confluent ``Consumer``: what is there now, or else
    the first to arrive within ``timeout_s`` and what came with it.

    ``consume(n, timeout)`` waits until it has all ``n``: at a modest rate that would hold the
    first message back for the whole timeout.
    """
    batch = consumer.consume(num_messages=max_records, timeout=0)
    if batch or timeout_s <= 0:
        return batch
    first = consumer.poll(timeout_s)
    if first is None:
        return []
    return [first, *consumer.consume(num_messages=max_records - 1, timeout=0)] if max_records > 1 else [first]


class _Stamps(Sequence):
    """Message timestamps (ms), read only if the decoder asks: a record with its own ts never needs one."""

    def __init__(self, batch: list) -> None:
        self._batch = batch
        self._stamps: list[int] | None = None

    def _all(self) -> list[int]:
        if self._stamps is None:
            self._stamps = [m.timestamp()[1] for m in self._batch]
        return self._stamps

    def __getitem__(self, i):
        return self._all()[i]

    def __len__(self) -> int:
        return len(self._batch)

    def __iter__(self):
        return iter(self._all())


class CkConsumer:
    def __init__(self, servers: list[str], group_id: str, client: dict[str, Any]) -> None:
        if client.get("enable.auto.commit") not in (None, False, "false"):
            raise ConfigError("client.enable.auto.commit: rnnstream commits offsets itself; it must stay false")
        conf = {"bootstrap.servers": ",".join(servers), "group.id": group_id, "auto.offset.reset": "earliest",
                "client.id": "rnnstream", **LOW_LATENCY, **drop(client, PRODUCER_ONLY), "enable.auto.commit": False}
        self._c = make(ck_module().Consumer, conf, "consumer")
        self._handler: RebalanceHandler | None = None
        self._pending: list[TP] = []
        self._retry_at = 0.0
        self._timeout = float(client.get("socket.timeout.ms", 30000)) / 1000.0

    def _tp(self, tp: TP, offset: int | None = None):
        ck = ck_module()
        return ck.TopicPartition(tp[0], tp[1]) if offset is None else ck.TopicPartition(tp[0], tp[1], offset)

    def subscribe(self, topics: list[str], handler: RebalanceHandler) -> None:
        self._handler = handler
        self._c.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)

    # -- rebalance (served inside consume, on the caller's thread) --------------------------
    def _on_assign(self, consumer, parts) -> None:
        consumer.assign(parts)
        if parts:
            consumer.pause(parts)
            self._pending.extend((p.topic, p.partition) for p in parts)
        elif self._handler is not None:
            self._handler.assigned([])  # a member with nothing to do is still ready

    def _on_revoke(self, _consumer, parts) -> None:
        self._gone([(p.topic, p.partition) for p in parts], False)

    def _on_lost(self, _consumer, parts) -> None:
        self._gone([(p.topic, p.partition) for p in parts], True)

    def _gone(self, tps: list[TP], lost: bool) -> None:
        gone = set(tps)
        self._pending = [tp for tp in self._pending if tp not in gone]
        if self._handler is not None and tps:
            self._handler.revoked(tps, lost)

    def _finish_assign(self) -> None:
        if time.monotonic() < self._retry_at or self._handler is None:
            return
        pending = list(self._pending)
        try:
            offsets = self._handler.assigned(pending)
        except Exception as exc:  # noqa: BLE001 - keep them paused and retry
            log.warning("restoring %d assigned partitions failed (%s); retrying in 2s", len(pending), exc)
            self._retry_at = time.monotonic() + 2.0
            return
        for tp in pending:
            if tp in offsets:
                self._c.seek(self._tp(tp, offsets[tp]))
        done = set(pending)
        self._pending = [tp for tp in self._pending if tp not in done]
        self._c.resume([self._tp(tp) for tp in pending])

    # -- data -------------------------------------------------------------------------------
    def poll(self, timeout_s: float, max_records: int) -> WireMessages:
        ck = ck_module()
        try:
            batch = take_ready(self._c, max_records, timeout_s)
        except ck.KafkaException as exc:
            raise ConnectorError(f"kafka consume: {exc}") from None
        # Taken before the seek: this batch may hold records a just-assigned partition fetched
        # from its group offset, behind the changelog's; the seek re-reads them in order.
        held = set(self._pending)
        if self._pending:
            self._finish_assign()
        if any([m.error() is not None for m in batch]):
            batch = [m for m in batch if self._usable(m, ck)]
        if held:
            batch = [m for m in batch if (m.topic(), m.partition()) not in held]
        # Column by column: a C call per message and field, no Python frame per message.
        return WireMessages([m.topic() for m in batch], [m.partition() for m in batch], [m.offset() for m in batch],
                            [m.key() for m in batch], [m.value() for m in batch], [m.headers() for m in batch],
                            _Stamps(batch))

    @staticmethod
    def _usable(m, ck) -> bool:
        err = m.error()
        if err is None:
            return True
        if err.code() != ck.KafkaError._PARTITION_EOF:
            if err.fatal():
                raise ConnectorError(f"kafka consume: {err}")
            log.warning("kafka consume: %s", err)
        return False

    def assignment(self) -> list[TP]:
        return [(p.topic, p.partition) for p in self._c.assignment()]

    def pause(self, tps: list[TP]) -> None:
        if tps:
            self._c.pause([self._tp(tp) for tp in tps])

    def resume(self, tps: list[TP]) -> None:
        held = set(self._pending)
        live = [self._tp(tp) for tp in tps if tp not in held]
        if live:
            self._c.resume(live)

    def seek(self, tp: TP, offset: int) -> None:
        self._c.seek(self._tp(tp, offset))

    def commit(self, offsets: dict[TP, int], *, wait: bool = True) -> None:
        if not offsets:
            return
        try:
            self._c.commit(offsets=[self._tp(tp, off) for tp, off in offsets.items()], asynchronous=not wait)
        except ck_module().KafkaException as exc:
            raise ConnectorError(f"kafka offset commit: {exc}") from None

    def committed(self, tps: list[TP]) -> dict[TP, int | None]:
        try:
            got = self._c.committed([self._tp(tp) for tp in tps], timeout=self._timeout)
        except ck_module().KafkaException as exc:
            raise ConnectorError(f"kafka committed offsets: {exc}") from None
        return {(p.topic, p.partition): (p.offset if p.offset >= 0 else None) for p in got}

    def _watermarks(self, tp: TP) -> tuple[int, int]:
        try:
            return self._c.get_watermark_offsets(self._tp(tp), timeout=self._timeout)
        except ck_module().KafkaException as exc:
            raise ConnectorError(f"kafka watermarks of {tp[0]}/{tp[1]}: {exc}") from None

    def beginning(self, tps: list[TP]) -> dict[TP, int]:
        return {tp: self._watermarks(tp)[0] for tp in tps}

    def end(self, tps: list[TP]) -> dict[TP, int]:
        return {tp: self._watermarks(tp)[1] for tp in tps}

    def highwater(self, tp: TP) -> int | None:
        try:
            got = self._c.get_watermark_offsets(self._tp(tp), cached=True)
        except ck_module().KafkaException:
            return None
        return got[1] if got and got[1] >= 0 else None

    def close(self) -> None:
        try:
            self._c.close()
        except Exception as exc:  # noqa: BLE001 - closing against a dead broker
            log.warning("closing kafka consumer: %s", exc)
