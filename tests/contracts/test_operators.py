"""Operator contracts: every operator in ``operators.OPERATORS`` through the same checks.

An operator keeps nothing per key itself (all of it is in the scheduler's slab store), so
whatever the runtime does around it must not show in its outputs:

1. Batched == one key at a time: random interleavings of several keys, cut into random
   micro-batches, with ``max_batch`` 1, 2, 3 and 64, give every key exactly the outputs it
   gets alone (a fresh store, one event per call). Every output field is compared: floats
   within a tight tolerance, text, flags and word lists with ``==``.
2. Isolation: a RESET or END record for one key, or its eviction (TTL housekeeping after a
   micro-batch, or ``store.end``), leaves every other key's outputs unchanged, and the key
   itself starts over from a fresh state.
3. Snapshot, restore, continue == uninterrupted: the checkpoint module's encode, write, read
   and restore (into a fresh store, key table and operator, as after a restart) mid-stream.
4. Chunked == whole, where the operator defines "whole": for RNN, forecast and anomaly
   operators a stream cut anywhere equals one micro-batch (and, for the RNN operator, the
   torch network's whole-sequence output); for ASR the streamed finals equal
   ``op.whole_text(signal)``.

The operators (``operators.OPERATORS``, on the small session fixture models): the RNN
operator on a GRU, on a 2-layer LSTM and on a GRU fed 4-step chunks; forecast; anomaly;
ASR with greedy finals, with beam-4 finals, and with beam-4 finals pooled with a companion
model. Every workload ends each key with an END record, so ``finish`` (ASR finals) is
covered too. Examples are few (hypothesis, seeded workloads); each batched check runs all
four ``max_batch`` values.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import DATA, END, RESET
from rnnstream.engine.scheduler import Scheduler
from rnnstream.engine.store import StateStore
from rnnstream.runtime.checkpoint import encode_snapshot, read_snapshot, restore_snapshot, write_snapshot

EXAMPLES = settings(max_examples=6)
SEEDS = st.integers(0, 2**31 - 1)


def run(ops, built, w, cuts, max_batch, *, store=None, hook=None, rows=None):
    """Each row's outputs (None if it emitted nothing) through one fresh scheduler.

    ``rows`` replaces the workload's (ids, ts, values, kind) columns."""
    ids, ts, values, kind = rows if rows is not None else (w.ids, w.ts, w.values, w.kind)
    sched = Scheduler(built.make(), store if store is not None else StateStore(built.op.spec), max_batch=max_batch)
    return ops.drive(sched, ids, ts, values, kind, cuts, hook=hook), sched


def random_cuts(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.unique(rng.integers(1, max(2, n), size=int(rng.integers(0, max(1, n)))))


def references(ops, built, w) -> dict[int, list[dict]]:
    """Each key's outputs when it is alone."""
    return {k: ops.alone(built, w, k) for k in range(len(w.names))}


def check_keys(ops, built, got: dict[int, list[dict]], want: dict[int, list[dict]], what: str) -> None:
    for k, rows in want.items():
        ops.assert_same_rows(got.get(k, []), rows, built.impl.atol, f"{built.impl.id} {what} key k{k}")


# -- 1. batched == one key at a time ----------------------------------------------------------------
@EXAMPLES
@given(seed=SEEDS)
def test_batched_equals_one_key_at_a_time(ops, operator, seed):
    w = ops.workload(operator.impl, seed)
    want = references(ops, operator, w)
    rng = np.random.default_rng(seed + 1)
    for max_batch in ops.MAX_BATCHES:
        rows, sched = run(ops, operator, w, random_cuts(rng, len(w.key)), max_batch)
        check_keys(ops, operator, ops.per_key(rows, w.key), want, f"max_batch={max_batch}:")
        assert sched.store.live_keys == 0, "every key ended, yet state is left in the store"


# -- 2. isolation -----------------------------------------------------------------------------------
ACTIONS = ["reset", "end", "ttl", "store_end"]


def with_action(w, action: str, at: int, victim_id: int):
    """The workload's rows with ``action`` done to key k0 at row ``at``: a control row inserted
    there (reset, end), or event times that let TTL housekeeping expire k0, and only k0, at
    the end of every micro-batch up to row ``at``. Also returns each row's original index
    (-1 for an inserted row)."""
    ids, ts, values, kind, key = w.ids, w.ts.copy(), w.values, w.kind, w.key
    orig = np.arange(len(ids))
    if action in ("reset", "end"):
        ids, key, orig = np.insert(ids, at, victim_id), np.insert(key, at, 0), np.insert(orig, at, -1)
        values = np.insert(values, at, 0.0, axis=0)
        kind, ts = np.insert(kind, at, RESET if action == "reset" else END), np.insert(ts, at, float(at))
    elif action == "ttl":
        ts[(orig < at) & (key == 0)] = -1e6
    return (ids, ts, values, kind), key, orig


@pytest.mark.parametrize("action", ACTIONS)
@EXAMPLES
@given(seed=SEEDS, where=st.floats(0.0, 1.0))
def test_one_keys_lifecycle_leaves_the_others_alone(ops, operator, action, seed, where):
    w = ops.workload(operator.impl, seed, min_keys=2)
    victim_id = int(w.ids[w.key == 0][0])
    at = int(where * (len(w.key) - 1))
    if action == "ttl":  # the watermark must have moved past k0's old events: another key came first
        at = max(at, int(np.flatnonzero(w.key != 0)[0]) + 1)
    want = references(ops, operator, w)
    cols, key, orig = with_action(w, action, at, victim_id)
    inserted = 1 if action in ("reset", "end") else 0
    cuts = np.unique(np.r_[np.where(w.cuts > at, w.cuts + inserted, w.cuts), at])
    released: list[tuple[int, str]] = []
    store = StateStore(operator.op.spec, ttl_s=float(len(orig) + 10) if action == "ttl" else None,
                       on_release=lambda ids, why: released.extend((int(i), why) for i in ids))
    ended: list[int] = []

    def hook(sched, lo):
        if action == "store_end" and lo == at:
            ended.append(sched.store.end(np.array([victim_id])))

    rows, _ = run(ops, operator, w, cuts, w.max_batch, store=store, hook=hook, rows=cols)
    got = ops.per_key(rows, key, only=orig >= 0)
    others = {k: v for k, v in want.items() if k != 0}
    check_keys(ops, operator, {k: got[k] for k in others}, others, f"{action} of k0 at row {at}:")

    # k0 itself: as alone before the action (TTL may expire it after any earlier micro-batch
    # too), and a fresh start after it.
    victim = w.rows_of(0)
    live_at = bool((victim < at).any()) and not (w.kind[victim[victim < at]] == END).any()

    def out(sel) -> list[dict]:
        return [r for r, o, k in zip(rows, orig, key) if r is not None and k == 0 and o >= 0 and sel(o)]

    if action != "ttl":
        ops.assert_same_rows(out(lambda o: o < at), ops.alone(operator, w, 0, victim[victim < at]),
                             operator.impl.atol, f"{operator.impl.id}: k0 before the {action}")
    # A reset key stays live (with a fresh state); an ended or evicted one is gone.
    fresh = ops.alone(operator, w, 0, victim[victim >= at], live=action == "reset" and live_at)
    ops.assert_same_rows(out(lambda o: o >= at), fresh, operator.impl.atol,
                         f"{operator.impl.id}: k0 after the {action} at row {at}")

    # The action really happened, and to k0 only.
    assert all(i == victim_id for i, why in released if why != "end"), f"other keys evicted: {released}"
    if action == "store_end":
        assert ended == [1 if live_at else 0]
    if action == "ttl" and live_at:
        assert (victim_id, "ttl") in released, f"TTL housekeeping never expired k0: {released}"


# -- 3. snapshot, restore, continue -----------------------------------------------------------------
@EXAMPLES
@given(seed=SEEDS, where=st.floats(0.0, 1.0))
def test_snapshot_restore_and_continue_equals_an_uninterrupted_run(ops, operator, tmp_path_factory, seed, where):
    w = ops.workload(operator.impl, seed)
    want = references(ops, operator, w)
    at = int(where * len(w.key))
    first = Scheduler(operator.make(), StateStore(operator.op.spec), max_batch=w.max_batch)
    head = ops.drive(first, w.ids, w.ts, w.values, w.kind, w.cuts, stop=at)
    name, sha = first.operator.name, first.operator.describe()["sha256"]
    path = tmp_path_factory.mktemp("snap") / "state.ckpt"
    write_snapshot(path, encode_snapshot({name: (first.store, sha)}, w.keys, {"src": {"offset": at}}))

    # A restart: a new key table, store and operator on the same model.
    snap = read_snapshot(path)
    assert snap.positions == {"src": {"offset": at}}
    keys, op = KeyTable(), operator.make()
    store = StateStore(op.spec)
    assert restore_snapshot(snap, {name: (store, op.describe()["sha256"])}, keys) == {name: "restored"}
    live = first.store.live_ids()
    assert sorted(keys.names(store.live_ids()).tolist()) == sorted(w.keys.names(live).tolist())
    ids = keys.intern_many([w.names[k] for k in w.key.tolist()])  # ids in the new table may differ
    tail = ops.drive(Scheduler(op, store, max_batch=w.max_batch), ids, w.ts, w.values, w.kind, w.cuts, start=at)
    check_keys(ops, operator, ops.per_key(head[:at] + tail[at:], w.key), want, f"restored at row {at}:")


# -- 4. chunked == whole ----------------------------------------------------------------------------
@EXAMPLES
@given(seed=SEEDS)
def test_chunked_equals_whole(ops, operator, seed):
    w = ops.workload(operator.impl, seed)
    rows, _ = run(ops, operator, w, w.cuts, w.max_batch)
    got = ops.per_key(rows, w.key)
    if operator.impl.streamed_text:
        for k, seq in enumerate(w.seqs):
            streamed = " ".join(r["text"] for r in got[k] if r["final"] and r["text"])
            assert streamed == operator.op.whole_text(seq.reshape(-1)), f"k{k}: streamed finals != whole_text"
        return
    whole_rows, _ = run(ops, operator, w, np.empty(0, np.int64), 1 << 20)
    check_keys(ops, operator, got, ops.per_key(whole_rows, w.key), "cut anywhere vs one micro-batch:")
    if operator.whole is not None:
        for k, seq in enumerate(w.seqs):
            data = [rows[i] for i in w.rows_of(k) if w.kind[i] == DATA]
            ops.assert_same_rows(data, operator.whole(seq), operator.impl.atol, f"k{k} vs the torch whole sequence")
