"""The one Source and the one Sink protocol every connector implements.

A source hands out columnar :class:`~rnnstream.engine.records.RecordBatch` micro-batches, with
bad records already split off as dead records. Its ``position()`` describes everything
handed out so far, so a checkpoint that stores it next to the state can resume exactly.
A sink receives :class:`~rnnstream.engine.records.OutputBatch` objects and must have made them
durable (or handed them to its client with delivery guaranteed) when ``flush()`` returns.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from rnnstream.engine.records import DeadRecord, OutputBatch, RecordBatch

__all__ = ["Source", "Sink", "DeadLetterSink"]


@runtime_checkable
class Source(Protocol):
    name: str

    def poll(self, timeout_s: float) -> RecordBatch | None:
        """The next micro-batch, or None if nothing arrived within ``timeout_s``."""
        ...

    @property
    def exhausted(self) -> bool:
        """True once a finite source (a file) has handed out everything."""
        ...

    def position(self) -> Any:
        """JSON-serialisable position after the last record handed out."""
        ...

    def seek(self, position: Any) -> None:
        """Resume after ``position`` (from a checkpoint) before the first poll."""
        ...

    def commit(self, position: Any) -> None:
        """The state reflecting ``position`` is durable; a broker source may commit offsets now."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Sink(Protocol):
    name: str

    def write(self, batch: OutputBatch) -> None: ...

    def flush(self) -> None:
        """Block until everything written so far is delivered."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class DeadLetterSink(Protocol):
    def write_dead(self, records: list[DeadRecord]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...
