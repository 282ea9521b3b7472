"""Slab store: byte accounting, TTL, LRU bound, end of stream, growth."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.engine.state import ExtraSpec, StateSpec, TensorSpec
from rnnstream.engine.store import SLOT_OVERHEAD_BYTES, StateStore

SPEC = StateSpec((TensorSpec("h", "h_out", (0, 1, 64)),), (ExtraSpec("n", (), "float64"),))


def test_bytes_per_idle_key_under_1kib():
    store = StateStore(SPEC)
    store.slots_for(np.arange(10000), np.zeros(10000))
    assert store.bytes_per_key == 64 * 4 + 8 + SLOT_OVERHEAD_BYTES
    assert store.allocated_bytes / 10000 < 1024


def test_ttl_evicts_only_stale_keys_and_reports_them():
    released = []
    store = StateStore(SPEC, ttl_s=10.0, on_release=lambda ids, why: released.append((ids.tolist(), why)))
    store.slots_for(np.array([1, 2, 3]), np.array([0.0, 15.0, 20.0]))
    assert store.evict_expired(watermark=20.0) == 1
    assert released == [([1], "ttl")]
    assert store.lookup(np.array([1, 2, 3])).tolist()[0] == -1
    assert (store.lookup(np.array([2, 3])) >= 0).all()


def test_max_bytes_evicts_least_recently_used():
    per_key = StateStore(SPEC).bytes_per_key
    released = []
    store = StateStore(SPEC, max_bytes=3 * per_key, on_release=lambda ids, why: released.extend(ids.tolist()))
    for k in [1, 2, 3, 4, 5]:
        store.slots_for(np.array([k]))
    store.slots_for(np.array([1]))  # 1 is now the most recent
    assert store.enforce_max_bytes() == 2
    assert sorted(released) == [2, 3]
    assert store.live_keys == 3 and store.live_bytes <= 3 * per_key


def test_end_frees_slot_for_reuse_and_state_restarts():
    store = StateStore(SPEC)
    s = store.slots_for(np.array([7]))
    store.scatter(s, {"h": np.ones((1, 1, 64), np.float32), "n": np.array([3.0])})
    assert store.end(np.array([7, 99])) == 1
    s2 = store.slots_for(np.array([8]))
    assert s2[0] == s[0]  # the freed slot is reused
    got = store.gather(s2)
    assert got["h"].sum() == 0 and got["n"][0] == 0


def test_growth_preserves_existing_slots():
    store = StateStore(SPEC, capacity=2)
    s = store.slots_for(np.array([0, 1]))
    store.scatter(s, {"h": np.stack([np.full((1, 64), 1.0), np.full((1, 64), 2.0)]).astype(np.float32)})
    store.slots_for(np.arange(2, 100))
    got = store.gather(store.lookup(np.array([0, 1])))["h"]
    assert got[0].mean() == 1.0 and got[1].mean() == 2.0
    assert store.capacity >= 100


def test_extras_fill_values_start_each_key():
    spec = StateSpec((), (ExtraSpec("prev", (2,), "float64", np.nan),))
    store = StateStore(spec)
    assert np.isnan(store.gather(store.slots_for(np.array([4])))["prev"]).all()


@pytest.mark.parametrize("axis", [0, 1])
def test_batch_axis_round_trip(axis):
    spec = TensorSpec("h", "h_out", (0, 2, 3) if axis == 0 else (2, 0, 3), batch_axis=axis)
    slot_major = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
    model = spec.to_model(slot_major)
    assert model.shape[axis] == 4
    np.testing.assert_array_equal(spec.from_model(model), slot_major)
