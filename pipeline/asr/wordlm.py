"""A large word n-gram LM held in arrays: back-off tables searched with numpy, loaded from ``.npz``.

:class:`~rnnstream.asr.lm.NgramLM` keeps Python dicts and suits a user's few thousand
sentences; a general English LM has millions of n-grams, which as dicts would take gigabytes
and seconds to load. Here each order is a sorted ``int64`` key array (the n-gram's word ids
in base ``len(words) + 1``) beside its log-probabilities, and each context's back-off weight
sits in a second sorted table, so a lookup is a binary search and the model loads in a
fraction of a second. Scores follow the back-off recursion:
``ln P(w | h) = logp[h w]`` where ``h w`` was kept, else ``backoff[h] + ln P(w | h[1:])``.

Words are sorted alphabetically after ``<unk>`` (id 0) and ``</s>`` (id 1), so the lexicon
words that start with a prefix are one id range, which makes the LM look-ahead
(:class:`WordLookAhead`) a few slice maxima. ``</s>`` also stands for the start of a
sentence: a context of ``<s>`` is read as ``</s>``.

>>> import numpy as np
>>> lm = WordLM.from_counts(["the", "cat", "sat"], [[1, 4, 2, 3, 1, 4, 2, 1]], order=2)
>>> lm.logprob("cat", ("the",)) > lm.logprob("sat", ("the",))
True
>>> la = WordLookAhead(lm)
>>> la.best(("the",), "c") == lm.logprob("cat", ("the",))
True
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from rnnstream.asr.lm import BOS, EOS, UNK, Lexicon, cache_put, sentence_logprob
from rnnstream.asr.lookahead import RangeMax, prefix_range
from rnnstream.errors import ModelError

__all__ = ["WordLM", "WordLookAhead", "FORMAT"]

FORMAT = "rnnstream-wordlm-1"


class WordLM:
    """Back-off word n-gram (order 1-3) over ``words``; natural-log scores.

    ``levels[k]`` (k = 0 for bigrams) holds the kept (k+2)-grams: ``keys``, ``logp``, and the
    context table ``ctx`` / ``backoff`` of their (k+1)-word histories.
    """

    def __init__(self, words: Sequence[str], unigram: np.ndarray,
                 levels: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> None:
        if len(words) < 2 or words[0] != UNK or words[1] != EOS:
            raise ModelError("word LM: the word list must start with <unk>, </s>")
        if len(unigram) != len(words):
            raise ModelError(f"word LM: {len(unigram)} unigram scores for {len(words)} words")
        self.words = list(words)
        self.order = len(levels) + 1
        self.base = len(words) + 1
        if float(self.base) ** self.order >= 2.0**62:
            raise ModelError(f"word LM: keys of order {self.order} over {len(words)} words overflow int64")
        self._index = {w: i for i, w in enumerate(self.words)}
        self.vocab = frozenset(self.words[2:]) | {EOS, UNK}
        self.unigram = np.asarray(unigram, np.float32)
        self.levels = [tuple(np.asarray(a) for a in lv) for lv in levels]
        self._cache: dict[tuple[str, tuple[str, ...]], float] = {}
        self._lexicon: Lexicon | None = None

    def lexicon(self) -> Lexicon:
        """Its words as a :class:`Lexicon` (built once: every operator sharing the LM shares it)."""
        if self._lexicon is None:
            self._lexicon = Lexicon(self.words[2:])
        return self._lexicon

    # -- construction and files ---------------------------------------------------------
    @classmethod
    def from_counts(cls, lexicon: Sequence[str], streams: Sequence[Sequence[int]], order: int = 3,
                    cutoffs: Sequence[int] = ()) -> "WordLM":
        """Train on id streams over ``[<unk>, </s>] + sorted(lexicon)`` (see ``models.wordlm_build``)."""
        from rnnstream.evaluation.ngram import NgramModel

        words = [UNK, EOS] + sorted(set(lexicon))
        ids = np.concatenate([np.asarray(s, np.int64) for s in streams])
        model = NgramModel.train(ids, vocab_size=len(words), order=order, max_k=1)
        return cls.from_kneser_ney(words, model, cutoffs)

    @classmethod
    def from_kneser_ney(cls, words: Sequence[str], model, cutoffs: Sequence[int] = ()) -> "WordLM":
        """The back-off form of an interpolated Kneser-Ney ``NgramModel``, pruned by count.

        Kept n-grams carry their exact interpolated probability and a context's back-off
        weight is the discount mass ``D * types / total``, so unpruned the two forms agree.
        ``cutoffs[k]`` drops (k+2)-grams counted fewer times (continuation counts below the
        top order); a dropped n-gram falls back to the lower order.
        """
        base = model.base
        levels = []
        for k, lv in enumerate(model.levels):
            n = k + 2
            keep = lv.counts >= (cutoffs[k] if k < len(cutoffs) else 1)
            keys = lv.keys[keep]
            logp = np.log(model._prob(keys // base, keys % base, n)).astype(np.float32)
            backoff = np.log(lv.discount * lv.types / lv.total).astype(np.float32)
            levels.append((keys, logp, lv.ctx, backoff))
        return cls(words, np.log(model.unigram).astype(np.float32), levels)

    def save(self, path: str | Path) -> None:
        arrays = {"format": np.array(FORMAT), "words": np.array("\n".join(self.words)),
                  "unigram": self.unigram.astype(np.float16)}
        for k, (keys, logp, ctx, backoff) in enumerate(self.levels):
            arrays |= {f"keys{k}": keys, f"logp{k}": logp.astype(np.float16), f"ctx{k}": ctx,
                       f"backoff{k}": backoff.astype(np.float16)}
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "WordLM":
        try:
            with np.load(path, allow_pickle=False) as z:
                if "format" not in z or str(z["format"]) != FORMAT:
                    raise ModelError(f"word LM: {path} is not an {FORMAT} file")
                words = str(z["words"]).split("\n")
                levels = []
                k = 0
                while f"keys{k}" in z:
                    levels.append((z[f"keys{k}"], z[f"logp{k}"].astype(np.float32), z[f"ctx{k}"],
                                   z[f"backoff{k}"].astype(np.float32)))
                    k += 1
                return cls(words, z["unigram"].astype(np.float32), levels)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"word LM: cannot read {path}: {exc}") from None

    # -- scoring ---------------------------------------------------------------------------
    def word_id(self, word: str) -> int:
        return self._index.get(word, 0)

    def full_context(self, context: Sequence[str]) -> tuple[str, ...]:
        """The last ``order - 1`` words, unknown ones as ``<unk>``, a short history padded
        with ``</s>`` (the start of a sentence)."""
        k = self.order - 1
        if not k:
            return ()
        ctx = tuple(EOS if c == BOS else (c if c in self._index else UNK) for c in context[-k:])
        return (EOS,) * (k - len(ctx)) + ctx

    def next_context(self, context: tuple[str, ...], word: str) -> tuple[str, ...]:
        k = self.order - 1
        return (context + (word,))[-k:] if k else ()

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """``ln P(word | context)``; a short context is taken as sentence-initial."""
        full = self.full_context(context)
        key = (word, full)
        hit = self._cache.get(key)
        if hit is None:
            ids = [self._index.get(c, 0) for c in full]
            hit = cache_put(self._cache, key, self.id_logprob(self._index.get(word, 0), ids))
        return hit

    def id_logprob(self, word: int, context: Sequence[int]) -> float:
        """Back-off ``ln P`` of word id ``word`` after the ids ``context`` (oldest first)."""
        score = 0.0
        for n in range(len(context), 0, -1):
            keys, logp, ctx_keys, backoff = self.levels[n - 1]
            h = 0
            for c in context[len(context) - n:]:
                h = h * self.base + c
            i = int(np.searchsorted(keys, h * self.base + word))
            if i < len(keys) and keys[i] == h * self.base + word:
                return score + float(logp[i])
            j = int(np.searchsorted(ctx_keys, h))
            if j < len(ctx_keys) and ctx_keys[j] == h:
                score += float(backoff[j])
        return score + float(self.unigram[word])

    def score_sentence(self, words: Sequence[str], eos: bool = True) -> float:
        """Total ``ln P`` of a sentence (two-model finals rescore n-best lists with it)."""
        return sentence_logprob(self, words, eos)


class WordLookAhead:
    """Upper bound of ``ln P(w | context)`` over the LM's words ``w`` that start with a prefix.

    With ``context=False`` the bound is the best *unigram* score of the prefix's words: no
    longer a bound on the n-gram score, but one number per prefix, computed once for the
    whole process, where a context-aware bound costs a few binary searches per new
    (history, prefix) pair; finals over a general LM are then several times cheaper.
    """

    def __init__(self, lm: WordLM, context: bool = True) -> None:
        self.lm = lm
        self.context = context
        self._words = lm.words[2:]  # sorted; id = index + 2
        self._uni = RangeMax(lm.unigram[2:])
        self._cache: dict[tuple[tuple[str, ...], str], float] = {}

    def _range(self, prefix: str) -> tuple[int, int]:
        lo, hi = prefix_range(self._words, prefix)
        return lo + 2, hi + 2

    def _uni_max(self, lo: int, hi: int) -> float:
        return self._uni(lo - 2, hi - 2)

    def _bound(self, ctx: list[int], lo: int, hi: int) -> float:
        if not ctx:
            return self._uni_max(lo, hi)
        keys, logp, ctx_keys, backoff = self.lm.levels[len(ctx) - 1]
        h = 0
        for c in ctx:
            h = h * self.lm.base + c
        j = int(np.searchsorted(ctx_keys, h))
        back = float(backoff[j]) if j < len(ctx_keys) and ctx_keys[j] == h else 0.0
        best = back + self._bound(ctx[1:], lo, hi)
        a, b = np.searchsorted(keys, [h * self.lm.base + lo, h * self.lm.base + hi])
        if b > a:
            best = max(best, float(logp[a:b].max()))
        return best

    def best(self, context: tuple[str, ...], prefix: str) -> float:
        """``max ln P(w | context)`` (an upper bound) over words starting with ``prefix``;
        ``-inf`` if none does."""
        key = (context if self.context else (), prefix)
        hit = self._cache.get(key)
        if hit is None:
            lo, hi = self._range(prefix)
            if hi <= lo:
                bound = -math.inf
            elif not self.context:
                bound = self._uni_max(lo, hi)
            else:
                bound = self._bound([self.lm.word_id(c) for c in self.lm.full_context(context)], lo, hi)
            hit = cache_put(self._cache, key, bound)
        return hit
