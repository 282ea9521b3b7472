"""The micro-batcher: records from every source wait here until a batch is full or old enough.

A batch closes at ``max_rows`` rows or when its oldest record has waited ``max_wait_s``;
``poll_timeout`` tells the loop how long a source may block without making that record late.

>>> import numpy as np
>>> from rnnstream.engine.records import RecordBatch
>>> b = MicroBatcher(max_rows=3, max_wait_s=10.0)
>>> b.add(RecordBatch.data([0, 1], [0.0, 0.0], np.zeros((2, 1))))
>>> b.due(), len(b)
(False, 2)
>>> b.add(RecordBatch.data([2], [0.0], np.zeros((1, 1))))
>>> b.due(), len(b.take()), len(b)
(True, 3, 0)
"""

from __future__ import annotations

import time

from rnnstream.engine.records import RecordBatch

__all__ = ["MicroBatcher"]

IDLE_POLL_S = 0.05  # how long a source may block when nothing waits


class MicroBatcher:
    def __init__(self, *, max_rows: int, max_wait_s: float) -> None:
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self._pending: list[RecordBatch] = []
        self._rows = 0
        self._oldest = 0.0

    def __len__(self) -> int:
        return self._rows

    def __bool__(self) -> bool:
        return bool(self._pending)

    def add(self, batch: RecordBatch) -> None:
        """Queue a batch's rows (a batch with none is ignored)."""
        if not len(batch):
            return
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append(batch)
        self._rows += len(batch)

    def due(self) -> bool:
        return self._rows >= self.max_rows or time.monotonic() - self._oldest >= self.max_wait_s

    def age(self) -> float:
        """Seconds the oldest queued record has waited (0 when empty)."""
        return time.monotonic() - self._oldest if self._pending else 0.0

    def poll_timeout(self) -> float:
        if not self._pending:
            return IDLE_POLL_S
        return max(0.0, self.max_wait_s - (time.monotonic() - self._oldest))

    def take(self) -> RecordBatch:
        """Everything queued, as one batch, in arrival order; the batcher is empty afterwards."""
        batch = RecordBatch.concat(self._pending)
        self.clear()
        return batch

    def clear(self) -> None:
        self._pending, self._rows = [], 0
