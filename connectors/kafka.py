"""Kafka source, sink and dead-letter sink, with state committed per input partition.

The source is a consumer-group member. Every key belongs to the partition its events came
from; at each commit the state of every partition that moved goes to the compacted
changelog topic, in the background (:mod:`rnnstream.connectors.kafka_commit`), and only once
it is durable are the group offsets committed. On assignment a partition is paused, its state restored from the changelog, and
it resumes at the offset the changelog names; on revoke its pending events are processed,
its state written, and it is dropped locally. At half of ``max_in_flight`` uncommitted records
the source asks the pipeline for a commit; at ``max_in_flight`` (counting the records a write
still in flight covers) it pauses every partition until that write is durable (backpressure).

Wire format: :mod:`rnnstream.connectors.kafka_wire`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from prometheus_client import CollectorRegistry

from rnnstream.runtime.changelog import PartitionedState
from rnnstream.config import KafkaSourceConfig
from rnnstream.connectors.kafka_client import TP, Backend, load_backend
from rnnstream.connectors.kafka_commit import BackgroundWriter, KafkaChangelog
from rnnstream.connectors.kafka_sink import KafkaDeadLetters, KafkaSink, make_dead_letter_sink, make_sink
from rnnstream.connectors.kafka_wire import WireDecoder
from rnnstream.errors import ConfigError, ConnectorError
from rnnstream.engine.keys import KeyTable
from rnnstream.logs import RateLimitedLogger
from rnnstream.metrics import get_metrics
from rnnstream.engine.records import RecordBatch

__all__ = [
    "KafkaSource", "KafkaSink", "KafkaDeadLetters", "KafkaChangelog",
    "make_source", "make_sink", "make_dead_letter_sink",
]

log = logging.getLogger(__name__)


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
        self._unsettled = 0  # records whose state the write in flight makes durable
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
        self._writer = BackgroundWriter(self._state)
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
            self.flush_state()
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
        self.flush_state()
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
        self._durable(self._writer.collect(wait=False))
        msgs = self._consumer.poll(timeout_s, self.cfg.batch_records)
        now = time.monotonic()
        if now - self._lag_at > 2.0:
            self._measure_lag(now)
        if not len(msgs):
            return None
        parts, first, last = self._runs(msgs)
        for tp, o in first.items():
            expected = self.positions.get(tp)
            if expected is not None and o > expected:
                self._gap(tp, expected, o)
        for tp, o in last.items():
            self.positions[tp] = o + 1
        t_decode = time.perf_counter()
        batch = self.decoder.decode(msgs, parts)
        batch.decode_s = time.perf_counter() - t_decode  # the "decode" stage, apart from polling
        self._state.track(batch.key_ids, batch.meta["_part"])
        batch.position = self.position()
        self._since_commit += len(msgs)
        if 2 * self._since_commit >= self.cfg.max_in_flight:
            # Commit at half the bound: the write runs beside the pipeline, so this costs no
            # stall. Only when writes fall behind (the bound reached, counting the records the
            # write in flight covers) does the source pause until one is durable.
            self.commit_due = True
            if self._since_commit + self._unsettled >= self.cfg.max_in_flight and not self._paused:
                self._consumer.pause(list(self.positions))
                self._paused = True
        return batch

    def _runs(self, msgs) -> tuple[np.ndarray, dict[TP, int], dict[TP, int]]:
        """Each message's partition index, and each partition's first and last offset in the poll.

        A poll holds a few runs of messages from one partition each: the work is per run.
        """
        part_of = np.asarray(msgs.partitions, dtype=np.int64)
        topics = np.asarray(msgs.topics, dtype=object)
        offsets = np.asarray(msgs.offsets, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, (part_of[1:] != part_of[:-1]) | (topics[1:] != topics[:-1])])
        ends = np.r_[starts[1:], part_of.size]
        first: dict[TP, int] = {}
        last: dict[TP, int] = {}
        index = np.empty(starts.size, np.int32)
        for r, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
            tp = (topics[a], int(part_of[a]))
            index[r] = self._state.part(*tp)
            first.setdefault(tp, int(offsets[a]))
            last[tp] = int(offsets[b - 1])
        return np.repeat(index, ends - starts), first, last

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
        """Start making the state of every moved partition durable; its group offsets follow
        once it is (see :mod:`rnnstream.connectors.kafka_commit`)."""
        if self._state is None:
            return
        self._durable(self._writer.collect(wait=True))  # one write in flight at a time
        assigned = set(self._consumer.assignment())
        offsets = {tp: off for tp, off in self.positions.items() if tp in assigned and tp not in self._restoring}
        self._writer.submit(self._state.dirty(offsets))
        self._unsettled, self._since_commit = self._since_commit, 0
        self.commit_due = False

    def _durable(self, done: tuple[dict[TP, int], int] | None) -> None:
        """A changelog write finished: count it, commit its offsets, lift backpressure."""
        if done is None:
            return
        offsets, nbytes = done
        self.metrics.changelog_bytes.labels(self.name).inc(nbytes)
        try:
            self._consumer.commit(offsets, wait=False)
        except ConnectorError as exc:
            # The changelog already holds the truth; group offsets only serve lag monitoring.
            self._warn.warning("group_commit", "group offset commit failed (state is safe): %s", exc)
        self._unsettled = 0
        if self._paused:
            self._consumer.resume(list(self.positions))
            self._paused = False

    def flush_state(self) -> None:
        """Wait for the write in flight (before a rebalance, a rewind or closing)."""
        if self._state is not None:
            self._durable(self._writer.collect(wait=True))

    def rewind(self) -> None:
        """Drop every partition's local state and restore it from the changelog (after a failure)."""
        try:
            self.flush_state()
        except ConnectorError:  # that write failed: what we rewind to is the write before it
            pass
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
        try:
            self.flush_state()
        except ConnectorError as exc:
            log.error("last changelog write failed (%s); the next start resumes from the one before", exc)
        if self._consumer is not None:
            self._consumer.close()
        if self._changelog is not None:
            self._changelog.close()


def _fmt(tps: list[TP]) -> str:
    return ",".join(f"{t}/{p}" for t, p in sorted(tps)) or "-"


def make_source(cfg: KafkaSourceConfig, keys: KeyTable, *, width: int,
                registry: CollectorRegistry | None = None) -> KafkaSource:
    return KafkaSource(cfg, keys, width=width, registry=registry)
