"""The one Source and the one Sink protocol every connector implements.

A source hands out columnar :class:`~rnnstream.engine.records.RecordBatch` micro-batches, with
bad records already split off as dead records. Its ``position()`` describes everything
handed out so far, so a checkpoint that stores it next to the state can resume exactly.
A sink receives :class:`~rnnstream.engine.records.OutputBatch` objects and must have made them
durable (or handed them to its client with delivery guaranteed) when ``flush()`` returns.

What only some connectors can do is declared as a small capability protocol, and the
runtime asks with ``isinstance``, never with ``getattr``:

>>> class Replay:
...     name = "replay"
...     def rewind(self) -> None: ...
>>> isinstance(Replay(), Rewindable), isinstance(Replay(), Partitioned)
(True, False)
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from rnnstream.engine.records import DeadRecord, OutputBatch, RecordBatch

__all__ = ["Source", "Sink", "DeadLetterSink", "Partitioned", "Rewindable", "ReportsLag", "Pausable", "Finishable",
           "FlushesOnSchedule"]


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


# -- capabilities ---------------------------------------------------------------------------------


@runtime_checkable
class Partitioned(Protocol):
    """A consumer-group member whose keys' state follows its partitions (Kafka).

    The pipeline lends itself as the state host (:class:`~rnnstream.runtime.changelog.StateHost`)
    before the first poll; the source restores and commits state per partition itself.
    """

    def bind(self, host: Any) -> None: ...

    @property
    def ready(self) -> bool:
        """False while partitions are being restored; ``/readyz`` reports it."""
        ...

    @property
    def commit_due(self) -> bool:
        """A rebalance or backpressure needs a commit now, not at the next interval."""
        ...


@runtime_checkable
class Rewindable(Protocol):
    """Can go back to its last committed position after a failure (instead of the checkpoint file)."""

    def rewind(self) -> None: ...


@runtime_checkable
class ReportsLag(Protocol):
    """Knows how many records wait upstream (``/healthz`` fails when they wait and nothing commits)."""

    @property
    def lag(self) -> int: ...


@runtime_checkable
class Pausable(Protocol):
    """Stops fetching under backpressure until the next commit (its poll time counts as backpressured)."""

    @property
    def paused(self) -> bool: ...


@runtime_checkable
class Finishable(Protocol):
    """A live source that, asked to stop, ends its streams (END records) before it reports exhausted,
    so a stopped pipeline still emits what the streams hold (an utterance in progress)."""

    def finish(self) -> None: ...


@runtime_checkable
class FlushesOnSchedule(Protocol):
    """A sink or dead-letter sink that delivers to a broker: the pipeline commits on its interval
    so that delivery failures surface even without a checkpoint file."""

    def flush(self) -> None: ...

    @property
    def flushes_on_schedule(self) -> bool: ...
