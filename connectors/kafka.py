"""Kafka source, sink and dead-letter sink, with state committed per input partition.

The source is a consumer-group member. Every key belongs to the partition its events came
from; at each commit the state of every partition that moved goes to the compacted
changelog topic (see :mod:`rnnstream.runtime.changelog`) and only then are the group offsets
committed. On assignment a partition is paused, its state restored from the changelog, and
it resumes at the offset the changelog names; on revoke its pending events are processed,
its state written, and it is dropped locally. Past ``max_in_flight`` uncommitted records the
source pauses every partition and asks the pipeline for a commit (backpressure).

Wire format: :mod:`rnnstream.connectors.kafka_wire`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry

from rnnstream.runtime.changelog import PartitionedState
from rnnstream.config import DeadLetterConfig, KafkaSinkConfig, KafkaSourceConfig
from rnnstream.connectors.kafka_client import TP, Backend, load_backend
from rnnstream.connectors.kafka_wire import WireDecoder, dead_headers, encode_rows
from rnnstream.errors import ConfigError, ConnectorError
from rnnstream.engine.keys import KeyTable
from rnnstream.logs import RateLimitedLogger
from rnnstream.metrics import get_metrics
from rnnstream.engine.records import DeadRecord, OutputBatch, RecordBatch

__all__ = [
    "KafkaSource", "KafkaSink", "KafkaDeadLetters", "KafkaChangelog",
    "make_source", "make_sink", "make_dead_letter_sink",
]

log = logging.getLogger(__name__)


class KafkaChangelog:
    """:class:`~rnnstream.runtime.changelog.ChangelogLog` over one (compacted) topic."""

    def __init__(self, backend: Backend, servers: list[str], client: dict[str, Any], topic: str,
                 *, timeout_s: float = 60.0) -> None:
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer = backend.producer(servers, client)
        self._reader = backend.reader(servers, client)

    def append(self, records: list[tuple[int, bytes, bytes]]) -> None:
        for partition, key, value in records:
            self._producer.send(self.topic, key, value, None, partition)
        self._producer.flush(self.timeout_s)

    def scan(self, partition: int, progress=None):
        return self._reader.scan(self.topic, partition, progress)

    def close(self) -> None:
        self._producer.close()
        self._reader.close()


class KafkaSource:
    """See :class:`~rnnstream.config.KafkaSourceConfig`. The pipeline calls :meth:`bind` first."""

    def __init__(self, cfg: KafkaSourceConfig, keys: KeyTable, *, width: int,
                 registry: CollectorRegistry | None = None, backend: Backend | None = None) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self.metrics = get_metrics(registry)
        self.backend = backend or load_backend(cfg.library, cfg.client)
        self.decoder = WireDecoder(
            cfg.name, keys, width=width, fmt=cfg.format, key_field=cfg.key_field, ts_field=cfg.ts_field,
            value_fields=list(cfg.value_fields), max_record_bytes=cfg.max_record_bytes, sample_rate=cfg.sample_rate,
            max_text_bytes=cfg.max_text_bytes)
        self.positions: dict[TP, int] = {}
        self.ready = False
        self.commit_due = False
        self.lag = 0
        self._since_commit = 0
        self._paused = False
        self._state: PartitionedState | None = None
        self._host = None
        self._consumer = None
        self._changelog: KafkaChangelog | None = None
        self._restoring: dict[TP, float] = {}
        self._restore_done, self._restore_total = 0, 0
        self._lag_at = 0.0
        self._retention_checked: dict[TP, float] = {}
        self._warn = RateLimitedLogger(log)

    # -- wiring -----------------------------------------------------------------------------

    @property
    def paused(self) -> bool:  # backpressure holds every partition until the next commit
        return self._paused
    def bind(self, host) -> None:
        """Join the group. ``host`` lends the pipeline's stores and ``drain()`` (see StateHost)."""
        cfg = self.cfg
        admin = self.backend.admin(cfg.bootstrap_servers, cfg.client)
        try:
            counts = {t: admin.partitions(t) for t in cfg.topics}
            missing = [t for t, n in counts.items() if not n]
            if missing:
                raise ConnectorError(f"source {cfg.name!r}: input topic {missing[0]!r} does not exist")
            need = max(counts.values())
            have = admin.partitions(cfg.changelog)
            if have is None:
                admin.create(cfg.changelog, cfg.changelog_partitions or need, {"cleanup.policy": "compact"},
                             cfg.changelog_replication)
                log.info("created changelog topic %s (%d partitions, compacted)", cfg.changelog,
                         cfg.changelog_partitions or need)
            elif have < need:
                raise ConfigError(
                    f"sources.{cfg.name}.changelog_topic: {cfg.changelog} has {have} partitions, inputs need {need}"
                )
        finally:
            admin.close()
        self._host = host
        self._changelog = KafkaChangelog(self.backend, cfg.bootstrap_servers, cfg.client, cfg.changelog,
                                         timeout_s=cfg.commit_timeout_s)
        self._state = PartitionedState(host, self._changelog, chunk_bytes=cfg.changelog_chunk_bytes,
                                       on_progress=self._progress)
        host.on_release(self._state.forget)
        self._consumer = self.backend.consumer(cfg.bootstrap_servers, cfg.group_id, cfg.client)
        self._consumer.subscribe(list(cfg.topics), self)
        self.metrics.restore_progress.labels(self.name).set(0.0)

    @property
    def exhausted(self) -> bool:
        return False

    def position(self) -> dict[str, int]:
        return {f"{t}:{p}": off for (t, p), off in self.positions.items()}

    def seek(self, position: Any) -> None:
        """Positions come from the changelog at assignment, never from a checkpoint file."""

    # -- rebalance --------------------------------------------------------------------------
    def revoked(self, tps: list[TP], lost: bool) -> None:
        t0 = time.monotonic()
        try:
            self._host.drain()
            offsets = {tp: self.positions[tp] for tp in tps if tp in self.positions and tp not in self._restoring}
            if not lost:
                self._state.write(self._state.dirty(offsets))
                self._consumer.commit(offsets, wait=False)
        except Exception as exc:  # noqa: BLE001 - the next owner restores from the last durable state
            log.error("flushing revoked partitions %s failed: %s; their next owner resumes from the last commit",
                      tps, exc)
            self.metrics.commit_failures.inc()
        dropped = 0
        for tp in tps:
            dropped += self._state.drop(self._state.part(*tp))
            self.positions.pop(tp, None)
            self._restoring.pop(tp, None)
            self.metrics.kafka_lag.labels(tp[0], str(tp[1])).set(0)
        kind = "lost" if lost else "revoked"
        self.metrics.rebalances.labels(self.name, kind).inc()
        self.metrics.partitions_assigned.labels(self.name).set(len(self.positions) + len(self._restoring))
        log.info("partitions %s %s: state of %d keys %s in %.2fs", kind, _fmt(tps), dropped,
                 "dropped (another member may own them)" if lost else "flushed and dropped", time.monotonic() - t0)

    def assigned(self, tps: list[TP]) -> dict[TP, int]:
        """Restore each partition from the changelog; it resumes at the offset the changelog names."""
        self.ready = False
        t0 = time.monotonic()
        for tp in tps:
            self._restoring.setdefault(tp, 0.0)
        self._restore_done, self._restore_total = 0, len(tps)
        out: dict[TP, int] = {}
        for tp in tps:
            offset = self._state.restore(*tp)
            origin = "changelog"
            if offset is None:
                offset = self._consumer.committed([tp]).get(tp)
                origin = "group offset (no changelog state: starting with empty state)"
                if offset is None:
                    offset = self._start_offset(tp)
                    origin = f"{self.cfg.start} (new partition)"
            offset = self._check_retention(tp, offset)
            out[tp] = offset
            self._restoring[tp] = 1.0
            self._restore_done += 1
            self._progress(0.0)
            log.info("partition %s/%d resumes at offset %d from %s", tp[0], tp[1], offset, origin)
        for tp, off in out.items():
            self.positions[tp] = off
            self._restoring.pop(tp, None)
        self.ready = not self._restoring
        self.metrics.rebalances.labels(self.name, "assigned").inc()
        self.metrics.partitions_assigned.labels(self.name).set(len(self.positions))
        self.metrics.restore_progress.labels(self.name).set(1.0)
        log.info("assigned %s restored in %.2fs", _fmt(tps), time.monotonic() - t0)
        return out

    def _start_offset(self, tp: TP) -> int:
        if self.cfg.start == "earliest":
            return self._consumer.beginning([tp])[tp]
        end = self._consumer.end([tp]).get(tp)
        return int(end or 0)

    def _check_retention(self, tp: TP, offset: int) -> int:
        begin = self._consumer.beginning([tp])[tp]
        if offset < begin:
            log.error(
                "offset %d of %s/%d fell out of retention (earliest is now %d): events %d..%d are lost; "
                "resuming at %d", offset, tp[0], tp[1], begin, offset, begin - 1, begin,
            )
            self.metrics.offset_resets.labels(tp[0]).inc()
            return begin
        return offset

    def _progress(self, fraction: float) -> None:
        """Changelog read progress of the partition being restored, as a fraction of the whole assignment."""
        if self._restore_total:
            ratio = min(1.0, (self._restore_done + fraction) / self._restore_total)
            self.metrics.restore_progress.labels(self.name).set(ratio)

    # -- data -------------------------------------------------------------------------------
    def poll(self, timeout_s: float) -> RecordBatch | None:
        if self._consumer is None:
            raise ConnectorError(f"source {self.name!r}: not bound to a pipeline")
        msgs = self._consumer.poll(timeout_s, self.cfg.batch_records)
        now = time.monotonic()
        if now - self._lag_at > 2.0:
            self._measure_lag(now)
        if not len(msgs):
            return None
        parts: list[int] = []
        first: dict[TP, int] = {}
        last: dict[TP, int] = {}
        cache: dict[TP, int] = {}
        part = self._state.part
        for t, p, o in zip(msgs.topics, msgs.partitions, msgs.offsets):
            tp = (t, p)
            idx = cache.get(tp)
            if idx is None:
                idx = cache[tp] = part(t, p)
                first[tp] = o
            parts.append(idx)
            last[tp] = o
        for tp, o in first.items():
            expected = self.positions.get(tp)
            if expected is not None and o > expected:
                self._gap(tp, expected, o)
        for tp, o in last.items():
            self.positions[tp] = o + 1
        batch = self.decoder.decode(msgs, parts)
        self._state.track(batch.key_ids, batch.meta["_part"])
        batch.position = self.position()
        self._since_commit += len(msgs)
        if self._since_commit >= self.cfg.max_in_flight and not self._paused:
            self._consumer.pause(list(self.positions))
            self._paused = True
            self.commit_due = True
        return batch

    def _gap(self, tp: TP, expected: int, got: int) -> None:
        """Offsets skipped: compaction or transaction markers, or retention deleted what we had not read."""
        now = time.monotonic()
        if now - self._retention_checked.get(tp, 0.0) < 30.0:
            return
        self._retention_checked[tp] = now
        try:
            begin = self._consumer.beginning([tp])[tp]
        except ConnectorError:
            return
        if expected < begin:
            log.error("offset %d of %s/%d fell out of retention while consuming: events %d..%d are lost",
                      expected, tp[0], tp[1], expected, got - 1)
            self.metrics.offset_resets.labels(tp[0]).inc()

    def _measure_lag(self, now: float) -> None:
        self._lag_at = now
        total = 0
        for tp, pos in self.positions.items():
            hw = self._consumer.highwater(tp)
            if hw is not None:
                lag = max(0, hw - pos)
                total += lag
                self.metrics.kafka_lag.labels(tp[0], str(tp[1])).set(lag)
        self.lag = total

    def commit(self, position: Any) -> None:
        """State of every moved partition to the changelog (durable), then the group offsets."""
        if self._state is None:
            return
        assigned = set(self._consumer.assignment())
        offsets = {tp: off for tp, off in self.positions.items() if tp in assigned and tp not in self._restoring}
        moved = self._state.dirty(offsets)
        nbytes = self._state.write(moved)
        self.metrics.changelog_bytes.labels(self.name).inc(nbytes)
        try:
            self._consumer.commit(moved)
        except ConnectorError as exc:
            # The changelog already holds the truth; group offsets only serve lag monitoring.
            self._warn.warning("group_commit", "group offset commit failed (state is safe): %s", exc)
        self._since_commit = 0
        self.commit_due = False
        if self._paused:
            self._consumer.resume(list(self.positions))
            self._paused = False

    def rewind(self) -> None:
        """Drop every partition's local state and restore it from the changelog (after a failure)."""
        tps = self._consumer.assignment()
        if not tps:
            return
        # Paused until restored: a failed attempt leaves them paused (and excluded from commits)
        # for the next one.
        self._consumer.pause(tps)
        offsets = self.assigned(tps)
        for tp, off in offsets.items():
            self._consumer.seek(tp, off)
        self._since_commit = 0
        self._paused = False
        self.commit_due = False
        self._consumer.resume(tps)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        if self._changelog is not None:
            self._changelog.close()


def _fmt(tps: list[TP]) -> str:
    return ",".join(f"{t}/{p}" for t, p in sorted(tps)) or "-"


class KafkaSink:
    """Keyed JSON rows; ``flush`` returns once every row is acknowledged by all in-sync replicas."""

    flushes_on_schedule = True  # the pipeline commits on its interval to surface delivery failures

    def __init__(self, cfg: KafkaSinkConfig, *, registry: CollectorRegistry | None = None) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self._producer = load_backend(cfg.library, cfg.client).producer(cfg.bootstrap_servers, cfg.client)

    def write(self, batch: OutputBatch) -> None:
        if len(batch):
            keys, values, headers = encode_rows(batch)
            self._producer.send_many(self.cfg.topic, keys, values, headers)

    def flush(self) -> None:
        self._producer.flush(self.cfg.flush_timeout_s)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._producer.close()


class KafkaDeadLetters:
    """Bad records to a topic: original key and payload, reason and origin in headers."""

    flushes_on_schedule = True  # the pipeline commits on its interval to surface delivery failures

    def __init__(self, cfg: DeadLetterConfig, *, registry: CollectorRegistry | None = None) -> None:
        if not cfg.topic or not cfg.bootstrap_servers:
            raise ConfigError("dead_letter: type kafka needs topic and bootstrap_servers")
        self.cfg = cfg
        self._producer = load_backend(cfg.library, cfg.client).producer(cfg.bootstrap_servers, cfg.client)

    def write_dead(self, records: list[DeadRecord]) -> None:
        limit = self.cfg.max_payload_bytes
        for r in records:
            pos = r.position if isinstance(r.position, dict) else None
            key = pos.get("key") if pos else None
            headers = dead_headers(r.reason, r.detail, r.source, r.position)
            raw = r.raw
            if len(raw) > limit:
                raw = raw[:limit]
                headers.append(("rnnstream-truncated", b"%d" % len(r.raw)))
            self._producer.send(self.cfg.topic, key if isinstance(key, bytes) else None, raw, headers)

    def flush(self) -> None:
        self._producer.flush(60.0)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._producer.close()


def make_source(cfg: KafkaSourceConfig, keys: KeyTable, *, width: int,
                registry: CollectorRegistry | None = None) -> KafkaSource:
    return KafkaSource(cfg, keys, width=width, registry=registry)


def make_sink(cfg: KafkaSinkConfig, *, registry: CollectorRegistry | None = None) -> KafkaSink:
    return KafkaSink(cfg, registry=registry)


def make_dead_letter_sink(cfg: DeadLetterConfig, *, registry: CollectorRegistry | None = None) -> KafkaDeadLetters:
    return KafkaDeadLetters(cfg, registry=registry)
