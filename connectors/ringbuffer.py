"""A single-producer/single-consumer sample ring that the audio callback can write without locks.

The producer (PortAudio's callback thread) and the consumer (the recogniser's loop) share
two monotonically growing counters: ``written`` (published by the producer after its copy)
and ``consumed`` (published by the consumer after its copy). Each side only ever stores
its own counter, and a Python attribute store is atomic, so neither side waits for the
other. The storage is allocated once; a write that does not fit is dropped whole and
counted (``overflows`` blocks, ``dropped`` samples), never blocking and never growing.

Every write may carry a timestamp (when the block arrived); :meth:`RingBuffer.stamp_at`
finds the arrival time of any recent sample, which is how latency is measured from the
moment audio reached the process.

>>> import numpy as np
>>> rb = RingBuffer(8)
>>> rb.write(np.arange(5, dtype=np.float32), stamp=1.0), rb.write(np.arange(5, dtype=np.float32))
(True, False)
>>> rb.read().tolist(), rb.overflows, rb.dropped
([0.0, 1.0, 2.0, 3.0, 4.0], 1, 5)
>>> rb.stamp_at(4), rb.write(np.arange(6, dtype=np.float32), stamp=2.0), rb.read(4).tolist()
(1.0, True, [0.0, 1.0, 2.0, 3.0])
"""

from __future__ import annotations

import numpy as np

from rnnstream.errors import ConfigError

__all__ = ["RingBuffer"]


class RingBuffer:
    """``capacity`` samples of ``dtype``; ``max_stamps`` write timestamps are remembered."""

    def __init__(self, capacity: int, *, dtype=np.float32, max_stamps: int = 1024) -> None:
        if capacity <= 0 or max_stamps <= 0:
            raise ConfigError(f"ring buffer: capacity and max_stamps must be positive, got {capacity}, {max_stamps}")
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, dtype=dtype)
        self._st_start = np.zeros(max_stamps, np.int64)  # first sample of the stamped write
        self._st_end = np.zeros(max_stamps, np.int64)  # one past its last sample
        self._st_time = np.zeros(max_stamps, np.float64)
        self._n_stamps = 0
        self.written = 0  # producer-owned
        self.consumed = 0  # consumer-owned
        self.overflows = 0  # producer-owned: blocks dropped
        self.dropped = 0  # producer-owned: samples dropped

    # -- producer side: no allocation, no lock, no wait ----------------------------------
    def write(self, samples: np.ndarray, stamp: float | None = None) -> bool:
        """Copy ``samples`` in; False (and counted) when they do not fit."""
        n = samples.shape[0]
        w = self.written
        cap = self.capacity
        if n > cap - (w - self.consumed):
            self.overflows += 1
            self.dropped += n
            return False
        i = w % cap
        first = min(n, cap - i)
        self._buf[i : i + first] = samples[:first]
        if first < n:
            self._buf[: n - first] = samples[first:]
        if stamp is not None:
            j = self._n_stamps % self._st_end.shape[0]
            self._st_start[j] = w
            self._st_end[j] = w + n
            self._st_time[j] = stamp
            self._n_stamps += 1
        self.written = w + n  # publish only after the samples are in place
        return True

    # -- consumer side ---------------------------------------------------------------------
    def available(self) -> int:
        return self.written - self.consumed

    def read(self, max_n: int | None = None) -> np.ndarray:
        """Up to ``max_n`` (default: all) of the oldest unread samples, as a new array."""
        r = self.consumed
        n = self.written - r
        if max_n is not None:
            n = min(n, max_n)
        cap = self.capacity
        i = r % cap
        first = min(n, cap - i)
        out = np.empty(n, self._buf.dtype)
        out[:first] = self._buf[i : i + first]
        out[first:] = self._buf[: n - first]
        self.consumed = r + n  # frees the space only after the copy
        return out

    def stamp_at(self, index: int) -> float:
        """Arrival stamp of the write that carried sample ``index`` (NaN if not remembered).

        Only the last ``max_stamps`` writes are kept; a stamp the producer overwrites while
        this runs can come out one write late, which is harmless for latency figures.
        """
        n = self._n_stamps
        size = self._st_end.shape[0]
        k = min(n, size)
        if k == 0:
            return float("nan")
        order = np.arange(n - k, n) % size
        ends = self._st_end[order]
        pos = int(np.searchsorted(ends, index, side="right"))
        if pos >= k or index < self._st_start[order[pos]]:  # not written yet, or a forgotten write
            return float("nan")
        return float(self._st_time[order[pos]])
