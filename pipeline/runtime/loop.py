"""The pipeline loop: sources -> micro-batcher -> operators (one scheduler each) -> sinks.

Single-threaded on purpose: one loop polls the sources, gathers records until ``max_batch``
rows or ``max_wait_ms``, runs every operator (each sees every record; outputs nest under the
operator's name), writes the sinks and, every ``checkpoint_interval_s``, commits state
together with the source positions it reflects.

What a connector can do beyond the one Source/Sink contract is declared with the capability
protocols of :mod:`rnnstream.connectors.base` and checked with ``isinstance``; the loop names
no concrete operator or connector type. A partitioned source (Kafka) gets the pipeline as
its state host through ``bind``: it reads
the stores, drops the keys of partitions it loses (``drop_keys``, not an eviction), and
calls ``drain`` to process pending records before giving partitions up. When a sink, the
changelog or the broker fails, the loop waits (exponential backoff) and rewinds every source
to its last durable state, so no state update is lost or applied twice. When ``stop`` is
set, a live source that can finish (the microphone) ends its streams first, so what they
hold (an utterance in progress) still comes out.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from rnnstream.runtime.checkpoint import encode_snapshot, read_snapshot, restore_snapshot, write_snapshot
from rnnstream.connectors.base import (DeadLetterSink, Finishable, FlushesOnSchedule, Partitioned, Pausable,
                                       ReportsLag, Rewindable, Sink, Source)
from rnnstream.errors import ConnectorError
from rnnstream.engine.keys import KeyTable
from rnnstream.logs import RateLimitedLogger
from rnnstream.metrics import get_metrics
from rnnstream.metrics_util import observe_many
from rnnstream.operators.base import Operator
from rnnstream.engine.records import DATA, DeadRecord, OutputBatch, RecordBatch
from rnnstream.runtime.batcher import MicroBatcher
from rnnstream.runtime.host import KeyHost
from rnnstream.runtime.operate import run_operators
from rnnstream.engine.scheduler import Scheduler
from rnnstream.engine.store import StateStore

__all__ = ["Pipeline", "OperatorSettings", "RunStats"]

log = logging.getLogger(__name__)

FINISH_GRACE_S = 5.0  # how long a stopped pipeline waits for finishing live sources to end their streams


@dataclass(frozen=True)
class OperatorSettings:
    max_batch: int = 1024
    max_wait_ms: float = 5.0
    max_bytes: int | None = None
    ttl_s: float | None = None


@dataclass
class RunStats:
    events_in: int = 0
    events_out: int = 0
    dead: int = 0
    batches: int = 0
    checkpoints: int = 0
    dead_by_reason: dict[str, int] = field(default_factory=dict)


class Pipeline(KeyHost):
    def __init__(
        self,
        *,
        sources: list[Source],
        operators: list[Operator],
        sinks: list[Sink],
        keys: KeyTable,
        dead_letters: DeadLetterSink,
        settings: dict[str, OperatorSettings] | None = None,
        checkpoint_path: str | None = None,
        checkpoint_interval_s: float = 10.0,
        registry: CollectorRegistry | None = None,
        health_stall_s: float = 60.0,
        loop_stall_s: float = 30.0,
        retry_backoff_s: float = 0.5,
        retry_backoff_max_s: float = 30.0,
        sink_filters: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.sources = sources
        self.sinks = sinks
        self.sink_filters = sink_filters or {}  # sink -> (operator, boolean field): write only those rows
        self.keys = keys
        self.dead_letters = dead_letters
        self.metrics = get_metrics(registry)
        self.registry = self.metrics.registry
        self.checkpoint_path = checkpoint_path
        self.checkpoint_interval_s = checkpoint_interval_s
        settings = settings or {}
        self.schedulers: dict[str, Scheduler] = {}
        for op in operators:
            s = settings.get(op.name, OperatorSettings())
            store = StateStore(op.spec, max_bytes=s.max_bytes, ttl_s=s.ttl_s, on_release=self._make_release(op.name))
            self.schedulers[op.name] = Scheduler(op, store, max_batch=s.max_batch, metrics=self.metrics)
            info = op.describe()
            self.metrics.model_info.labels(op.name, info["model"], info["sha256"], info["provider"]).set(1)
        all_settings = [settings.get(op.name, OperatorSettings()) for op in operators] or [OperatorSettings()]
        self.batcher = MicroBatcher(max_rows=max(s.max_batch for s in all_settings),
                                    max_wait_s=min(s.max_wait_ms for s in all_settings) / 1000.0)
        self.stats = RunStats()
        self.positions: dict[str, Any] = {}
        self.last_commit, self.last_loop, self.ready = time.time(), time.monotonic(), False
        self._watermark = -np.inf
        self._dead_log = RateLimitedLogger(log)
        # Wall time per stage and state (rnnstream_stage_seconds_total), children bound once.
        st = self.metrics.stage_seconds
        self._t_poll = {s: st.labels("poll", s) for s in ("busy", "idle", "backpressured")}
        self._t_ops, self._t_sinks, self._t_commit, self._t_decode, self._t_encode = (
            st.labels(n, "busy") for n in ("model", "produce", "commit", "decode", "encode"))
        self.health_stall_s, self.loop_stall_s = health_stall_s, loop_stall_s
        self.retry_backoff_s, self.retry_backoff_max_s = retry_backoff_s, retry_backoff_max_s
        self._backoff = retry_backoff_s
        self._broken: Exception | None = None
        self._bound: set[str] = set()
        self._dropping = False
        self._release_listeners: list = []
        # Commit on the interval when there is something to make durable: a checkpoint file, a
        # partitioned source, or a sink that delivers to a broker (it must report failures).
        self._periodic = bool(checkpoint_path) or any(isinstance(s, Partitioned) for s in sources) or any(
            isinstance(x, FlushesOnSchedule) and x.flushes_on_schedule for x in [*sinks, dead_letters]
        )

    def _bind(self) -> None:
        for src in self.sources:
            if isinstance(src, Partitioned) and src.name not in self._bound:
                src.bind(self)
                self._bound.add(src.name)

    def is_ready(self) -> tuple[bool, str]:
        waiting = [s.name for s in self.sources if isinstance(s, Partitioned) and not s.ready]
        if not self.ready or waiting:
            return False, f"restoring state ({', '.join(waiting) or 'checkpoint'})"
        return True, "ready"

    def health(self) -> tuple[bool, str]:
        """Unhealthy when the loop stalls, or when commits stop advancing while sources lag."""
        stalled = time.monotonic() - self.last_loop
        if stalled > self.loop_stall_s:
            return False, f"loop last ran {stalled:.1f}s ago"
        lag = sum(int(s.lag or 0) for s in self.sources if isinstance(s, ReportsLag))
        since = time.time() - self.last_commit
        if lag > 0 and since > self.health_stall_s:
            return False, f"no commit for {since:.0f}s while {lag} messages wait"
        broken = f"; recovering from: {self._broken}" if self._broken is not None else ""
        return True, f"ok: last commit {since:.1f}s ago, lag {lag}{broken}"

    def restore(self) -> dict[str, str]:
        """Load the last checkpoint (state and positions), if any. Call before ``run``."""
        self._bind()
        outcome: dict[str, str] = {}
        if self.checkpoint_path:
            snap = read_snapshot(self.checkpoint_path)
            if snap is not None:
                stores = {n: (s.store, s.operator.describe()["sha256"]) for n, s in self.schedulers.items()}
                outcome = restore_snapshot(snap, stores, self.keys, shared=self.shared_states())
                for src in self.sources:
                    if src.name in snap.positions:
                        src.seek(snap.positions[src.name])
                        self.positions[src.name] = snap.positions[src.name]
                log.info("restored checkpoint %s: %s", self.checkpoint_path, outcome)
        for src in self.sources:
            if not isinstance(src, Partitioned):  # partitioned sources report their own restores
                self.metrics.restore_progress.labels(src.name).set(1.0)
        # The restored state is the durable state: without this the commit-age panel reads
        # "now - 0" (55 years) until the first commit.
        self.metrics.last_commit.set(time.time())
        self.ready = True
        return outcome

    def run(self, stop: threading.Event | None = None, *, max_seconds: float | None = None) -> RunStats:
        """Run until every source is exhausted or ``stop`` is set; then drain and commit."""
        stop = stop or threading.Event()
        while not self.ready and not stop.is_set():
            try:
                self.restore()
            except ConnectorError as exc:  # broker not reachable yet: a daemon waits for it
                log.error("cannot start sources: %s; retrying in %.1fs", exc, self._backoff)
                stop.wait(self._backoff)
                self._backoff = min(self._backoff * 2, self.retry_backoff_max_s)
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        last_ckpt = time.monotonic()
        finishing: float | None = None  # when stop was first seen, while live sources end their streams
        while True:
            if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                if finishing is None:
                    finishing = time.monotonic()
                    self._finish_sources()
                live = [s for s in self.sources if isinstance(s, Finishable) and not s.exhausted]
                if not live or time.monotonic() - finishing > FINISH_GRACE_S or self._broken is not None:
                    break
            self.last_loop = time.monotonic()
            if self._broken is not None and not self._recover(stop):
                continue
            try:
                active = [s for s in self.sources if not s.exhausted]
                if not active and not self.batcher:
                    break
                got = self._poll(active)
                if self.batcher and (not got or self.batcher.due()):
                    self.flush()
                due = self._periodic and time.monotonic() - last_ckpt >= self.checkpoint_interval_s
                if due or any(isinstance(s, Partitioned) and s.commit_due for s in self.sources):
                    self.commit()
                    last_ckpt = time.monotonic()
            except ConnectorError as exc:
                self._broken = exc
                continue
        try:
            if self._broken is None:
                self.flush()
                self.commit()
        except ConnectorError as exc:
            log.error("final commit failed (%s); the next start resumes from the last durable state", exc)
        return self.stats

    def step(self) -> None:
        """One round without waiting: take what every source has now and process all of it.

        For callers that drive the pipeline themselves (file transcription, evaluation,
        benchmarks) through an in-memory source; ``run`` is the daemon's loop.
        """
        if not self.ready:
            self.restore()
        self._poll([s for s in self.sources if not s.exhausted], wait=False)
        self.flush()

    def _poll(self, active: list[Source], *, wait: bool = True) -> bool:
        got = False
        for src in active:
            timeout = self.batcher.poll_timeout() / max(1, len(active)) if wait else 0.0
            t_poll = time.perf_counter()
            batch = src.poll(timeout)
            # A paused (backpressured) source waits for a commit, not for data.
            paused = isinstance(src, Pausable) and src.paused
            state = "busy" if batch is not None else "backpressured" if paused else "idle"
            elapsed = time.perf_counter() - t_poll
            decode = min(batch.decode_s, elapsed) if batch is not None else 0.0
            self._t_poll[state].inc(elapsed - decode)
            self._t_decode.inc(decode)
            if batch is not None:
                got = True
                self._accept(src, batch)
        return got

    def _finish_sources(self) -> None:
        for src in self.sources:
            if isinstance(src, Finishable) and not src.exhausted:
                src.finish()

    def _recover(self, stop: threading.Event) -> bool:
        """Wait, then put every source back to its last durable state. True once that worked."""
        self.metrics.commit_failures.inc()
        log.error("connector failure: %s; rewinding to the last durable state in %.1fs", self._broken, self._backoff)
        stop.wait(self._backoff)
        self._backoff = min(self._backoff * 2, self.retry_backoff_max_s)
        self.batcher.clear()
        try:
            for src in self.sources:
                if isinstance(src, Rewindable):
                    src.rewind()
                elif self.checkpoint_path:
                    self._rewind_checkpoint()
                    break
                self.metrics.recoveries.labels(src.name).inc()
        except ConnectorError as exc:
            self._broken = exc
            return False
        log.info("recovered: resuming from the last durable state")
        self._broken = None
        return True

    def _rewind_checkpoint(self) -> None:
        for sched in self.schedulers.values():
            self.drop_keys(sched.store.live_ids())
        self.ready = False
        self.restore()

    def close(self) -> None:
        for src in self.sources:
            src.close()
        for sink in self.sinks:
            sink.close()
        self.dead_letters.close()

    # -- batching -----------------------------------------------------------------------------
    def _accept(self, src: Source, batch: RecordBatch) -> None:
        n = len(batch)
        self.metrics.events_in.labels(src.name).inc(n + len(batch.dead))
        self.stats.events_in += n + len(batch.dead)
        if batch.dead:
            self._dead(batch.dead)
        if batch.position is not None:
            self.positions[src.name] = batch.position
        if n:
            self.batcher.add(batch)
            self.metrics.queue_depth.labels("batcher").set(len(self.batcher))

    def _dead(self, records: list[DeadRecord]) -> None:
        self.dead_letters.write_dead(records)
        for r in records:
            self.metrics.dead_letters.labels(r.source, r.reason).inc()
            self.stats.dead_by_reason[r.reason] = self.stats.dead_by_reason.get(r.reason, 0) + 1
            self._dead_log.warning(r.reason, "dead letter from %s: %s (%s)", r.source, r.reason, r.detail)
        self.stats.dead += len(records)

    # -- processing ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Run every operator over the pending records and write the sinks."""
        if not self.batcher:
            return
        self.metrics.batch_wait.observe(self.batcher.age())
        batch = self.batcher.take()
        self.metrics.queue_depth.labels("batcher").set(0)
        t0 = time.perf_counter()
        # Resolve names first: an END record releases its key's id while the operators run.
        names = self.keys.names(batch.key_ids)
        fields, emitted = run_operators(self.schedulers, batch, self.metrics)
        t_ops = time.perf_counter()
        self._t_ops.inc(t_ops - t0)
        emit = np.flatnonzero(emitted)
        out = OutputBatch(
            keys=names[emit],
            key_ids=batch.key_ids[emit],
            ts=batch.ts[emit],
            values=batch.values[emit],
            ingest=batch.ingest[emit],
            fields={op: {f: a[emit] for f, a in fs.items()} for op, fs in fields.items()},
            meta={k: v[emit] for k, v in batch.meta.items() if not k.startswith("_")},
            kind=batch.kind[emit],
        )
        for sink in self.sinks:
            part = out
            if sink.name in self.sink_filters:  # an alerts sink: only the rows that raised one
                op, name = self.sink_filters[sink.name]
                flags = out.fields.get(op, {}).get(name)
                part = out.take(flags.astype(bool) if flags is not None else np.zeros(len(out), bool))
            sink.write(part)
            if part is not out:
                out.encode_s += part.encode_s
            self.metrics.events_out.labels(sink.name).inc(len(part))
            observe_many(self.metrics.e2e_latency.labels(sink.name), time.monotonic() - part.ingest)
        sinks_s = time.perf_counter() - t_ops
        encode = min(out.encode_s, sinks_s)  # the sinks' encoding, counted on its own
        self._t_sinks.inc(sinks_s - encode)
        self._t_encode.inc(encode)
        self.stats.events_out += len(out)
        self.stats.batches += 1
        if batch.ts.size:
            self._watermark = max(self._watermark, float(batch.ts.max()))
        for name, sched in self.schedulers.items():
            sched.housekeeping(self._watermark)
            self.metrics.live_keys.labels(name).set(sched.store.live_keys)
            self.metrics.state_bytes.labels(name).set(sched.store.allocated_bytes)

    def commit(self) -> None:
        """Process pending records, flush sinks, make state and positions durable, then tell sources."""
        self.flush()
        t0 = time.perf_counter()
        for sink in self.sinks:
            sink.flush()
        self.dead_letters.flush()
        if self.checkpoint_path:
            stores = {n: (s.store, s.operator.describe()["sha256"]) for n, s in self.schedulers.items()}
            write_snapshot(self.checkpoint_path, encode_snapshot(stores, self.keys, dict(self.positions),
                                                                 shared=self.shared_states()))
        for src in self.sources:
            if src.name in self.positions:
                src.commit(self.positions[src.name])
        # The whole commit (outputs acknowledged, state durable, offsets committed), for file
        # checkpoints and Kafka changelogs alike.
        elapsed = time.perf_counter() - t0
        self.metrics.checkpoint_seconds.observe(elapsed)
        self._t_commit.inc(elapsed)
        self.last_commit = time.time()
        self._backoff = self.retry_backoff_s
        self.metrics.checkpoints.inc()
        self.metrics.last_commit.set(self.last_commit)
        self.stats.checkpoints += 1
