"""The few Kafka client operations rnnstream needs, behind one interface, for two libraries.

``kafka-python`` (pure Python, the default) and ``confluent-kafka`` (librdkafka, several
times faster) both implement :class:`Backend`. Everything above this layer (the source, the
sink, the changelog) is the same code whichever library runs underneath. Client settings
from the config's ``client:`` mapping pass straight through, in the chosen library's own
spelling (``security_protocol``/``sasl_mechanism`` for kafka-python,
``security.protocol``/``sasl.mechanism`` for confluent-kafka).

Rebalances reach the source through :class:`RebalanceHandler`. ``revoked`` may run on a
client thread while the caller is blocked in ``poll`` (kafka-python 3 runs listeners on
its IO thread), so it must not call blocking consumer APIs; ``assigned`` always runs on the
thread that called ``poll``, after the new partitions were paused, and returns the offset
each partition must resume at.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from rnnstream.connectors.kafka_wire import WireMessages
from rnnstream.errors import ConfigError, ConnectorError

__all__ = [
    "TP",
    "RebalanceHandler",
    "Consumer",
    "Producer",
    "LogReader",
    "Admin",
    "Backend",
    "load_backend",
    "LIBRARIES",
    "resolve_library",
]

TP = tuple[str, int]
LIBRARIES = {"kafka-python": "rnnstream.connectors.kafka_kpy", "confluent": "rnnstream.connectors.kafka_ck"}


class RebalanceHandler(Protocol):
    def revoked(self, tps: list[TP], lost: bool) -> None:
        """Partitions are leaving; ``lost`` means another member may own them already."""
        ...

    def assigned(self, tps: list[TP]) -> dict[TP, int]:
        """Partitions arrived (paused); restore them and return where each resumes."""
        ...


class Consumer(Protocol):
    def subscribe(self, topics: list[str], handler: RebalanceHandler) -> None: ...

    def poll(self, timeout_s: float, max_records: int) -> WireMessages:
        """Fetched messages; rebalance callbacks run inside. Paused partitions yield nothing."""
        ...

    def assignment(self) -> list[TP]: ...

    def pause(self, tps: list[TP]) -> None: ...

    def resume(self, tps: list[TP]) -> None: ...

    def seek(self, tp: TP, offset: int) -> None: ...

    def commit(self, offsets: dict[TP, int], *, wait: bool = True) -> None:
        """Commit next-offsets to the group; ``wait=False`` never blocks (safe inside ``revoked``)."""
        ...

    def committed(self, tps: list[TP]) -> dict[TP, int | None]: ...

    def beginning(self, tps: list[TP]) -> dict[TP, int]: ...

    def end(self, tps: list[TP]) -> dict[TP, int]: ...

    def highwater(self, tp: TP) -> int | None:
        """Log end offset last seen in a fetch response (no request), or None."""
        ...

    def close(self) -> None: ...


class Producer(Protocol):
    def send(self, topic: str, key: bytes | None, value: bytes, headers: list | None = None,
             partition: int | None = None) -> None:
        """Queue one message; delivery failures surface in :meth:`flush`."""
        ...

    def send_many(self, topic: str, keys: list[bytes], values: list[bytes], headers: list[list] | None) -> None: ...

    def flush(self, timeout_s: float) -> None:
        """Block until everything queued is acknowledged; raise ConnectorError on any failure since the last flush."""
        ...

    def close(self) -> None: ...


class LogReader(Protocol):
    def scan(self, topic: str, partition: int,
             progress: Callable[[float], None] | None = None) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of every message of one partition, from the beginning to the current end."""
        ...

    def close(self) -> None: ...


class Admin(Protocol):
    def partitions(self, topic: str) -> int | None:
        """Partition count, or None when the topic does not exist."""
        ...

    def create(self, topic: str, partitions: int, configs: dict[str, str], replication: int = -1) -> None:
        """Create a topic (no error if it exists); ``replication=-1`` takes the broker's default."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    name: str

    def consumer(self, servers: list[str], group_id: str, client: dict[str, Any]) -> Consumer: ...

    def producer(self, servers: list[str], client: dict[str, Any]) -> Producer: ...

    def reader(self, servers: list[str], client: dict[str, Any]) -> LogReader: ...

    def admin(self, servers: list[str], client: dict[str, Any]) -> Admin: ...


def resolve_library(library: str, client: dict | None = None) -> str:
    """``auto`` made concrete: confluent when installed and ``client`` is empty, else kafka-python.

    >>> resolve_library("kafka-python"), resolve_library("auto", {"security_protocol": "SSL"})
    ('kafka-python', 'kafka-python')
    """
    if library != "auto":
        return library
    if not client and importlib.util.find_spec("confluent_kafka") is not None:
        return "confluent"
    return "kafka-python"


def load_backend(library: str, client: dict | None = None) -> Backend:
    """The backend for ``kafka-python``, ``confluent`` or ``auto`` (see :func:`resolve_library`);
    one clear error when it is not installed."""
    library = resolve_library(library, client)
    module_name = LIBRARIES.get(library)
    if module_name is None:
        raise ConfigError(f"library: unknown Kafka client {library!r} (have {', '.join(LIBRARIES)})")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = "kafka" if library == "kafka-python" else "confluent"
        raise ConnectorError(
            f"Kafka client {library!r} is not installed ({exc.name}); pip install 'rnnstream[{extra}]'"
        ) from None
    return module.BACKEND
