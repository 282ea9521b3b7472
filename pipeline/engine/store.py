"""Slab state store: every key's state lives at a slot of preallocated arrays.

One array per state tensor holds all keys (``[capacity, *per_key_shape]``), so gathering a
batch of keys is ``slab[slots]`` and writing back is ``slab[slots] = new``: two fancy-index
operations whatever the batch size. Free slots sit on a stack; the slabs double when full.

>>> import numpy as np
>>> from rnnstream.engine.state import StateSpec, TensorSpec
>>> store = StateStore(StateSpec((TensorSpec("h", "h_out", (1, 4)),)))
>>> slots = store.slots_for(np.array([7, 9]), np.array([0.0, 0.0]))
>>> store.scatter(slots, {"h": np.ones((2, 4), np.float32)})
>>> store.live_keys, float(store.gather(store.slots_for(np.array([9]), np.array([1.0])))["h"].sum())
(2, 4.0)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnnstream.errors import SnapshotError
from rnnstream.engine.state import StateSpec

__all__ = ["StateStore", "ReleaseHook", "SLOT_OVERHEAD_BYTES"]

# Bookkeeping per slot: key id, last event time, last use tick, step count, and the id->slot entry.
SLOT_OVERHEAD_BYTES = 8 * 5

ReleaseHook = Callable[[np.ndarray, str], None]
"""Called with (key ids, reason) when keys leave the store: 'end', 'ttl' or 'max_bytes'."""


class StateStore:
    """Per-key state for one operator, in slab arrays indexed by slot."""

    def __init__(
        self,
        spec: StateSpec,
        *,
        capacity: int = 64,
        max_bytes: int | None = None,
        ttl_s: float | None = None,
        on_release: ReleaseHook | None = None,
    ) -> None:
        self.spec = spec
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._on_release = on_release
        self._layout = spec.slot_shapes()
        self._capacity = 0
        self._slabs: dict[str, np.ndarray] = {}
        self._slot_key = np.empty(0, dtype=np.int64)
        self.last_ts = np.empty(0, dtype=np.float64)
        self._last_used = np.empty(0, dtype=np.int64)
        self.steps = np.empty(0, dtype=np.int64)
        self._free = np.empty(0, dtype=np.int64)
        self._n_free = 0
        self._id_to_slot = np.full(0, -1, dtype=np.int64)
        self._tick = 0
        self._live = 0
        self._grow(max(1, capacity))

    # -- sizing -----------------------------------------------------------------------------
    @property
    def live_keys(self) -> int:
        return self._live

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def bytes_per_key(self) -> int:
        return self.spec.per_key_bytes + SLOT_OVERHEAD_BYTES

    @property
    def live_bytes(self) -> int:
        """Bytes that live keys occupy; the ``max_bytes`` bound applies to this."""
        return self._live * self.bytes_per_key

    @property
    def allocated_bytes(self) -> int:
        """Bytes actually held by the slabs and index, free slots included."""
        slabs = sum(a.nbytes for a in self._slabs.values())
        book = self._slot_key.nbytes + self.last_ts.nbytes + self._last_used.nbytes
        return slabs + book + self.steps.nbytes + self._free.nbytes + self._id_to_slot.nbytes

    def _grow(self, new_capacity: int) -> None:
        old = self._capacity
        for name, (shape, dtype, fill) in self._layout.items():
            slab = np.full((new_capacity, *shape), fill, dtype=dtype)
            if old:
                slab[:old] = self._slabs[name]
            self._slabs[name] = slab
        self._slot_key = _extend(self._slot_key, new_capacity, -1)
        self.last_ts = _extend(self.last_ts, new_capacity, -np.inf)
        self._last_used = _extend(self._last_used, new_capacity, 0)
        self.steps = _extend(self.steps, new_capacity, 0)
        # Free stack is popped from the end, so lower slots are handed out first.
        new_free = np.arange(new_capacity - 1, old - 1, -1, dtype=np.int64)
        free = np.empty(new_capacity, dtype=np.int64)
        free[: new_free.size] = new_free
        free[new_free.size : new_free.size + self._n_free] = self._free[: self._n_free]
        self._free = free
        self._n_free += new_free.size
        self._capacity = new_capacity

    def _ensure_ids(self, max_id: int) -> None:
        if max_id >= self._id_to_slot.size:
            self._id_to_slot = _extend(self._id_to_slot, max(2 * self._id_to_slot.size, max_id + 1), -1)

    # -- slots ------------------------------------------------------------------------------
    def slots_for(self, key_ids: np.ndarray, ts: np.ndarray | None = None) -> np.ndarray:
        """Slots for ``key_ids``, allocating (and initialising) slots for unseen keys.

        With ``ts``, ``key_ids`` must be distinct (as in one scheduler round).
        """
        key_ids = np.asarray(key_ids, dtype=np.int64)
        if key_ids.size == 0:
            return np.empty(0, dtype=np.int64)
        if key_ids.size == 1:
            self._ensure_ids(int(key_ids[0]))
        else:
            self._ensure_ids(int(key_ids.max()))
        slots = self._id_to_slot[key_ids]
        missing = slots < 0
        if missing.any():
            new_ids = np.unique(key_ids[missing])
            new_slots = self._alloc(new_ids.size)
            self._id_to_slot[new_ids] = new_slots
            self._slot_key[new_slots] = new_ids
            self._init_slots(new_slots)
            self._live += new_ids.size
            slots = self._id_to_slot[key_ids]
        self._tick += 1
        self._last_used[slots] = self._tick
        if ts is not None:
            # Callers pass distinct keys (one round), so a plain fancy-index max is exact.
            self.last_ts[slots] = np.maximum(self.last_ts[slots], ts)
        return slots

    def lookup(self, key_ids: np.ndarray) -> np.ndarray:
        """Slots for known keys, -1 for unknown ones; allocates nothing."""
        key_ids = np.asarray(key_ids, dtype=np.int64)
        out = np.full(key_ids.shape, -1, dtype=np.int64)
        known = key_ids < self._id_to_slot.size
        out[known] = self._id_to_slot[key_ids[known]]
        return out

    def _alloc(self, n: int) -> np.ndarray:
        if n > self._n_free:
            self._grow(max(2 * self._capacity, self._capacity - self._n_free + n))
        self._n_free -= n
        return self._free[self._n_free : self._n_free + n][::-1].copy()

    def _init_slots(self, slots: np.ndarray) -> None:
        for name, (_, _, fill) in self._layout.items():
            self._slabs[name][slots] = fill
        self.last_ts[slots] = -np.inf
        self.steps[slots] = 0

    def gather(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """Slot-major copies ``[B, *per_key]`` of every state array for ``slots``."""
        return {name: slab[slots] for name, slab in self._slabs.items()}

    def scatter(self, slots: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Write slot-major arrays back; names not in ``values`` keep their old content."""
        for name, arr in values.items():
            self._slabs[name][slots] = arr

    # -- lifecycle --------------------------------------------------------------------------
    def reset(self, key_ids: np.ndarray) -> None:
        """Start the given keys' state over (keys stay live)."""
        slots = self.lookup(key_ids)
        slots = slots[slots >= 0]
        self._init_slots(slots)

    def end(self, key_ids: np.ndarray) -> int:
        """Explicit end of stream: drop the keys' state. Returns how many were live."""
        slots = self.lookup(key_ids)
        return self._release(np.unique(slots[slots >= 0]), "end")

    def evict_expired(self, watermark: float) -> int:
        """Drop keys whose last event time is older than ``watermark - ttl_s``."""
        if self.ttl_s is None or self._live == 0:
            return 0
        live = self._slot_key >= 0
        stale = np.flatnonzero(live & (self.last_ts < watermark - self.ttl_s))
        return self._release(stale, "ttl")

    def enforce_max_bytes(self) -> int:
        """Drop least recently used keys until live bytes fit ``max_bytes``."""
        if self.max_bytes is None or self.live_bytes <= self.max_bytes:
            return 0
        excess = self._live - self.max_bytes // self.bytes_per_key
        live = np.flatnonzero(self._slot_key >= 0)
        oldest = live[np.argpartition(self._last_used[live], excess - 1)[:excess]]
        return self._release(oldest, "max_bytes")

    def _release(self, slots: np.ndarray, reason: str) -> int:
        if slots.size == 0:
            return 0
        ids = self._slot_key[slots].copy()
        self._id_to_slot[ids] = -1
        self._slot_key[slots] = -1
        self._free[self._n_free : self._n_free + slots.size] = slots
        self._n_free += slots.size
        self._live -= slots.size
        if self._on_release is not None:
            self._on_release(ids, reason)
        return int(slots.size)

    def live_ids(self) -> np.ndarray:
        return self._slot_key[self._slot_key >= 0].copy()

    # -- snapshot ---------------------------------------------------------------------------
    def export(self) -> dict[str, np.ndarray]:
        """Arrays of every live key (ids, times, steps, slabs) for a snapshot."""
        slots = np.flatnonzero(self._slot_key >= 0)
        out = {"key_ids": self._slot_key[slots], "last_ts": self.last_ts[slots], "steps": self.steps[slots]}
        for name, slab in self._slabs.items():
            out[f"slab/{name}"] = slab[slots]
        return out

    def load(self, key_ids: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        """Restore keys exported by :meth:`export` (ids already mapped to this process)."""
        for name, (shape, dtype, _) in self._layout.items():
            arr = arrays.get(f"slab/{name}")
            if arr is None or arr.shape != (len(key_ids), *shape) or arr.dtype != dtype:
                raise SnapshotError(f"snapshot state {name!r} does not match this operator's state spec")
        slots = self.slots_for(key_ids)
        for name in self._layout:
            self._slabs[name][slots] = arrays[f"slab/{name}"]
        self.last_ts[slots] = arrays["last_ts"]
        self.steps[slots] = arrays["steps"]


def _extend(arr: np.ndarray, size: int, fill: float) -> np.ndarray:
    out = np.full(size, fill, dtype=arr.dtype)
    out[: arr.size] = arr
    return out
