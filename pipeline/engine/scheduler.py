"""Cross-key batching: one ONNX Runtime call advances many keys by one step each.

A micro-batch may hold several events of the same key. The scheduler ranks each event
within its key (0 for a key's first event in the batch, 1 for its second, ...) and runs the
ranks as rounds: a round holds at most one event per key, so keys advance in order, a key
with a backlog advances one step per round, and nothing starves. Each round is cut into
calls of at most ``max_batch`` keys: gather the keys' state from the slabs, call the
operator once, scatter the new state back. Everything is vectorised; no Python object is
made per event.

>>> import numpy as np
>>> [r.tolist() for r in plan_rounds(np.array([5, 5, 7, 5, 7]))]
[[0, 2], [1, 4], [3]]
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from rnnstream.metrics import Metrics
from rnnstream.engine.records import DATA, END, RESET
from rnnstream.engine.store import StateStore

if TYPE_CHECKING:  # the operators import the engine, not the other way round
    from rnnstream.operators.base import Operator

__all__ = ["Scheduler", "plan_rounds"]


def plan_rounds(key_ids: np.ndarray) -> list[np.ndarray]:
    """Row indices per round; within a round keys are distinct and rows keep arrival order."""
    n = key_ids.shape[0]
    if n <= 1:
        return [np.arange(n)] if n else []
    order = np.argsort(key_ids, kind="stable")
    sorted_ids = key_ids[order]
    boundary = np.empty(n, dtype=bool)
    boundary[0] = True
    np.not_equal(sorted_ids[1:], sorted_ids[:-1], out=boundary[1:])
    starts = np.flatnonzero(boundary)
    if starts.size == n:  # every key once: the common case, one round
        return [np.arange(n)]
    rank_sorted = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = rank_sorted
    by_rank = np.argsort(rank, kind="stable")
    return np.split(by_rank, np.cumsum(np.bincount(rank))[:-1])


class Scheduler:
    """Runs one operator over micro-batches, keeping every key's state in a slab store."""

    def __init__(
        self,
        operator: Operator,
        store: StateStore | None = None,
        *,
        max_batch: int = 1024,
        metrics: Metrics | None = None,
    ) -> None:
        self.operator = operator
        self.store = store if store is not None else StateStore(operator.spec)
        self.max_batch = max_batch
        self.metrics = metrics
        self.calls = 0
        if metrics is not None:
            self._m_batch = metrics.batch_size.labels(operator.name)
            self._m_infer = metrics.inference_seconds.labels(operator.name)

    def process(
        self, key_ids: np.ndarray, ts: np.ndarray, values: np.ndarray, kind: np.ndarray | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Advance every DATA row; apply RESET/END rows in key order.

        Returns (outputs aligned with the input rows, mask of rows that produced output).
        """
        n = key_ids.shape[0]
        has_control = kind is not None and bool(kind.any())
        emitted = kind == DATA if has_control else np.ones(n, dtype=bool)
        outputs: dict[str, np.ndarray] = {}
        for rows in plan_rounds(key_ids):
            for start in range(0, rows.size, self.max_batch):
                chunk = rows[start : start + self.max_batch] if rows.size > self.max_batch else rows
                if not has_control:
                    self._step(chunk, key_ids, ts, values, outputs, n)
                    continue
                k = kind[chunk]
                data = chunk[k == DATA]
                # Keys in a round are distinct, so applying resets before and ends after the
                # round's data steps keeps every key's own order.
                if (k == RESET).any():
                    self.store.reset(key_ids[chunk[k == RESET]])
                if data.size:
                    self._step(data, key_ids, ts, values, outputs, n)
                if (k == END).any():
                    self._end(chunk[k == END], key_ids, outputs, emitted, n)
        return outputs, emitted

    def _end(self, rows, key_ids, outputs, emitted, n) -> None:
        slots = self.store.lookup(key_ids[rows])
        live = slots >= 0
        if live.any():
            final = self.operator.finish(self.store.gather(slots[live]))
            if final is not None:
                self._write(final, rows[live], outputs, n)
                emitted[rows[live]] = True
        self.store.end(key_ids[rows])

    @staticmethod
    def _write(out: dict[str, np.ndarray], rows: np.ndarray, outputs: dict[str, np.ndarray], n: int) -> None:
        for name, arr in out.items():
            dst = outputs.get(name)
            if dst is None:
                dst = outputs[name] = np.zeros((n, *arr.shape[1:]), dtype=arr.dtype)
            dst[rows] = arr

    def _step(self, rows, key_ids, ts, values, outputs, n) -> None:
        store = self.store
        slots = store.slots_for(key_ids[rows], ts[rows])
        state = store.gather(slots)
        t0 = time.perf_counter()
        out, new_state = self.operator.step_many(values[rows], state)
        elapsed = time.perf_counter() - t0
        store.scatter(slots, new_state)
        store.steps[slots] += 1
        self.calls += 1
        self._write(out, rows, outputs, n)
        if self.metrics is not None:
            self._m_batch.observe(rows.size)
            self._m_infer.observe(elapsed)

    def housekeeping(self, watermark: float) -> int:
        """TTL and max-bytes eviction after a micro-batch; returns keys evicted."""
        return self.store.evict_expired(watermark) + self.store.enforce_max_bytes()
