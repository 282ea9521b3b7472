"""RingBuffer: wraparound, overflow accounting, stamps, and SPSC ordering across real threads."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnstream.connectors.ringbuffer import RingBuffer
from rnnstream.errors import ConfigError


@given(
    capacity=st.integers(1, 64),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 80)), max_size=60),
)
def test_matches_a_bounded_fifo_that_drops_whole_writes(capacity, ops):
    rb = RingBuffer(capacity)
    model: deque[float] = deque()
    counter, overflows, dropped = 0, 0, 0
    for is_write, n in ops:
        if is_write:
            block = np.arange(counter, counter + n, dtype=np.float32)
            counter += n
            fits = n <= capacity - len(model)
            assert rb.write(block) == fits
            if fits:
                model.extend(block.tolist())
            else:
                overflows, dropped = overflows + 1, dropped + n
        else:
            got = rb.read(n)
            want = [model.popleft() for _ in range(min(n, len(model)))]
            assert got.tolist() == want
        assert rb.available() == len(model)
        assert (rb.overflows, rb.dropped) == (overflows, dropped)
    assert rb.read().tolist() == list(model)


def test_wraparound_keeps_order_across_the_end_of_storage():
    rb = RingBuffer(10)
    assert rb.write(np.arange(7, dtype=np.float32))
    assert rb.read(6).tolist() == list(range(6))
    assert rb.write(np.arange(7, 15, dtype=np.float32))  # spans storage indices 7..9 then 0..4
    assert rb.available() == 9
    assert rb.read().tolist() == list(range(6, 15))
    assert rb.written == 15 and rb.consumed == 15


def test_a_full_buffer_drops_the_new_block_and_never_corrupts_the_old():
    rb = RingBuffer(8)
    assert rb.write(np.ones(6, np.float32))
    assert not rb.write(np.full(3, 2.0, np.float32))
    assert not rb.write(np.full(9, 3.0, np.float32))  # larger than the whole buffer
    assert rb.write(np.full(2, 4.0, np.float32))  # exactly the free space
    assert (rb.overflows, rb.dropped) == (2, 12)
    assert rb.read().tolist() == [1.0] * 6 + [4.0] * 2


def test_stamps_name_the_write_that_carried_a_sample():
    rb = RingBuffer(100, max_stamps=3)
    for i in range(5):
        rb.write(np.zeros(10, np.float32), stamp=float(i))
    assert rb.stamp_at(45) == 4.0 and rb.stamp_at(30) == 3.0 and rb.stamp_at(20) == 2.0
    assert np.isnan(rb.stamp_at(19))  # that write's stamp is forgotten
    assert np.isnan(rb.stamp_at(50))  # not written yet
    assert np.isnan(RingBuffer(4).stamp_at(0))


def test_bad_sizes_are_config_errors():
    with pytest.raises(ConfigError):
        RingBuffer(0)
    with pytest.raises(ConfigError):
        RingBuffer(8, max_stamps=0)


def test_spsc_threads_deliver_every_kept_block_in_order():
    """A producer thread and this consumer share the ring with no lock.

    Whatever the interleaving, the consumer sees exactly the producer's accepted blocks, in
    order, and every rejected block is counted; nothing is torn or duplicated.
    """
    rb = RingBuffer(997)  # prime, so blocks straddle the end at ever-changing places
    sizes = np.random.default_rng(1).integers(1, 120, 4000)
    accepted: list[bool] = []
    done = threading.Event()

    def produce() -> None:
        start = 0
        for n in sizes.tolist():
            accepted.append(rb.write(np.arange(start, start + n, dtype=np.float64).astype(np.float32)))
            start += n
        done.set()

    got = []
    th = threading.Thread(target=produce)
    th.start()
    while not done.is_set() or rb.available():
        got.append(rb.read(int(np.random.default_rng(len(got)).integers(1, 300))))
    th.join()
    received = np.concatenate(got)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    kept = [np.arange(s, s + n) for s, n, ok in zip(starts, sizes, accepted) if ok]
    np.testing.assert_array_equal(received, np.concatenate(kept).astype(np.float32))
    assert rb.overflows == accepted.count(False)
    assert rb.dropped == int(sizes[~np.array(accepted)].sum())
    assert rb.written == received.size
