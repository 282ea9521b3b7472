"""LM look-ahead for prefix beam search: the best LM score any word with a given prefix can get.

Without it the word LM only speaks once a word is complete, so in the middle of a word a
prefix that leads to likely words competes on acoustics alone and is easily pruned.  With
it every partial word carries ``max ln P(w | context)`` over the lexicon words ``w`` that
start with it, which is replaced by the exact score when the word is complete.

The bound follows the model's own recursion (interpolated absolute discounting): after a
context, the words seen there are scored exactly and every other word is at most the
backoff weight times the best lower-order score.  Lexicon words sorted alphabetically make
each prefix a contiguous index range, so a query is a slice maximum; results are cached.

>>> from rnnstream.asr.lm import Lexicon, NgramLM
>>> lm = NgramLM.train(["turn the light on", "turn the tap off", "the end"], order=2)
>>> la = LookAhead(lm, Lexicon(["turn", "the", "tap", "light", "on", "off", "end"]))
>>> la.best(("turn",), "t") == lm.logprob("the", ("turn",))
True
>>> la.best(("the",), "l") > la.best(("the",), "o")
True
"""

from __future__ import annotations

import bisect

import numpy as np

from rnnstream.asr.lm import UNK, Lexicon, NgramLM, cache_put

__all__ = ["LookAhead", "RangeMax", "prefix_range"]


def prefix_range(words: list[str], prefix: str) -> tuple[int, int]:
    """``[lo, hi)``: the indices of the sorted ``words`` that start with ``prefix``."""
    lo = bisect.bisect_left(words, prefix)
    # "\uffff" sorts after every character a lexicon word can hold.
    return lo, bisect.bisect_left(words, prefix + "\uffff", lo)


class RangeMax:
    """Maximum of ``values[lo:hi]`` in O(1) from a sparse table (built once, O(n log n))."""

    def __init__(self, values: np.ndarray) -> None:
        self._sparse = [np.asarray(values, np.float64)]
        span = 1
        while 2 * span <= len(values):
            prev = self._sparse[-1]
            self._sparse.append(np.maximum(prev[:-span], prev[span:]))
            span *= 2

    def __call__(self, lo: int, hi: int) -> float:
        level = (hi - lo).bit_length() - 1
        table = self._sparse[level]
        return float(max(table[lo], table[hi - (1 << level)]))


class LookAhead:
    """Upper bound of ``ln P(w | context)`` over lexicon words ``w`` with a prefix."""

    def __init__(self, lm: NgramLM, lexicon: Lexicon) -> None:
        self.lm = lm
        self.words = sorted(lexicon.words)
        self._index = {w: i for i, w in enumerate(self.words)}
        # The unigram level is context-free: its range maxima come from a sparse table.
        # (level_logprob, not logprob: logprob would read an empty context as sentence start.)
        self._uni_max = RangeMax(np.array([lm.level_logprob(w if w in lm.vocab else UNK, ()) for w in self.words]))
        self._followers: dict[tuple[str, ...], tuple[list[int], np.ndarray, float]] = {}
        self._cache: dict[tuple[tuple[str, ...], str], float] = {}

    def _range(self, prefix: str) -> tuple[int, int]:
        return prefix_range(self.words, prefix)

    def _seen(self, ctx: tuple[str, ...]) -> tuple[list[int], np.ndarray, float]:
        """Lexicon words seen after ``ctx`` (sorted indices), their exact log-probs, and
        the log backoff weight every other word gets."""
        hit = self._followers.get(ctx)
        if hit is not None:
            return hit
        lm = self.lm
        idx = sorted(i for i in (self._index.get(w) for w in lm.followers(ctx)) if i is not None)
        vals = np.array([lm.level_logprob(self.words[i], ctx) for i in idx], dtype=np.float64)
        return cache_put(self._followers, ctx, (idx, vals, lm.backoff_logweight(ctx)))

    def _bound(self, ctx: tuple[str, ...], lo: int, hi: int) -> float:
        if not ctx:
            return self._uni_max(lo, hi)
        idx, vals, back = self._seen(ctx)
        best = back + self._bound(ctx[1:], lo, hi)
        a, b = bisect.bisect_left(idx, lo), bisect.bisect_left(idx, hi)
        if b > a:
            best = max(best, float(vals[a:b].max()))
        return best

    def best(self, context: tuple[str, ...], prefix: str) -> float:
        """``max ln P(w | context)`` (an upper bound) over words starting with ``prefix``;
        ``-inf`` if no lexicon word does."""
        # Keyed by the caller's context as given: the decoder asks the same few again and again.
        key = (context, prefix)
        hit = self._cache.get(key)
        if hit is None:
            lo, hi = self._range(prefix)
            bound = self._bound(self.lm.full_context(context), lo, hi) if hi > lo else float("-inf")
            hit = cache_put(self._cache, key, bound)
        return hit
