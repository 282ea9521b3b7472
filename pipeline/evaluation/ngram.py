"""Word n-gram baseline: interpolated Kneser-Ney over token ids, vectorised with numpy.

The model reads one continuous id stream (``</s>`` is an ordinary token, so the history runs
across sentence ends, as in a ``nextword`` stream) and pads the start with an id outside the
vocabulary, which acts as a start-of-stream token. Every distribution covers all ``vocab_size``
ids: the highest order uses raw counts, lower orders continuation counts, each order one
absolute discount ``D = n1 / (n1 + 2 n2)``, and the unigram is interpolated with the uniform
distribution, so no id has zero probability.

Top-k predictions never include ``<unk>`` (id 0): a suggestion of "some unknown word" is of no
use. They are exact, not approximate: the k best of ``P(.|h)`` lie among the k best seen
continuations of ``h`` (precomputed per context) and the k best of the next lower order.

>>> ids = np.array([2, 3, 4, 1] * 50)            # "a b c </s>" over and over
>>> model = NgramModel.train(ids, vocab_size=5, order=3)
>>> model.topk(np.array([2, 3]), k=1).ravel().tolist()  # first "a", after "a" "b", then "c"
[2, 3, 4]
>>> r = evaluate(model, ids[2:42])               # the first token has no usable history
>>> r["top1"], r["top3"], r["tokens"], 1.0 < r["perplexity"] < 1.2
(0.975, 0.975, 40, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnstream.errors import ConfigError

__all__ = ["NgramModel", "evaluate", "UNK_ID"]

UNK_ID = 0


@dataclass
class _Level:
    """One order k >= 2: the k-grams with a non-zero count, their contexts and top continuations."""

    keys: np.ndarray      # sorted int64 keys, context * base + word
    counts: np.ndarray    # float64: raw counts at the highest order, continuation counts below
    ctx: np.ndarray       # sorted unique context keys (k-1 words)
    total: np.ndarray     # per context: the sum of counts
    types: np.ndarray     # per context: how many words follow it
    discount: float
    top: np.ndarray       # (len(ctx), max_k) best next ids by the full order-k probability, -1 pads


def _discount(counts: np.ndarray) -> float:
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5


def _lookup(sorted_keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, found) of each query in a sorted key array; index is clipped where not found."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=np.int64), np.zeros(len(queries), dtype=bool)
    i = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return i, sorted_keys[i] == queries


class NgramModel:
    """An interpolated Kneser-Ney model over ids ``0 .. vocab_size-1``; build it with :meth:`train`."""

    def __init__(self, order: int, vocab_size: int, unigram: np.ndarray, levels: list[_Level],
                 top_unigram: np.ndarray) -> None:
        self.order, self.vocab_size = order, vocab_size
        self.base = vocab_size + 1  # id vocab_size pads the start of a stream
        self.unigram, self.levels, self.top_unigram = unigram, levels, top_unigram
        self.max_k = len(top_unigram)

    @classmethod
    def train(cls, ids, vocab_size: int, order: int = 3, max_k: int = 5) -> "NgramModel":
        """Count the n-grams of one id stream (e.g. a tokenized corpus, ``</s>`` included)."""
        ids = np.asarray(ids)
        if not isinstance(order, int) or not 1 <= order <= 6:
            raise ConfigError(f"ngram: order must be an int in 1..6, got {order!r}")
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise ConfigError(f"ngram: vocab_size must be an int >= 2, got {vocab_size!r}")
        if not isinstance(max_k, int) or max_k < 1:
            raise ConfigError(f"ngram: max_k must be an int >= 1, got {max_k!r}")
        max_k = min(max_k, vocab_size - 1)  # <unk> is never predicted
        if float(vocab_size + 1) ** order >= 2.0**62:
            raise ConfigError(f"ngram: keys of order {order} over {vocab_size} ids overflow int64")
        ids = _check_ids(ids, vocab_size, "ngram train")
        if len(ids) == 0:
            raise ConfigError("ngram train: no tokens")
        base = vocab_size + 1
        padded = np.concatenate([np.full(order - 1, vocab_size, dtype=np.int64), ids])
        # unique[k]: the distinct k-grams (as keys) ending at each position, for k = 1..order.
        unique, raw = {}, None
        key = np.zeros(len(ids), dtype=np.int64)
        for k in range(1, order + 1):
            key = key + padded[order - k: order - k + len(ids)] * base ** (k - 1)
            if k == order:
                unique[k], raw = np.unique(key, return_counts=True)
            else:
                unique[k] = np.unique(key)
        counts = {order: raw.astype(np.float64)}
        for k in range(order - 1, 0, -1):
            # Kneser-Ney: a lower-order count is the number of distinct words seen before it.
            unique[k], c = np.unique(unique[k + 1] % base**k, return_counts=True)
            counts[k] = c.astype(np.float64)
        c1 = np.zeros(vocab_size)
        c1[unique[1]] = counts[1]
        d1 = _discount(c1[c1 > 0])
        total, types = c1.sum(), float((c1 > 0).sum())
        unigram = (np.maximum(c1 - d1, 0.0) + d1 * types / vocab_size) / total
        ranked = np.argsort(-unigram, kind="stable")
        model = cls(order, vocab_size, unigram, [], ranked[ranked != UNK_ID][:max_k])
        for k in range(2, order + 1):
            keys, cnt = unique[k], counts[k]
            ctx, start = np.unique(keys // base, return_index=True)
            level = _Level(keys, cnt, ctx, np.add.reduceat(cnt, start),
                           np.diff(np.append(start, len(keys))).astype(np.float64), _discount(cnt),
                           np.empty((0, max_k), dtype=np.int64))
            model.levels.append(level)
            level.top = model._top_table(k, level, start, max_k)
        return model

    def _top_table(self, k: int, level: _Level, start: np.ndarray, max_k: int) -> np.ndarray:
        words = level.keys % self.base
        group = np.repeat(np.arange(len(level.ctx)), np.diff(np.append(start, len(level.keys))))
        p = self._prob(level.keys // self.base, words, k)
        ok = words != UNK_ID
        # Within each context, best first; equal probabilities keep the smaller id first.
        order = np.flatnonzero(ok)[np.lexsort((-p[ok], group[ok]))]
        g = group[order]
        first = np.searchsorted(g, g)  # index in `order` where each row's context begins
        rank = np.arange(len(order)) - first
        top = np.full((len(level.ctx), max_k), -1, dtype=np.int64)
        sel = rank < max_k
        top[g[sel], rank[sel]] = words[order[sel]]
        return top

    def _prob(self, ctx: np.ndarray, words: np.ndarray, upto: int) -> np.ndarray:
        """P(word | context) at order ``upto``; ``ctx`` holds the (upto-1)-word context keys."""
        p = self.unigram[words]
        for k in range(2, upto + 1):
            lv = self.levels[k - 2]
            c = ctx % self.base ** (k - 1)
            i, found = _lookup(lv.ctx, c)
            j, hit = _lookup(lv.keys, c * self.base + words)
            cnt = np.where(hit, lv.counts[j], 0.0)
            pk = (np.maximum(cnt - lv.discount, 0.0) + lv.discount * lv.types[i] * p) / lv.total[i]
            p = np.where(found, pk, p)
        return p

    def _contexts(self, ids: np.ndarray) -> np.ndarray:
        """The (order-1)-word history key before each position, the stream start padded."""
        n = self.order - 1
        padded = np.concatenate([np.full(n, self.vocab_size, dtype=np.int64), ids])
        ctx = np.zeros(len(ids), dtype=np.int64)
        for j in range(n):
            ctx = ctx * self.base + padded[j: j + len(ids)]
        return ctx

    def logprob(self, ids) -> np.ndarray:
        """Natural-log P(ids[t] | ids[:t]) for every t (float64, same length as ids)."""
        ids = _check_ids(np.asarray(ids), self.vocab_size, "ngram logprob")
        return np.log(self._prob(self._contexts(ids), ids, self.order))

    def topk(self, ids, k: int = 3) -> np.ndarray:
        """(len(ids)+1, k) int64: row t holds the k likeliest next ids after ids[:t], best first.

        Row 0 predicts the first token; the last row predicts the token after the whole stream.
        ``<unk>`` is never predicted; -1 fills rows when fewer than k ids can be predicted.
        """
        if not isinstance(k, int) or not 1 <= k <= self.max_k:
            raise ConfigError(f"ngram topk: k must be an int in 1..{self.max_k} (max_k), got {k!r}")
        ids = _check_ids(np.asarray(ids), self.vocab_size, "ngram topk")
        ctx = self._contexts(np.append(ids, 0))  # the appended id only shifts in the last context
        parts = [np.broadcast_to(self.top_unigram, (len(ctx), self.max_k))]
        for lv_k, lv in enumerate(self.levels, start=2):
            i, found = _lookup(lv.ctx, ctx % self.base ** (lv_k - 1))
            parts.append(np.where(found[:, None], lv.top[i], -1))
        cand = np.sort(np.concatenate(parts, axis=1), axis=1)
        cand[:, 1:][cand[:, 1:] == cand[:, :-1]] = -1  # each id competes once
        valid = cand >= 0
        width = cand.shape[1]
        p = self._prob(np.repeat(ctx, width), np.where(valid, cand, 0).ravel(), self.order).reshape(cand.shape)
        best = np.argsort(-np.where(valid, p, -1.0), axis=1, kind="stable")[:, :k]
        return np.take_along_axis(np.where(valid, cand, -1), best, axis=1)


def _check_ids(ids: np.ndarray, vocab_size: int, where: str) -> np.ndarray:
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ConfigError(f"{where}: ids must be a 1-D integer array, got shape {ids.shape} {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ConfigError(f"{where}: ids must lie in [0, {vocab_size}), got [{ids.min()}, {ids.max()}]")
    return ids.astype(np.int64, copy=False)


def evaluate(model: NgramModel, ids, ks: tuple[int, ...] = (1, 3)) -> dict:
    """Next-token accuracy and perplexity over one id stream, every token a target.

    ``top{k}``: the share of tokens that are among the k ids the model ranks highest given
    the tokens before them; a ``<unk>`` target is always a miss (``<unk>`` is never
    predicted). ``perplexity``: exp of the mean negative log-probability over all tokens,
    ``<unk>`` targets included at P(<unk> | history), the mass of every out-of-vocabulary
    word together, so it compares only models with the same vocabulary. ``oov``: the share
    of ``<unk>`` targets. ``tokens``: how many were scored.
    """
    ids = _check_ids(np.asarray(ids), model.vocab_size, "ngram evaluate")
    if len(ids) == 0:
        raise ConfigError("ngram evaluate: no tokens")
    top = model.topk(ids, max(ks))[:-1]
    hit = top == ids[:, None]
    out = {f"top{k}": float(hit[:, :k].any(axis=1).mean()) for k in ks}
    out["perplexity"] = float(np.exp(-model.logprob(ids).mean()))
    out["oov"] = float((ids == UNK_ID).mean())
    out["tokens"] = int(len(ids))
    return out
