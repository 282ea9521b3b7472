"""State committed per input partition, to a changelog log, together with the offset it reflects.

Every key belongs to the input partition its events came from. At each commit the state
of every partition that moved is written to the changelog partition of the same number:

1. its snapshot (the checkpoint format, only that partition's keys), cut into chunks of at
   most ``chunk_bytes``, under the keys ``state/<topic>/<partition>/<slot>/<i>``;
2. once those are durable, a marker ``marker/<topic>/<partition>`` naming the generation,
   the slot, the chunk count, the payload's sha256 and the **input offset** the state reflects.

Slots alternate (``a``, ``b``) by generation, so the slot the newest marker names is never
the one being overwritten: a crash mid-write leaves the previous marker and its slot intact.
On a compacted topic the log keeps the latest value per key, so it stays the size of two
copies of the state. Restore reads the partition to its end, takes the newest marker and
its chunks, and returns the marker's offset: the changelog, not the consumer group's
committed offset, says where to resume, so a crash between "state written" and "offset
committed" replays nothing twice.

>>> import numpy as np
>>> from rnnstream.engine.keys import KeyTable
>>> from rnnstream.engine.state import ExtraSpec, StateSpec
>>> from rnnstream.engine.store import StateStore
>>> def host():
...     h = SimpleHost({"n": (StateStore(StateSpec((), (ExtraSpec("n"),))), "sha")}, KeyTable())
...     return h
>>> log, h = MemoryLog(), host()
>>> ps = PartitionedState(h, log)
>>> ids = h.keys.intern_many(["a", "b"])
>>> slots = h.stores()["n"][0].slots_for(ids)
>>> ps.track(ids, np.array([ps.part("in", 0), ps.part("in", 1)]))
>>> ps.write({("in", 0): 10, ("in", 1): 4}) > 0
True
>>> h2 = host()
>>> PartitionedState(h2, log).restore("in", 1), h2.keys.get("b") is not None, h2.keys.get("a")
(4, True, None)
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from rnnstream.runtime.checkpoint import decode_snapshot, encode_named, restore_snapshot
from rnnstream.errors import SnapshotError
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.store import StateStore

__all__ = ["ChangelogLog", "StateHost", "PartitionedState", "PendingWrite", "MemoryLog", "SimpleHost", "Marker",
           "CHUNK_BYTES"]

log = logging.getLogger(__name__)

CHUNK_BYTES = 512 * 1024
_CHUNK_MAGIC = b"RNCH"
_CHUNK_HEAD = struct.Struct(">4sQII16s")  # magic, generation, index, count, writer id


class ChangelogLog(Protocol):
    """A partitioned, ordered, durable log (a compacted Kafka topic in production)."""

    def append(self, records: list[tuple[int, bytes, bytes]]) -> None:
        """Write ``(partition, key, value)`` records; durable (acknowledged by all replicas) on return."""
        ...

    def scan(self, partition: int, progress: Callable[[float], None] | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, value)`` of ``partition`` from its beginning to its current end, in order."""
        ...


class StateHost(Protocol):
    """What the pipeline lends a partitioned source: its stores, its key table, and key dropping."""

    keys: KeyTable

    def stores(self) -> dict[str, tuple[StateStore, str]]: ...

    def drop_keys(self, ids: np.ndarray) -> None:
        """Forget these keys' state in every operator, without counting evictions."""
        ...


def _shared(host) -> dict:
    # Shared operator state (mined log templates) goes with every partition's state: a member
    # that takes a partition over learns the templates its keys were scored with.
    return host.shared_states() if isinstance(host, SharesStates) else {}


@runtime_checkable
class SharesStates(Protocol):
    """A state host whose operators may hold state shared by every key."""

    def shared_states(self) -> dict: ...


class SimpleHost:
    """A :class:`StateHost` over plain stores (tests, tools reading a changelog)."""

    def __init__(self, stores: dict[str, tuple[StateStore, str]], keys: KeyTable) -> None:
        self._stores = stores
        self.keys = keys

    def stores(self) -> dict[str, tuple[StateStore, str]]:
        return self._stores

    def drop_keys(self, ids: np.ndarray) -> None:
        for store, _ in self._stores.values():
            store.end(ids)
        self.keys.release(np.asarray(ids).tolist())


class MemoryLog:
    """An in-memory :class:`ChangelogLog` (tests; an uncompacted log keeps every record)."""

    def __init__(self) -> None:
        self.partitions: dict[int, list[tuple[bytes, bytes]]] = {}

    def append(self, records: list[tuple[int, bytes, bytes]]) -> None:
        for p, k, v in records:
            self.partitions.setdefault(p, []).append((k, v))

    def scan(self, partition: int, progress=None) -> Iterator[tuple[bytes, bytes]]:
        yield from list(self.partitions.get(partition, []))
        if progress is not None:
            progress(1.0)


class PendingWrite:
    """Partitions' state copied out of the stores, to be encoded and made durable (thread-safe)."""

    def __init__(self, log: ChangelogLog, parts: list, shared: dict[str, bytes], chunk_bytes: int,
                 writer: bytes) -> None:
        self.log, self.parts, self.shared = log, parts, shared
        self.chunk_bytes, self.writer = chunk_bytes, writer
        self.total = 0

    def run(self) -> None:
        """Encode and append: chunks first, markers only once every chunk is durable, so a
        marker never names a chunk that might be missing."""
        chunks: list[tuple[int, bytes, bytes]] = []
        markers: list[tuple[int, bytes, bytes]] = []
        for topic, partition, offset, _, gen, subset in self.parts:
            position = {"topic": topic, "partition": partition, "offset": offset}
            payload = encode_named(subset, position, shared=self.shared)
            slot = "ab"[gen % 2]
            pieces = [payload[i : i + self.chunk_bytes] for i in range(0, len(payload), self.chunk_bytes)]
            for i, piece in enumerate(pieces):
                head = _CHUNK_HEAD.pack(_CHUNK_MAGIC, gen, i, len(pieces), self.writer)
                chunks.append((partition, _chunk_key(topic, partition, slot, i), head + piece))
            marker = {
                "format": 1, "gen": gen, "slot": slot, "chunks": len(pieces), "bytes": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(), "offset": offset,
                "writer": self.writer.hex(), "written": round(time.time(), 3),
            }
            markers.append((partition, _marker_key(topic, partition), json.dumps(marker).encode()))
            self.total += len(payload)
        if chunks:
            self.log.append(chunks)
            self.log.append(markers)


class Marker:
    """The newest complete state of one input partition, as its marker record describes it."""

    def __init__(self, data: dict) -> None:
        self.gen = int(data["gen"])
        self.slot = str(data["slot"])
        self.chunks = int(data["chunks"])
        self.sha256 = str(data["sha256"])
        self.offset = int(data["offset"])
        self.writer = str(data.get("writer", ""))


def _chunk_key(topic: str, partition: int, slot: str, i: int) -> bytes:
    return f"state/{topic}/{partition}/{slot}/{i}".encode()


def _marker_key(topic: str, partition: int) -> bytes:
    return f"marker/{topic}/{partition}".encode()


class PartitionedState:
    """Key-to-partition ownership plus per-partition state commit and restore for one source."""

    def __init__(
        self,
        host: StateHost,
        changelog: ChangelogLog,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        on_progress: Callable[[float], None] | None = None,
    ) -> None:
        self.host = host
        self.log = changelog
        self.chunk_bytes = chunk_bytes
        self.on_progress = on_progress
        self.writer = uuid.uuid4().bytes
        self._index: dict[tuple[str, int], int] = {}
        self._tps: list[tuple[str, int]] = []
        self._owner = np.full(0, -1, dtype=np.int32)
        self._gen: dict[int, int] = {}
        self._written: dict[int, int] = {}  # partition index -> offset of the last durable state
        self.bytes_written = 0

    # -- ownership --------------------------------------------------------------------------
    def part(self, topic: str, partition: int) -> int:
        """A small integer for an input partition (stable for this process)."""
        tp = (topic, int(partition))
        idx = self._index.get(tp)
        if idx is None:
            idx = self._index[tp] = len(self._tps)
            self._tps.append(tp)
        return idx

    def track(self, key_ids: np.ndarray, parts: np.ndarray) -> None:
        """Record that ``key_ids[i]`` came from partition index ``parts[i]``."""
        if key_ids.size == 0:
            return
        top = int(key_ids.max()) + 1
        if top > self._owner.size:
            grown = np.full(max(top, 2 * self._owner.size, 64), -1, dtype=np.int32)
            grown[: self._owner.size] = self._owner
            self._owner = grown
        self._owner[key_ids] = parts

    def forget(self, ids: np.ndarray) -> None:
        """Key ids were released (their state is gone); a reused id must not inherit an owner."""
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[ids < self._owner.size]
        self._owner[ids] = -1

    def _owner_of(self, ids: np.ndarray) -> np.ndarray:
        out = np.full(ids.shape, -1, dtype=np.int32)
        known = ids < self._owner.size
        out[known] = self._owner[ids[known]]
        return out

    def owned(self, idx: int) -> np.ndarray:
        """Live key ids owned by partition index ``idx``."""
        live = [store.live_ids() for store, _ in self.host.stores().values()]
        ids = np.unique(np.concatenate(live)) if live else np.empty(0, np.int64)
        return ids[self._owner_of(ids) == idx]

    # -- commit -----------------------------------------------------------------------------
    def dirty(self, offsets: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """The partitions among ``offsets`` whose position moved since their last durable state."""
        return {tp: off for tp, off in offsets.items() if self._written.get(self.part(*tp)) != off}

    def write(self, offsets: dict[tuple[str, int], int]) -> int:
        """Make the state of every partition in ``offsets`` (next input offset) durable. Returns bytes."""
        pending = self.prepare(offsets)
        pending.run()
        return self.finish(pending)

    def prepare(self, offsets: dict[tuple[str, int], int]) -> PendingWrite:
        """Copy what ``offsets`` reflect out of the stores, on the pipeline's thread.

        :meth:`PendingWrite.run` may then encode and append it on another thread while the
        pipeline goes on; :meth:`finish` records it once it is durable.
        """
        exports = {op: (store.export(), sha) for op, (store, sha) in self.host.stores().items()} if offsets else {}
        shared = {op: owner.dump_shared() for op, owner in _shared(self.host).items()} if offsets else {}
        parts = []
        for (topic, partition), offset in offsets.items():
            idx = self.part(topic, partition)
            subset = {}
            for op, (exported, sha) in exports.items():
                mask = self._owner_of(exported["key_ids"]) == idx
                arrays = {k: v[mask] for k, v in exported.items() if k != "key_ids"}
                subset[op] = (self.host.keys.names(exported["key_ids"][mask]), arrays, sha)
            gen = self._gen.get(idx, 0) + 1
            parts.append((topic, partition, int(offset), idx, gen, subset))
        return PendingWrite(self.log, parts, shared, self.chunk_bytes, self.writer)

    def finish(self, pending: PendingWrite) -> int:
        for topic, partition, offset, idx, gen, _ in pending.parts:
            self._gen[idx] = gen
            self._written[idx] = offset
        self.bytes_written += pending.total
        return pending.total

    # -- restore ----------------------------------------------------------------------------
    def read(self, topic: str, partition: int) -> tuple[Marker, bytes] | None:
        """The newest complete state of ``topic/partition`` in the changelog, or None."""
        marker_key = _marker_key(topic, partition)
        prefix = f"state/{topic}/{partition}/".encode()
        marker: Marker | None = None
        chunks: dict[bytes, bytes] = {}
        for key, value in self.log.scan(partition, self.on_progress):
            if key == marker_key:
                try:
                    marker = Marker(json.loads(value))
                except (ValueError, KeyError, TypeError):
                    raise SnapshotError(f"changelog marker of {topic}/{partition} is unreadable") from None
            elif key.startswith(prefix):
                chunks[key] = value
        if marker is None:
            return None
        parts = []
        for i in range(marker.chunks):
            value = chunks.get(_chunk_key(topic, partition, marker.slot, i))
            if value is None or len(value) < _CHUNK_HEAD.size:
                raise SnapshotError(
                    f"changelog of {topic}/{partition}: chunk {i} of generation {marker.gen} is missing"
                )
            magic, gen, index, count, _ = _CHUNK_HEAD.unpack_from(value)
            if magic != _CHUNK_MAGIC or gen != marker.gen or index != i or count != marker.chunks:
                raise SnapshotError(
                    f"changelog of {topic}/{partition}: chunk {i} belongs to generation {gen}, not {marker.gen} "
                    "(two writers on one partition?)"
                )
            parts.append(value[_CHUNK_HEAD.size :])
        payload = b"".join(parts)
        if hashlib.sha256(payload).hexdigest() != marker.sha256:
            raise SnapshotError(f"changelog of {topic}/{partition}: generation {marker.gen} fails its checksum")
        return marker, payload

    def restore(self, topic: str, partition: int) -> int | None:
        """Load the partition's state (dropping any local copy first); return the offset to resume at."""
        idx = self.part(topic, partition)
        self.drop(idx)
        found = self.read(topic, partition)
        if found is None:
            self._gen.pop(idx, None)
            self._written.pop(idx, None)
            return None
        marker, payload = found
        snap = decode_snapshot(payload, origin=f"changelog {topic}/{partition}")
        outcome = restore_snapshot(snap, self.host.stores(), self.host.keys, shared=_shared(self.host))
        names = [snap.arrays[f"{op}/keys"] for op in snap.header.get("operators", {}) if f"{op}/keys" in snap.arrays]
        if names:
            allnames = np.concatenate(names)
            if allnames.size:
                self.track(self.host.keys.intern_many(allnames), np.full(allnames.size, idx, dtype=np.int32))
        self._gen[idx] = marker.gen
        self._written[idx] = marker.offset
        log.info(
            "restored %s/%d: generation %d, offset %d, %s",
            topic, partition, marker.gen, marker.offset, {op: o for op, o in outcome.items()},
        )
        return marker.offset

    def drop(self, idx: int) -> int:
        """Forget the state of every key owned by partition index ``idx`` (revoke). Returns the count."""
        ids = self.owned(idx)
        if ids.size:
            self.host.drop_keys(ids)
            self.forget(ids)
        self._written.pop(idx, None)
        return int(ids.size)
