"""The pipeline loop: sources -> micro-batcher -> operators (one scheduler each) -> sinks.

Single-threaded on purpose: one loop polls the sources, gathers records until ``max_batch``
rows or ``max_wait_ms``, runs every operator over the batch, writes the sinks and, every
``checkpoint_interval_s``, commits state together with the source positions it reflects.
Every operator sees every record; each output row nests the operators' fields under the
operator's name.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from rnnstream.checkpoint import encode_snapshot, read_snapshot, restore_snapshot, write_snapshot
from rnnstream.connectors.base import DeadLetterSink, Sink, Source
from rnnstream.keys import KeyTable
from rnnstream.logs import RateLimitedLogger
from rnnstream.metrics import get_metrics
from rnnstream.metrics_util import observe_many
from rnnstream.operators.anomaly import AnomalyOperator
from rnnstream.operators.base import Operator
from rnnstream.records import DATA, DeadRecord, OutputBatch, RecordBatch
from rnnstream.scheduler import Scheduler
from rnnstream.store import StateStore

__all__ = ["Pipeline", "OperatorSettings", "RunStats"]

log = logging.getLogger(__name__)


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


class Pipeline:
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
    ) -> None:
        self.sources = sources
        self.sinks = sinks
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
        self.max_rows = max(s.max_batch for s in all_settings)
        self.max_wait_s = min(s.max_wait_ms for s in all_settings) / 1000.0
        self.stats = RunStats()
        self.positions: dict[str, Any] = {}
        self.last_commit = time.time()
        self.last_loop = time.monotonic()
        self.ready = False
        self._pending: list[RecordBatch] = []
        self._pending_rows = 0
        self._oldest = 0.0
        self._watermark = -np.inf
        self._dead_log = RateLimitedLogger(log)

    # -- lifecycle ------------------------------------------------------------------------
    def _make_release(self, op_name: str):
        def release(ids: np.ndarray, reason: str) -> None:
            self.metrics.evictions.labels(op_name, reason).inc(ids.size)
            # A key id is free only when no operator holds state for it any more.
            held = np.zeros(ids.size, dtype=bool)
            for sched in self.schedulers.values():
                held |= sched.store.lookup(ids) >= 0
            self.keys.release(ids[~held].tolist())

        return release

    def restore(self) -> dict[str, str]:
        """Load the last checkpoint (state and positions), if any. Call before ``run``."""
        outcome: dict[str, str] = {}
        if self.checkpoint_path:
            snap = read_snapshot(self.checkpoint_path)
            if snap is not None:
                stores = {n: (s.store, s.operator.describe()["sha256"]) for n, s in self.schedulers.items()}
                outcome = restore_snapshot(snap, stores, self.keys)
                for src in self.sources:
                    if src.name in snap.positions:
                        src.seek(snap.positions[src.name])
                        self.positions[src.name] = snap.positions[src.name]
                log.info("restored checkpoint %s: %s", self.checkpoint_path, outcome)
        for src in self.sources:
            self.metrics.restore_progress.labels(src.name).set(1.0)
        self.ready = True
        return outcome

    def run(self, stop: threading.Event | None = None, *, max_seconds: float | None = None) -> RunStats:
        """Run until every source is exhausted or ``stop`` is set; then drain and commit."""
        stop = stop or threading.Event()
        if not self.ready:
            self.restore()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        last_ckpt = time.monotonic()
        while not stop.is_set():
            self.last_loop = time.monotonic()
            active = [s for s in self.sources if not s.exhausted]
            if not active and not self._pending:
                break
            got = False
            for src in active:
                timeout = self._poll_timeout() / max(1, len(active))
                batch = src.poll(timeout)
                if batch is not None:
                    got = True
                    self._accept(src, batch)
            if self._pending and (not got or self._due()):
                self.flush()
            if self.checkpoint_path and time.monotonic() - last_ckpt >= self.checkpoint_interval_s:
                self.commit()
                last_ckpt = time.monotonic()
            if deadline is not None and time.monotonic() > deadline:
                break
        self.flush()
        self.commit()
        return self.stats

    def close(self) -> None:
        for src in self.sources:
            src.close()
        for sink in self.sinks:
            sink.close()
        self.dead_letters.close()

    # -- batching -----------------------------------------------------------------------------
    def _poll_timeout(self) -> float:
        if not self._pending:
            return 0.05
        return max(0.0, self.max_wait_s - (time.monotonic() - self._oldest))

    def _due(self) -> bool:
        return self._pending_rows >= self.max_rows or time.monotonic() - self._oldest >= self.max_wait_s

    def _accept(self, src: Source, batch: RecordBatch) -> None:
        n = len(batch)
        self.metrics.events_in.labels(src.name).inc(n + len(batch.dead))
        self.stats.events_in += n + len(batch.dead)
        if batch.dead:
            self._dead(batch.dead)
        if batch.position is not None:
            self.positions[src.name] = batch.position
        if n:
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(batch)
            self._pending_rows += n
            self.metrics.queue_depth.labels("batcher").set(self._pending_rows)

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
        if not self._pending:
            return
        batch = RecordBatch.concat(self._pending)
        self._pending, self._pending_rows = [], 0
        self.metrics.queue_depth.labels("batcher").set(0)
        t0 = time.perf_counter()
        fields: dict[str, dict[str, np.ndarray]] = {}
        for name, sched in self.schedulers.items():
            outputs, _ = sched.process(batch.key_ids, batch.ts, batch.values, batch.kind)
            fields[name] = outputs
            if isinstance(sched.operator, AnomalyOperator) and "alert" in outputs:
                alerts = int(outputs["alert"][batch.kind == DATA].sum())
                if alerts:
                    self.metrics.anomaly_alerts.labels(name).inc(alerts)
        emit = np.flatnonzero(batch.kind == DATA)
        out = OutputBatch(
            keys=self.keys.names(batch.key_ids[emit]) if emit.size else np.empty(0, object),
            key_ids=batch.key_ids[emit],
            ts=batch.ts[emit],
            values=batch.values[emit],
            ingest=batch.ingest[emit],
            fields={op: {f: a[emit] for f, a in fs.items()} for op, fs in fields.items()},
            meta={k: v[emit] for k, v in batch.meta.items() if not k.startswith("_")},
        )
        for sink in self.sinks:
            sink.write(out)
            self.metrics.events_out.labels(sink.name).inc(len(out))
            observe_many(self.metrics.e2e_latency.labels(sink.name), time.monotonic() - out.ingest)
        self.metrics.stage_seconds.labels("operators", "busy").inc(time.perf_counter() - t0)
        self.stats.events_out += len(out)
        self.stats.batches += 1
        if batch.ts.size:
            self._watermark = max(self._watermark, float(batch.ts.max()))
        for name, sched in self.schedulers.items():
            sched.housekeeping(self._watermark)
            self.metrics.live_keys.labels(name).set(sched.store.live_keys)
            self.metrics.state_bytes.labels(name).set(sched.store.allocated_bytes)

    def commit(self) -> None:
        """Flush sinks, then make state and positions durable together, then tell sources."""
        for sink in self.sinks:
            sink.flush()
        self.dead_letters.flush()
        if self.checkpoint_path:
            t0 = time.perf_counter()
            stores = {n: (s.store, s.operator.describe()["sha256"]) for n, s in self.schedulers.items()}
            write_snapshot(self.checkpoint_path, encode_snapshot(stores, self.keys, dict(self.positions)))
            self.metrics.checkpoint_seconds.observe(time.perf_counter() - t0)
        for src in self.sources:
            if src.name in self.positions:
                src.commit(self.positions[src.name])
        self.last_commit = time.time()
        self.metrics.checkpoints.inc()
        self.metrics.last_commit.set(self.last_commit)
        self.stats.checkpoints += 1
