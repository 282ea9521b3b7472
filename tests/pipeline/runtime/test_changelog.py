"""Partition-scoped state commit: crash at any record of a write, restore what was durable."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.runtime.changelog import MemoryLog, PartitionedState, SimpleHost
from rnnstream.errors import ConnectorError, SnapshotError
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.state import ExtraSpec, StateSpec
from rnnstream.engine.store import StateStore

SPEC = StateSpec((), (ExtraSpec("v", (16,), "float64"),))


class Crash(ConnectorError):
    pass


class CrashingLog(MemoryLog):
    """Accepts ``budget`` more records, then 'crashes' part-way through an append."""

    def __init__(self, base: MemoryLog, budget: int) -> None:
        super().__init__()
        self.partitions = base.partitions
        self.budget = budget

    def append(self, records):
        for rec in records:
            if self.budget == 0:
                raise Crash("power cut")
            self.budget -= 1
            super().append([rec])


def host():
    return SimpleHost({"op": (StateStore(SPEC), "sha-1")}, KeyTable())


def put(h, ps, items):
    """items: (key, partition, value) -> state v[:] = value, owned by that partition of topic 'in'."""
    names = [k for k, _, _ in items]
    ids = h.keys.intern_many(names)
    store = h.stores()["op"][0]
    slots = store.slots_for(ids)
    store.scatter(slots, {"v": np.array([[v] * 16 for _, _, v in items], dtype=np.float64)})
    ps.track(ids, np.array([ps.part("in", p) for _, p, _ in items], dtype=np.int32))


def state_of(h) -> dict[str, float]:
    exported = h.stores()["op"][0].export()
    names = h.keys.names(exported["key_ids"]).tolist() if exported["key_ids"].size else []
    return {n: float(exported["slab/v"][i][0]) for i, n in enumerate(names)}


def restore(log, partition):
    h = host()
    offset = PartitionedState(h, log).restore("in", partition)
    return offset, state_of(h)


def test_restore_returns_the_offset_the_state_reflects_per_partition():
    log, h = MemoryLog(), host()
    ps = PartitionedState(h, log)
    put(h, ps, [("a", 0, 1.0), ("b", 1, 2.0), ("c", 0, 3.0)])
    ps.write({("in", 0): 10, ("in", 1): 20})
    assert restore(log, 0) == (10, {"a": 1.0, "c": 3.0})
    assert restore(log, 1) == (20, {"b": 2.0})
    assert restore(log, 2) == (None, {})


def test_only_moved_partitions_are_written_again():
    log, h = MemoryLog(), host()
    ps = PartitionedState(h, log)
    put(h, ps, [("a", 0, 1.0), ("b", 1, 2.0)])
    ps.write({("in", 0): 10, ("in", 1): 20})
    assert ps.dirty({("in", 0): 10, ("in", 1): 25}) == {("in", 1): 25}


def copy_of(log: MemoryLog) -> MemoryLog:
    out = MemoryLog()
    out.partitions = {p: list(recs) for p, recs in log.partitions.items()}
    return out


def attempt(ps: PartitionedState, log: MemoryLog, offsets, budget: int | None) -> bool:
    """Write through ``log`` (crashing after ``budget`` records); the writer's memory is left as it was."""
    saved = dict(ps._gen), dict(ps._written), ps.log
    ps.log = log if budget is None else CrashingLog(log, budget)
    try:
        ps.write(offsets)
        return True
    except Crash:
        return False
    finally:
        ps._gen, ps._written = saved[0], saved[1]
        ps.log = saved[2]


@pytest.mark.parametrize("chunk_bytes", [1024, 512 * 1024])
def test_a_crash_at_any_record_of_a_write_leaves_the_previous_state_restorable(chunk_bytes):
    keys = [f"k{i}" for i in range(60)]
    base, h = MemoryLog(), host()
    ps = PartitionedState(h, base, chunk_bytes=chunk_bytes)
    put(h, ps, [(k, 0, 1.0) for k in keys])
    ps.write({("in", 0): 100})
    put(h, ps, [(k, 0, 2.0) for k in keys])
    probe = copy_of(base)
    assert attempt(ps, probe, {("in", 0): 200}, None)
    n_records = len(probe.partitions[0]) - len(base.partitions[0])
    # One chunk and the marker; or, with small chunks, several chunks and the marker.
    assert n_records == 2 if chunk_bytes > 100_000 else n_records > 5
    for budget in range(n_records):
        log = copy_of(base)
        assert not attempt(ps, log, {("in", 0): 200}, budget)
        assert restore(log, 0) == (100, {k: 1.0 for k in keys}), f"crash after {budget} records"
    log = copy_of(base)
    assert attempt(ps, log, {("in", 0): 200}, n_records)
    assert restore(log, 0) == (200, {k: 2.0 for k in keys})


def test_restart_after_a_crash_reuses_the_slot_of_the_lost_generation():
    log, h = MemoryLog(), host()
    ps = PartitionedState(h, log, chunk_bytes=1024)
    put(h, ps, [(f"k{i}", 0, 1.0) for i in range(40)])
    ps.write({("in", 0): 5})
    put(h, ps, [(f"k{i}", 0, 2.0) for i in range(40)])
    assert not attempt(ps, log, {("in", 0): 9}, 3)
    # A new process restores generation 1, then writes generation 2 again over the torn slot.
    h2 = host()
    ps2 = PartitionedState(h2, log, chunk_bytes=1024)
    assert ps2.restore("in", 0) == 5
    put(h2, ps2, [("k0", 0, 7.0)])
    ps2.write({("in", 0): 6})
    offset, state = restore(log, 0)
    assert offset == 6 and state["k0"] == 7.0 and state["k1"] == 1.0


def test_damage_is_one_clear_error():
    log, h = MemoryLog(), host()
    ps = PartitionedState(h, log)
    put(h, ps, [("a", 0, 1.0)])
    ps.write({("in", 0): 1})
    key, value = log.partitions[0][0]
    log.partitions[0][0] = (key, value[:-1] + bytes([value[-1] ^ 1]))
    with pytest.raises(SnapshotError, match="checksum"):
        restore(log, 0)
    log.partitions[0].pop(0)
    with pytest.raises(SnapshotError, match="missing"):
        restore(log, 0)


def test_revoked_partition_is_dropped_and_its_key_ids_forgotten():
    log, h = MemoryLog(), host()
    ps = PartitionedState(h, log)
    put(h, ps, [("a", 0, 1.0), ("b", 1, 2.0)])
    assert ps.drop(ps.part("in", 0)) == 1
    assert state_of(h) == {"b": 2.0} and h.keys.get("a") is None
    # The released id is reused by a key of another partition: it must not inherit partition 0.
    put(h, ps, [("c", 1, 3.0)])
    assert ps.owned(ps.part("in", 0)).size == 0 and ps.owned(ps.part("in", 1)).size == 2


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2), st.floats(-1e6, 1e6)), min_size=1, max_size=60),
       st.integers(0, 40))
def test_restore_equals_the_last_complete_commit(updates, crash_budget):
    log, h = MemoryLog(), host()
    ps = PartitionedState(h, log, chunk_bytes=1024)
    model: dict[int, dict[str, float]] = {0: {}, 1: {}, 2: {}}
    half = len(updates) // 2
    for k, p, v in updates[:half]:
        put(h, ps, [(f"k{k}-{p}", p, v)])
        model[p][f"k{k}-{p}"] = v
    ps.write({("in", p): 1 for p in range(3)})
    for k, p, v in updates[half:]:
        put(h, ps, [(f"k{k}-{p}", p, v)])
    after = {p: dict(m) for p, m in model.items()}
    for k, p, v in updates[half:]:
        after[p][f"k{k}-{p}"] = v
    complete = attempt(ps, log, {("in", p): 2 for p in range(3)}, crash_budget)
    for p in range(3):
        offset, state = restore(log, p)
        # Each partition is wholly at its new commit or wholly at its old one, never a mix.
        assert (offset, state) in ((1, model[p]), (2, after[p]))
        if complete:
            assert offset == 2
