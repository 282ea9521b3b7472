"""Streaming polyphase resampling: block by block, the same samples as one whole-signal call.

Microphones deliver audio at their own rate (often 44.1 or 48 kHz) in small blocks; the
recogniser wants 16 kHz. :class:`StreamResampler` designs the same Kaiser-windowed FIR as
:func:`scipy.signal.resample_poly` and keeps just enough input history between blocks, so
the concatenated output of :meth:`~StreamResampler.push` plus :meth:`~StreamResampler.flush`
equals ``resample_poly`` of the concatenated input. It delays the output by half the filter
(``half_len / up`` input samples: 0.6 ms at 48 kHz), not by a block.

>>> import numpy as np
>>> from scipy.signal import resample_poly
>>> x = np.random.default_rng(0).standard_normal(4800).astype(np.float32)
>>> rs = StreamResampler(48000, 16000)
>>> y = np.concatenate([rs.push(x[:1000]), rs.push(x[1000:1001]), rs.push(x[1001:]), rs.flush()])
>>> y.shape, bool(np.abs(y - resample_poly(x, 1, 3)).max() < 1e-5)
((1600,), True)
"""

from __future__ import annotations

from math import gcd

import numpy as np

from rnnstream.errors import ConfigError

__all__ = ["StreamResampler"]

_MAX_ROWS = 4096  # outputs computed per gather; bounds the temporary to rows x taps


class StreamResampler:
    """``rate_in`` -> ``rate_out`` (integers, Hz); identity when they are equal."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        if rate_in <= 0 or rate_out <= 0 or int(rate_in) != rate_in or int(rate_out) != rate_out:
            raise ConfigError(f"resampler: rates must be positive integers, got {rate_in} -> {rate_out}")
        g = gcd(int(rate_in), int(rate_out))
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.up, self.down = self.rate_out // g, self.rate_in // g
        self.identity = self.up == self.down == 1
        self.n_in = 0  # input samples pushed
        self.n_out = 0  # output samples returned
        self._done = False
        if self.identity:
            self.half = 0
            return
        from scipy.signal import firwin

        max_rate = max(self.up, self.down)
        self.half = 10 * max_rate  # resample_poly's filter half length
        h = firwin(2 * self.half + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * self.up
        self.taps = -(-h.size // self.up)
        # Phase p of the polyphase bank holds h[p], h[p + up], ...; output j sits at
        # up-sampled position m = j*down + half and reads x[m//up - t] against bank[m % up, t].
        bank = np.zeros((self.up, self.taps))
        for p in range(self.up):
            c = h[p :: self.up]
            bank[p, : c.size] = c
        self._bank = bank
        self._hist = np.zeros(self.taps - 1)  # x before the stream starts is zero
        self._hist_start = -(self.taps - 1)  # absolute input index of _hist[0]

    def input_index(self, j: int) -> int:
        """The last input sample that output ``j`` depends on (for latency bookkeeping)."""
        return j if self.identity else (j * self.down + self.half) // self.up

    def push(self, x: np.ndarray) -> np.ndarray:
        """Every output sample that the input so far fully determines."""
        if self._done:
            raise ConfigError("resampler: push after flush")
        x = np.asarray(x, dtype=np.float32)
        self.n_in += x.size
        if self.identity:
            self.n_out += x.size
            return x.copy()
        self._hist = np.concatenate([self._hist, x.astype(np.float64)])
        # Output j is ready once its newest input (m // up) has arrived.
        ready = max(self.n_out, (self.n_in * self.up - 1 - self.half) // self.down + 1)
        return self._emit(ready)

    def flush(self) -> np.ndarray:
        """The remaining outputs, reading zeros past the end (as ``resample_poly`` does)."""
        if self._done:
            return np.empty(0, np.float32)
        self._done = True
        if self.identity:
            return np.empty(0, np.float32)
        total = -(-self.n_in * self.up // self.down)
        if total <= self.n_out:
            return np.empty(0, np.float32)
        last = ((total - 1) * self.down + self.half) // self.up
        pad = last + 1 - (self._hist_start + self._hist.size)
        if pad > 0:
            self._hist = np.concatenate([self._hist, np.zeros(pad)])
        return self._emit(total)

    def _emit(self, end: int) -> np.ndarray:
        out = np.empty(max(0, end - self.n_out), np.float32)
        lag = np.arange(self.taps)
        for a in range(self.n_out, end, _MAX_ROWS):
            j = np.arange(a, min(end, a + _MAX_ROWS))
            m = j * self.down + self.half
            idx = (m // self.up - self._hist_start)[:, None] - lag[None, :]
            out[a - self.n_out : a - self.n_out + j.size] = np.einsum("jt,jt->j", self._hist[idx],
                                                                      self._bank[m % self.up])
        self.n_out = max(self.n_out, end)
        # Keep only the history the next output can still reach.
        keep_from = (self.n_out * self.down + self.half) // self.up - (self.taps - 1)
        cut = keep_from - self._hist_start
        if cut > 0:
            self._hist = self._hist[cut:]
            self._hist_start = keep_from
        return out
