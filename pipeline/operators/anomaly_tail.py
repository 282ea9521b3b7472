"""How rare is this value for this key? Tail probabilities from decayed per-key counts.

Each channel (one key's value dimension) keeps, per signal, counts over fixed bins that decay
by ``(1 - decay)`` per event, so they describe the recent past (about ``1/decay`` events). A
value's upper-tail probability is the share of that past at or above it; beyond the highest
occupied bin the tail shrinks by ``exp(-extrap)`` per bin, so a value far outside everything
seen ranks above one just outside (and likewise below the lowest one for two-sided signals). Scores are in "nines", ``-log10(tail)``: 2 means one event in a hundred,
the same meaning for every key, which is what makes keys comparable. The counts are read
*before* the event joins them.

The counts are kept as survival counts (``surv[j]``: decayed events in bin ``j`` or above, one
spare bin at the top that stays 0), so a tail is two look-ups rather than a sum over bins.
Rather than shrinking every count each event, each new event is counted with a weight that
grows by ``1 / (1 - decay)`` (the same ratios, one pass fewer over the array); a channel's
counts are scaled back once the weight passes 1e10. The highest and lowest occupied bins
are kept too and rescanned only when the top one has decayed away. Several signals share
one array ``[channels, signals, bins + 1]`` (a signal with fewer bins leaves the rest at 0).

>>> import numpy as np
>>> tails = StackedTails([(0.0, 4.0, 4, 0.0, 1.0, False)])
>>> surv, meta = np.zeros((1, 1, 5), np.float32), np.zeros((1, 4, 1))
>>> for v in [0.5, 1.5, 0.5, 0.5]:
...     _ = tails.nines_then_count(surv, meta, np.array([[v]]))
>>> [round(float(tails.nines_then_count(surv.copy(), meta.copy(), np.array([[v]]))[0, 0]), 2) for v in (0.5, 1.5, 3.5)]
[0.15, 0.52, 1.35]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["StackedTails", "META_ROWS"]

_PRIOR = 1.0  # one imaginary event beyond the value: no tail is ever exactly empty
_OCCUPIED = 1e-9  # decayed counts below this (in events) are nothing worth counting
_RESCALE = 1e10  # event weight at which a channel's counts are scaled back to 1
META_ROWS = ("n", "weight", "top", "bottom")


class StackedTails:
    """Counts for several signals; ``specs``: one ``(lo, hi, bins, decay, extrap, two_sided)`` each.

    ``meta`` ``[channels, 4, signals]`` holds, per channel and signal, the (weighted) number of
    events counted, the weight of the latest one (0: nothing counted yet), and the highest and
    lowest occupied bins (:data:`META_ROWS`).
    """

    def __init__(self, specs: Sequence[tuple[float, float, int, float, float, bool]]) -> None:
        lo, hi, bins, decay, extrap, two = (np.array(col, dtype=np.float64) for col in zip(*specs))
        self.lo, self.bins, self.extrap = lo, bins.astype(np.int64), extrap
        self.growth = 1.0 / (1.0 - decay)
        self.two_sided = two.astype(bool)
        self.width = (hi - lo) / bins
        self.size = int(self.bins.max()) + 1  # a spare top bin: "at or above bins" is 0
        self._sig = np.arange(len(specs))
        # Row k: 1 for the bins an event in bin k counts in (k and every one below it).
        self._at_or_below = np.tril(np.ones((self.size, self.size), np.float32))

    def nines_then_count(self, surv: np.ndarray, meta: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Nines of ``r`` (``[channels, signals]``) before it is counted, then count it.

        A signal's nines are ``-log10 P(signal >= r)``, or for a two-sided signal ``-log10``
        of twice the smaller tail; 0 while nothing has been counted. ``surv`` and ``meta``
        are updated in place.
        """
        n, weight, top, bottom = meta[:, 0], meta[:, 1], meta[:, 2], meta[:, 3]
        pos = (r - self.lo) / self.width
        k = np.minimum(np.maximum(np.floor(pos), 0.0), self.bins - 1).astype(np.int64)
        frac = np.minimum(np.maximum(pos - k, 0.0), 1.0)
        rows = np.arange(k.shape[0])[:, None]
        empty = weight <= 0
        fresh = bool(empty.any())  # only a channel's first event; the rest skip the where()s
        # The top bin's share may have decayed away since it was last reached: rescan those.
        gone = surv[rows, self._sig, np.maximum(top, 0).astype(np.int64)] <= _OCCUPIED * weight
        if fresh:
            gone &= ~empty
        if gone.any():
            c, g = np.nonzero(gone)
            top[c, g] = (surv[c, g, :-1] > (_OCCUPIED * weight[c, g])[:, None]).sum(-1) - 1.0
        at = surv[rows, self._sig, k]  # counted in k's bin or above
        above = at - (at - surv[rows, self._sig, k + 1]) * frac  # ... less the part of k's bin below r
        scale = np.where(empty, 1.0, weight) if fresh else weight  # counts are in latest-event weights
        norm = n + _PRIOR * scale
        p = np.minimum((above + _PRIOR * scale * np.exp(-self.extrap * np.maximum(pos - (top + 1), 0.0))) / norm, 1.0)
        if self.two_sided.any():
            two = self.two_sided
            below = surv[:, two, 0] - above[:, two]
            beneath = np.maximum(bottom[:, two] - pos[:, two], 0.0)
            down = np.minimum((below + _PRIOR * scale[:, two] * np.exp(-self.extrap[two] * beneath)) / norm[:, two], 1.0)
            p[:, two] = np.minimum(2.0 * np.minimum(p[:, two], down), 1.0)
        nines = -np.log10(p)

        w = weight * self.growth
        if fresh:
            nines[empty] = 0.0
            w[empty] = 1.0
            top[empty], bottom[empty] = k[empty], k[empty]
        surv += self._at_or_below[k] * w[..., None].astype(np.float32)
        meta[:, 0] = n + w
        np.maximum(top, k, out=top)
        np.minimum(bottom, k, out=bottom)
        heavy = w > _RESCALE
        if heavy.any():
            c, g = np.nonzero(heavy)
            surv[c, g] /= w[c, g][:, None].astype(np.float32)
            meta[c, 0, g] /= w[c, g]
            w[c, g] = 1.0
        meta[:, 1] = w
        return nines
