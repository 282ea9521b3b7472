"""The kafka-python (3.x) backend of :mod:`rnnstream.connectors.kafka_client`.

kafka-python 3 runs rebalance listeners on its IO thread, where blocking consumer calls
raise; so ``assigned`` is deferred: the listener pauses the new partitions and ``poll``
completes the assignment (restore, seek, resume) on the caller's thread before returning.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rnnstream.connectors.kafka_client import TP, RebalanceHandler
from rnnstream.connectors.kafka_wire import WireMessages
from rnnstream.errors import ConfigError, ConnectorError

__all__ = ["BACKEND", "KpyBackend", "KpyConsumer", "KpyProducer", "KpyReader", "KpyAdmin", "check_client"]

log = logging.getLogger(__name__)

_FORCED = {"enable_auto_commit": False}


def _errors():
    import kafka.errors

    return kafka.errors


def _open(cls, what: str, servers: list[str], cfg: dict[str, Any]):
    """Construct a kafka-python client; its failures become one clear rnnstream error."""
    try:
        return cls(**cfg)
    except _errors().KafkaError as exc:
        raise ConnectorError(f"kafka {what} for {servers}: {exc}") from None
    except TypeError as exc:  # an option this kafka-python does not know
        raise ConfigError(f"client: {exc}") from None


def _only(cls, client: dict[str, Any]) -> dict[str, Any]:
    """The settings ``cls`` understands: one ``client:`` mapping serves consumer, producers and admin."""
    return {k: v for k, v in client.items() if k in cls.DEFAULT_CONFIG}


def check_client(client: dict[str, Any]) -> None:
    """One ConfigError for a setting no kafka-python client knows (a typo, or confluent spelling)."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    known = set(KafkaConsumer.DEFAULT_CONFIG) | set(KafkaProducer.DEFAULT_CONFIG) | set(KafkaAdminClient.DEFAULT_CONFIG)
    unknown = sorted(set(client) - known)
    if unknown:
        raise ConfigError(f"client.{unknown[0]}: not a kafka-python setting")


class KpyConsumer:
    def __init__(self, servers: list[str], group_id: str, client: dict[str, Any]) -> None:
        from kafka import ConsumerRebalanceListener, KafkaConsumer

        for k, v in _FORCED.items():
            if k in client and client[k] != v:
                raise ConfigError(f"client.{k}: rnnstream commits offsets itself; it must stay {v}")
        check_client(client)
        # fetch_max_wait_ms 10, not 500: a broker that does not wake a waiting fetch on new data
        # (Tansu) would otherwise hold an event that arrives just after a fetch for half a second.
        cfg = {"bootstrap_servers": servers, "group_id": group_id, "auto_offset_reset": "earliest",
               "client_id": "rnnstream", "fetch_max_wait_ms": 10, **_only(KafkaConsumer, client), **_FORCED}
        self._c = _open(KafkaConsumer, "consumer", servers, cfg)
        owner = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                owner._revoked(revoked, False)

            def on_partitions_lost(self, lost):
                owner._revoked(lost, True)

            def on_partitions_assigned(self, assigned):
                owner._assigned(assigned)

        self._listener = Listener()
        self._handler: RebalanceHandler | None = None
        self._pending: list = []
        self._retry_at = 0.0
        self.commit_timeout_ms = int(cfg.get("request_timeout_ms", 30000))

    def subscribe(self, topics: list[str], handler: RebalanceHandler) -> None:
        self._handler = handler
        self._c.subscribe(topics, listener=self._listener)

    # -- rebalance (IO thread) --------------------------------------------------------------
    def _revoked(self, tps, lost: bool) -> None:
        gone = set(tps)
        self._pending = [tp for tp in self._pending if tp not in gone]
        if self._handler is not None and tps:
            self._handler.revoked([(tp.topic, tp.partition) for tp in tps], lost)

    def _assigned(self, tps) -> None:
        tps = list(tps)
        if tps:
            self._c.pause(*tps)
            self._pending.extend(tps)
        elif self._handler is not None:
            self._handler.assigned([])  # a member with nothing to do is still ready

    def _finish_assign(self) -> None:
        if time.monotonic() < self._retry_at or self._handler is None:
            return
        pending = list(self._pending)
        try:
            offsets = self._handler.assigned([(tp.topic, tp.partition) for tp in pending])
        except Exception as exc:  # noqa: BLE001 - keep the partitions paused and try again shortly
            log.warning("restoring %d assigned partitions failed (%s); retrying in 2s", len(pending), exc)
            self._retry_at = time.monotonic() + 2.0
            return
        for tp in pending:
            off = offsets.get((tp.topic, tp.partition))
            if off is not None:
                self._c.seek(tp, off)
        self._pending = [tp for tp in self._pending if tp not in set(pending)]
        self._c.resume(*pending)

    # -- data ------------------------------------------------------------------------------
    def poll(self, timeout_s: float, max_records: int) -> WireMessages:
        try:
            records = self._c.poll(timeout_ms=int(max(0.0, timeout_s) * 1000), max_records=max_records)
        except _errors().KafkaError as exc:
            raise ConnectorError(f"kafka poll: {exc}") from None
        # Taken before the seek: this batch may hold records a just-assigned partition fetched
        # from its group offset, behind the changelog's; the seek re-reads them in order.
        held = set(self._pending)
        if self._pending:
            self._finish_assign()
        msgs = WireMessages()
        for tp, recs in records.items():  # column by column, one partition's records at a time
            if tp in held:
                continue
            msgs.topics += [tp.topic] * len(recs)
            msgs.partitions += [tp.partition] * len(recs)
            msgs.offsets += [r.offset for r in recs]
            msgs.keys += [r.key for r in recs]
            msgs.values += [r.value for r in recs]
            msgs.headers += [r.headers or None for r in recs]  # no headers: [] here, None for the decoder
            msgs.timestamps_ms += [r.timestamp for r in recs]
        return msgs

    def assignment(self) -> list[TP]:
        return [(tp.topic, tp.partition) for tp in self._c.assignment()]

    def _tp(self, tp: TP):
        from kafka import TopicPartition

        return TopicPartition(tp[0], tp[1])

    def pause(self, tps: list[TP]) -> None:
        self._c.pause(*[self._tp(tp) for tp in tps])

    def resume(self, tps: list[TP]) -> None:
        held = set(self._pending)
        self._c.resume(*[t for t in (self._tp(tp) for tp in tps) if t not in held])

    def seek(self, tp: TP, offset: int) -> None:
        self._c.seek(self._tp(tp), offset)

    def commit(self, offsets: dict[TP, int], *, wait: bool = True) -> None:
        from kafka.structs import OffsetAndMetadata

        om = {self._tp(tp): OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()}
        if not om:
            return
        try:
            if wait:
                self._c.commit(om, timeout_ms=self.commit_timeout_ms)
            else:
                self._c.commit_async(om)
        except _errors().KafkaError as exc:
            raise ConnectorError(f"kafka offset commit: {exc}") from None

    def committed(self, tps: list[TP]) -> dict[TP, int | None]:
        try:
            return {tp: self._c.committed(self._tp(tp)) for tp in tps}
        except _errors().KafkaError as exc:
            raise ConnectorError(f"kafka committed offsets: {exc}") from None

    def beginning(self, tps: list[TP]) -> dict[TP, int]:
        try:
            got = self._c.beginning_offsets([self._tp(tp) for tp in tps])
        except _errors().KafkaError as exc:
            raise ConnectorError(f"kafka beginning offsets: {exc}") from None
        return {(tp.topic, tp.partition): off for tp, off in got.items()}

    def end(self, tps: list[TP]) -> dict[TP, int]:
        try:
            got = self._c.end_offsets([self._tp(tp) for tp in tps])
        except _errors().KafkaError as exc:
            raise ConnectorError(f"kafka end offsets: {exc}") from None
        return {(tp.topic, tp.partition): off for tp, off in got.items()}

    def highwater(self, tp: TP) -> int | None:
        return self._c.highwater(self._tp(tp))

    def close(self) -> None:
        try:
            self._c.close(autocommit=False)
        except Exception as exc:  # noqa: BLE001 - closing a consumer whose broker is gone
            log.warning("closing kafka consumer: %s", exc)


class KpyProducer:
    """acks=all, retries until ``delivery_timeout_ms`` (kafka-python's defaults, kept explicit)."""

    def __init__(self, servers: list[str], client: dict[str, Any]) -> None:
        from kafka import KafkaProducer

        check_client(client)
        cfg = {"bootstrap_servers": servers, "acks": "all", "linger_ms": 5, "batch_size": 256 * 1024,
               "client_id": "rnnstream", **_only(KafkaProducer, client)}
        self._p = _open(KafkaProducer, "producer", servers, cfg)
        self._failed = 0
        self._first_error: Exception | None = None

    def _on_error(self, exc: Exception) -> None:
        self._failed += 1
        if self._first_error is None:
            self._first_error = exc

    def send(self, topic, key, value, headers=None, partition=None) -> None:
        try:
            self._p.send(topic, value=value, key=key, headers=headers, partition=partition).add_errback(self._on_error)
        except _errors().KafkaError as exc:
            raise ConnectorError(f"kafka send to {topic}: {exc}") from None

    def send_many(self, topic, keys, values, headers) -> None:
        send, on_error = self._p.send, self._on_error
        try:
            for k, v, h in zip(keys, values, headers or [None] * len(values)):
                send(topic, value=v, key=k, headers=h).add_errback(on_error)
        except _errors().KafkaError as exc:
            raise ConnectorError(f"kafka send to {topic}: {exc}") from None

    def flush(self, timeout_s: float) -> None:
        try:
            self._p.flush(timeout=timeout_s)
        except _errors().KafkaError as exc:
            raise ConnectorError(f"kafka flush: {exc}") from None
        if self._failed:
            n, first = self._failed, self._first_error
            self._failed, self._first_error = 0, None
            raise ConnectorError(f"kafka: {n} messages were not delivered ({first})")

    def close(self) -> None:
        try:
            self._p.close(timeout=10)
        except Exception as exc:  # noqa: BLE001
            log.warning("closing kafka producer: %s", exc)


class KpyReader:
    """Reads whole partitions with a group-less consumer (changelog restore)."""

    def __init__(self, servers: list[str], client: dict[str, Any], *, idle_timeout_s: float = 30.0) -> None:
        from kafka import KafkaConsumer

        cfg = {"bootstrap_servers": servers, "client_id": "rnnstream-restore", **_only(KafkaConsumer, client),
               "group_id": None, **_FORCED}
        cfg.pop("group_instance_id", None)
        self._c = _open(KafkaConsumer, "reader", servers, cfg)
        self.idle_timeout_s = idle_timeout_s

    def scan(self, topic: str, partition: int, progress=None):
        from kafka import TopicPartition

        tp = TopicPartition(topic, partition)
        try:
            self._c.assign([tp])
            begin = self._c.beginning_offsets([tp])[tp]
            end = self._c.end_offsets([tp])[tp]
            self._c.seek(tp, begin)
            last = time.monotonic()
            while self._c.position(tp) < end:
                batch = self._c.poll(timeout_ms=500, max_records=1000).get(tp, [])
                if batch:
                    last = time.monotonic()
                elif time.monotonic() - last > self.idle_timeout_s:
                    raise ConnectorError(f"reading {topic}/{partition}: no progress for {self.idle_timeout_s:.0f}s")
                for r in batch:
                    if r.offset < end:
                        yield r.key or b"", r.value or b""
                if progress is not None and end > begin:
                    progress(min(1.0, (self._c.position(tp) - begin) / (end - begin)))
        except _errors().KafkaError as exc:
            raise ConnectorError(f"reading {topic}/{partition}: {exc}") from None
        finally:
            self._c.assign([])
        if progress is not None:
            progress(1.0)

    def close(self) -> None:
        self._c.close()


class KpyAdmin:
    def __init__(self, servers: list[str], client: dict[str, Any]) -> None:
        from kafka import KafkaAdminClient

        allowed = {k: v for k, v in _only(KafkaAdminClient, client).items() if k != "client_id"}
        self._a = _open(KafkaAdminClient, "admin", servers,
                        {"bootstrap_servers": servers, "client_id": "rnnstream-admin", **allowed})

    def partitions(self, topic: str) -> int | None:
        try:
            meta = self._a.describe_topics([topic])
        except _errors().KafkaError:
            return None
        for t in meta:
            if t.get("name", t.get("topic")) == topic and not t.get("error_code"):
                return len(t.get("partitions", [])) or None
        return None

    def create(self, topic: str, partitions: int, configs: dict[str, str], replication: int = -1) -> None:
        from kafka.admin import NewTopic

        try:
            self._a.create_topics([NewTopic(topic, partitions, replication, topic_configs=configs)])
        except _errors().TopicAlreadyExistsError:
            pass
        except _errors().KafkaError as exc:
            raise ConnectorError(f"creating topic {topic}: {exc}") from None

    def close(self) -> None:
        self._a.close()


class KpyBackend:
    name = "kafka-python"

    def consumer(self, servers, group_id, client):
        return KpyConsumer(servers, group_id, client)

    def producer(self, servers, client):
        return KpyProducer(servers, client)

    def reader(self, servers, client):
        return KpyReader(servers, client)

    def admin(self, servers, client):
        return KpyAdmin(servers, client)


BACKEND = KpyBackend()
