"""How rare is this value for this key? Tail probabilities from decayed per-key histograms.

Each channel (one key's value dimension) keeps, per signal, a histogram over fixed bins whose
counts decay by ``(1 - decay)`` per event, so it describes the recent past (about
``1/decay`` events). A value's upper-tail probability is the share of that past at or above
it; beyond the highest occupied bin the tail shrinks by ``exp(-extrap)`` per bin, so a value
far outside everything seen ranks above one just outside. Scores are in "nines",
``-log10(tail)``: 2 means one event in a hundred, the same meaning for every key, which is
what makes keys comparable. A histogram is read *before* the event joins it.

Several signals share one array ``[channels, signals, bins]`` (a signal with fewer bins
leaves the rest empty), so one array operation serves them all.

>>> import numpy as np
>>> tails = StackedTails([(0.0, 4.0, 4, 0.0, 1.0)])
>>> h, n = np.zeros((1, 1, 4), np.float32), np.zeros((1, 1))
>>> for v in [0.5, 1.5, 0.5, 0.5]:
...     n = tails.update(h, n, np.array([[v]]))
>>> [round(float(tails.nines(h, n, np.array([[v]]))[0][0, 0]), 2) for v in (0.5, 1.5, 3.5)]
[0.15, 0.52, 1.35]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["StackedTails"]

_OCCUPIED = 1e-9  # a bin whose decayed count is below this holds nothing worth counting
_PRIOR = 1.0  # one imaginary event beyond the value: no tail is ever exactly empty


class StackedTails:
    """Histograms for several signals; ``specs``: one ``(lo, hi, bins, decay, extrap)`` each."""

    def __init__(self, specs: Sequence[tuple[float, float, int, float, float]]) -> None:
        lo, hi, bins, decay, extrap = (np.array(col, dtype=np.float64) for col in zip(*specs))
        self.lo, self.bins, self.decay, self.extrap = lo, bins.astype(np.int64), decay, extrap
        self.width = (hi - lo) / bins
        self.size = int(self.bins.max())
        self.keep = (1.0 - decay).astype(np.float32)[:, None]
        self._cols = np.arange(self.size)
        self._sig = np.arange(len(specs))

    def _locate(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (r - self.lo) / self.width
        k = np.clip(np.floor(pos), 0, self.bins - 1).astype(np.int64)
        return pos, k, np.clip(pos - k, 0.0, 1.0)

    def update(self, hist: np.ndarray, n: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Decay ``hist`` in place and count ``r`` (``[channels, signals]``); returns the new ``n``."""
        k = self._locate(r)[1]
        hist *= self.keep
        hist[np.arange(k.shape[0])[:, None], self._sig[None, :], k] += 1.0
        return n * (1.0 - self.decay) + 1.0

    def nines(self, hist: np.ndarray, n: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(upper, two_sided)`` nines of ``r`` per channel and signal, before ``r`` is counted.

        upper: ``-log10 P(signal >= r)``; two-sided: ``-log10`` of twice the smaller tail.
        """
        pos, k, frac = self._locate(r)
        hk = hist[np.arange(k.shape[0])[:, None], self._sig[None, :], k]
        above = np.where(self._cols > k[..., None], hist, 0.0).sum(-1) + hk * (1.0 - frac)
        below = hist.sum(-1) - above  # the rest of the value's bin and everything under it
        occ = hist > _OCCUPIED
        anything = occ.any(-1)
        top = np.where(anything, self.size - 1 - np.argmax(occ[..., ::-1], -1), -1)
        bottom = np.where(anything, np.argmax(occ, -1), self.bins)
        norm = n + _PRIOR
        up = np.minimum((above + _PRIOR * np.exp(-self.extrap * np.maximum(pos - (top + 1), 0.0))) / norm, 1.0)
        down = np.minimum((below + _PRIOR * np.exp(-self.extrap * np.maximum(bottom - pos, 0.0))) / norm, 1.0)
        return -np.log10(up), -np.log10(np.minimum(2.0 * np.minimum(up, down), 1.0))
