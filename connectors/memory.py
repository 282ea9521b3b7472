"""An in-memory source and sink: for callers that hold their records already (file transcription,
evaluation, benchmarks, tests) and still want the one pipeline path.

>>> import numpy as np
>>> from rnnstream.engine.records import RecordBatch
>>> src = MemorySource()
>>> src.push(RecordBatch.data([0, 1], [0.0, 0.0], np.zeros((2, 1))))
>>> batch = src.poll(0.0)
>>> len(batch), batch.position, src.poll(0.0)
(2, 2, None)
>>> src.close(); src.exhausted
True
"""

from __future__ import annotations

from collections import deque

from rnnstream.engine.records import DeadRecord, OutputBatch, RecordBatch
from rnnstream.errors import ConnectorError

__all__ = ["MemorySource", "MemorySink", "MemoryDeadLetters"]


class MemorySource:
    """Batches pushed by the caller, handed out whole on the next poll, in push order.

    The position is the number of records handed out. Nothing can be replayed: the records
    are the caller's, so ``seek`` only sets the count.
    """

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self._queue: deque[RecordBatch] = deque()
        self._handed = 0
        self._closed = False

    def push(self, batch: RecordBatch) -> None:
        if self._closed:
            raise ConnectorError(f"source {self.name!r} is closed")
        self._queue.append(batch)

    def poll(self, timeout_s: float) -> RecordBatch | None:
        if not self._queue:
            return None
        batches = list(self._queue)
        self._queue.clear()
        batch = RecordBatch.concat(batches)
        batch.source = self.name
        self._handed += len(batch) + len(batch.dead)
        batch.position = self._handed
        return batch

    @property
    def exhausted(self) -> bool:
        return self._closed and not self._queue

    def position(self) -> int:
        return self._handed

    def seek(self, position: int) -> None:
        self._handed = int(position)

    def commit(self, position: int) -> None:
        """Nothing to acknowledge: the caller owns the records."""

    def close(self) -> None:
        self._closed = True


class MemorySink:
    """Keeps every :class:`OutputBatch` written until :meth:`take` hands them over."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.batches: list[OutputBatch] = []
        self.closed = False

    def write(self, batch: OutputBatch) -> None:
        if len(batch):
            self.batches.append(batch)

    def take(self) -> list[OutputBatch]:
        out, self.batches = self.batches, []
        return out

    def flush(self) -> None:
        """Written batches are already delivered: they sit in :attr:`batches`."""

    def close(self) -> None:
        self.closed = True


class MemoryDeadLetters:
    """Keeps dead records in :attr:`records`."""

    def __init__(self) -> None:
        self.records: list[DeadRecord] = []

    def write_dead(self, records: list[DeadRecord]) -> None:
        self.records.extend(records)

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        """Nothing to release."""
