"""The three invariances, as property tests over random chunking, interleaving and batching.

1. Chunked == whole: feeding a key's sequence event by event, in micro-batches cut at
   random points and interleaved with other keys, gives torch's whole-sequence output.
2. Batched == single: any batch composition gives the outputs of one key at a time.
3. Isolation: resetting, ending or evicting one key leaves every other key unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="comparing with torch needs the train extra")

from rnnstream.operators.rnn import RnnOperator  # noqa: E402
from rnnstream.engine.records import DATA, END, RESET  # noqa: E402
from rnnstream.engine.scheduler import Scheduler  # noqa: E402
from rnnstream.engine.session import load_session  # noqa: E402
from rnnstream.engine.store import StateStore  # noqa: E402

CELLS = [(c, n) for c in ("rnn", "lstm", "gru") for n in (1, 2)]
INPUT = 3


def workload(seed: int):
    """Random keys, sequences, an order-preserving interleaving and micro-batch cuts."""
    rng = np.random.default_rng(seed)
    n_keys = int(rng.integers(1, 7))
    lengths = rng.integers(1, 13, size=n_keys)
    seqs = [rng.standard_normal((int(t), INPUT)).astype(np.float32) for t in lengths]
    order = rng.permutation(np.repeat(np.arange(n_keys), lengths))  # key of each event, in arrival order
    pos = np.zeros(n_keys, dtype=int)
    values = np.empty((order.size, INPUT), np.float32)
    for i, k in enumerate(order):
        values[i] = seqs[k][pos[k]]
        pos[k] += 1
    n_cuts = int(rng.integers(0, max(1, order.size)))
    cuts = np.unique(rng.integers(1, max(2, order.size), size=n_cuts))
    max_batch = int(rng.choice([1, 2, 3, 64]))
    return seqs, order.astype(np.int64) * 7 + 3, values, cuts, max_batch  # sparse, non-zero key ids


def run(session, key_ids, values, cuts, max_batch, *, ts=None, kind=None, hook=None):
    sched = Scheduler(RnnOperator(session), max_batch=max_batch)
    ts = np.arange(key_ids.size, dtype=np.float64) if ts is None else ts
    kind = np.zeros(key_ids.size, np.int8) if kind is None else kind
    ys = np.full((key_ids.size, 2), np.nan, np.float32)
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, key_ids.size]):
        if hook is not None:
            hook(sched, lo)
        out, emitted = sched.process(key_ids[lo:hi], ts[lo:hi], values[lo:hi], kind[lo:hi])
        ys[lo:hi][emitted] = out["y"][emitted]
    return ys, sched


def per_key(ys, key_ids):
    return {int(k): ys[key_ids == k] for k in np.unique(key_ids)}


def torch_whole(net, seq):
    with torch.no_grad():
        y, _ = net(torch.from_numpy(seq)[None])
    return y[0].numpy()


def final_state(sched, kid):
    slot = sched.store.lookup(np.array([kid]))
    return {k: v[0] for k, v in sched.store.gather(slot).items()}


@pytest.fixture(scope="module", params=CELLS, ids=[f"{c}{n}" for c, n in CELLS])
def model(request, model_factory):
    cell, layers = request.param
    net, path = model_factory(cell=cell, layers=layers, input_size=INPUT, hidden=8, output_size=2)
    return net, load_session(path, provider="cpu")


@given(seed=st.integers(0, 2**31 - 1))
def test_chunked_equals_whole_sequence(model, seed):
    net, session = model
    seqs, key_ids, values, cuts, max_batch = workload(seed)
    ys, _ = run(session, key_ids, values, cuts, max_batch)
    got = per_key(ys, key_ids)
    for k, seq in enumerate(seqs):
        np.testing.assert_allclose(got[k * 7 + 3], torch_whole(net, seq), atol=1e-5, rtol=0)


@given(seed=st.integers(0, 2**31 - 1))
def test_batched_equals_single(model, seed):
    _, session = model
    _, key_ids, values, cuts, max_batch = workload(seed)
    batched, sched_b = run(session, key_ids, values, cuts, max_batch)
    # One event per call: every call has batch size 1.
    single, sched_s = run(session, key_ids, values, np.arange(1, key_ids.size), 1)
    np.testing.assert_allclose(batched, single, atol=1e-5, rtol=0)
    for kid in np.unique(key_ids):
        for name, arr in final_state(sched_b, kid).items():
            np.testing.assert_allclose(arr, final_state(sched_s, kid)[name], atol=1e-5, rtol=0)
    assert sched_b.calls <= sched_s.calls


@given(seed=st.integers(0, 2**31 - 1), action=st.sampled_from(["reset", "end", "evict"]), where=st.floats(0, 1))
def test_one_key_lifecycle_never_touches_another(model, seed, action, where):
    net, session = model
    seqs, key_ids, values, cuts, max_batch = workload(seed)
    victim = int(key_ids[0])
    at = int(where * (key_ids.size - 1))
    cuts = np.unique(np.r_[cuts, at]) if at > 0 else cuts
    # Victim events are old in event time, so a TTL sweep expires only the victim.
    ts = np.where(key_ids == victim, 0.0, 1000.0 + np.arange(key_ids.size))

    def evict(sched, lo):
        if action == "evict" and lo == at:
            sched.store.ttl_s = 500.0
            assert sched.store.evict_expired(1000.0) == (1 if (key_ids[:at] == victim).any() else 0)
            sched.store.ttl_s = None

    kind = np.zeros(key_ids.size + 1, np.int8)
    ins_ids, ins_vals, ins_ts = key_ids, values, ts
    if action in ("reset", "end"):  # a control record for the victim, in stream order
        kind = np.insert(np.zeros(key_ids.size, np.int8), at, RESET if action == "reset" else END)
        ins_ids = np.insert(key_ids, at, victim)
        ins_vals = np.insert(values, at, 0.0, axis=0)
        ins_ts = np.insert(ts, at, 0.0)
        cuts = np.where(cuts > at, cuts + 1, cuts)
    else:
        kind = np.zeros(key_ids.size, np.int8)
    with_op, sched_a = run(session, ins_ids, ins_vals, cuts, max_batch, ts=ins_ts, kind=kind, hook=evict)
    without, sched_b = run(session, key_ids, values, cuts[cuts < key_ids.size], max_batch, ts=ts)

    data = kind == DATA
    got_a = per_key(with_op[data], ins_ids[data])
    got_b = per_key(without, key_ids)
    for kid in np.unique(key_ids):
        if kid == victim:
            continue
        np.testing.assert_allclose(got_a[kid], got_b[kid], atol=1e-6, rtol=0)
        for name, arr in final_state(sched_a, kid).items():
            np.testing.assert_allclose(arr, final_state(sched_b, kid)[name], atol=1e-6, rtol=0)
    # The victim itself starts over from a fresh state after the operation.
    seq = seqs[(victim - 3) // 7]
    done = int((key_ids[:at] == victim).sum())
    if done < len(seq):
        np.testing.assert_allclose(got_a[victim][done:], torch_whole(net, seq[done:]), atol=1e-5, rtol=0)


def test_backlogged_key_advances_one_step_per_round(model):
    _, session = model
    sched = Scheduler(RnnOperator(session), max_batch=1024)
    key_ids = np.array([1] * 5 + [2, 3], dtype=np.int64)
    sched.process(key_ids, np.zeros(7), np.zeros((7, INPUT), np.float32))
    # Key 1's five events need five rounds; keys 2 and 3 ride along in the first.
    assert sched.calls == 5
    assert sched.store.steps[sched.store.lookup(np.array([1, 2, 3]))].tolist() == [5, 1, 1]


def test_store_growth_keeps_state(model):
    _, session = model
    store = StateStore(session.state_spec, capacity=1)
    sched = Scheduler(RnnOperator(session), store, max_batch=7)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, INPUT)).astype(np.float32)
    ref = Scheduler(RnnOperator(session), max_batch=50)
    a, _ = sched.process(np.arange(50), np.zeros(50), x)
    b, _ = ref.process(np.arange(50), np.zeros(50), x)
    a2, _ = sched.process(np.arange(50), np.zeros(50), x)
    b2, _ = ref.process(np.arange(50), np.zeros(50), x)
    assert store.capacity >= 50
    np.testing.assert_allclose(a2["y"], b2["y"], atol=1e-5)
