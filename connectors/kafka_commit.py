"""The Kafka source's changelog: the topic itself, and writes that run beside the pipeline.

A commit copies the moved partitions' state out of the stores on the pipeline's thread
(a few milliseconds of numpy copies), then encodes it and appends it to the changelog on a
worker thread while the pipeline goes on processing. Only once the write is durable are its
offsets recorded and the group offsets committed, so the order "state durable, then offsets"
holds; a failed write surfaces on the pipeline's thread as a :class:`ConnectorError` and the
pipeline rewinds to the last durable state. One write is in flight at a time: the next
commit first waits for the previous one.
"""

from __future__ import annotations

import threading
from typing import Any

from rnnstream.connectors.kafka_client import TP, Backend
from rnnstream.errors import ConnectorError, RnnstreamError
from rnnstream.runtime.changelog import PartitionedState, PendingWrite

__all__ = ["KafkaChangelog", "BackgroundWriter"]


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


class BackgroundWriter:
    """At most one changelog write in flight, on a worker thread."""

    def __init__(self, state: PartitionedState) -> None:
        self._state = state
        self._thread: threading.Thread | None = None
        self._pending: PendingWrite | None = None
        self._offsets: dict[TP, int] = {}
        self._error: BaseException | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def submit(self, offsets: dict[TP, int]) -> None:
        """Copy the state ``offsets`` reflect now; encode and append it in the background."""
        if self._thread is not None:
            raise RnnstreamError("a changelog write is already in flight (collect it first)")
        self._pending, self._offsets, self._error = self._state.prepare(offsets), dict(offsets), None
        self._thread = threading.Thread(target=self._run, name="rnnstream-changelog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._pending.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the pipeline's thread by collect()
            self._error = exc

    def collect(self, *, wait: bool) -> tuple[dict[TP, int], int] | None:
        """``(offsets now durable, bytes)`` once the write in flight is done (``wait``: block
        for it); None while it runs or when there is none. Raises ConnectorError if it failed."""
        thread = self._thread
        if thread is None or (not wait and thread.is_alive()):
            return None
        thread.join()
        self._thread = None
        pending, offsets, error = self._pending, self._offsets, self._error
        self._pending, self._offsets, self._error = None, {}, None
        if error is not None:
            if isinstance(error, ConnectorError):
                raise error
            raise ConnectorError(f"changelog write failed: {error}") from None
        return offsets, self._state.finish(pending)
