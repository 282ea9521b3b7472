"""Word n-gram language model and lexicon for CTC shallow fusion.

The model is interpolated absolute discounting over a closed vocabulary plus
``<unk>``: every conditional distribution sums to one, and the unigram floor is
add-k smoothed so no in-vocabulary word has zero probability.  It is trained from
text the caller supplies (one sentence per item); nothing is downloaded.

>>> lm = NgramLM.train(["the cat sat", "the cat ran", "a dog sat"], order=2)
>>> lm.logprob("cat", ("the",)) > lm.logprob("dog", ("the",))
True
>>> lex = Lexicon(["cat", "car"])
>>> lex.is_prefix("ca"), "ca" in lex, "cat" in lex
(True, False, True)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Iterable, Sequence

from rnnstream.errors import RnnstreamError

__all__ = ["NgramLM", "Lexicon", "BOS", "EOS", "UNK", "CACHE_LIMIT", "cache_put", "sentence_logprob"]

BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"
# Score caches are cleared when they reach this many entries, so a daemon that decodes for
# months holds a bounded amount (a few hundred MB at most) however many contexts it meets.
CACHE_LIMIT = 2_000_000


def sentence_logprob(lm, words: Sequence[str], eos: bool = True) -> float:
    """Total ``ln P`` of a sentence under any LM with ``logprob(word, history)`` (each model
    trims the history to its own order), with the end-of-sentence term if ``eos``."""
    total = 0.0
    hist: list[str] = []
    for w in list(words) + ([EOS] if eos else []):
        total += lm.logprob(w, tuple(hist))
        hist.append(w)
    return total


def cache_put(cache: dict, key, value):
    """Store ``value`` under ``key``, emptying ``cache`` first once it holds CACHE_LIMIT entries."""
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


class NgramLM:
    """Interpolated absolute-discounting word n-gram (order 1-5), natural-log scores."""

    def __init__(
        self,
        order: int,
        counts: Sequence[dict[tuple[str, ...], int]],
        vocab: Iterable[str],
        discount: float = 0.75,
        add_k: float = 0.5,
    ) -> None:
        if not 1 <= order <= 5:
            raise RnnstreamError(f"n-gram order must be in 1..5, got {order}")
        if len(counts) != order:
            raise RnnstreamError(f"need {order} count tables, got {len(counts)}")
        if not 0.0 < discount < 1.0:
            raise RnnstreamError(f"discount must be in (0, 1), got {discount}")
        if add_k <= 0.0:
            raise RnnstreamError(f"add_k must be > 0, got {add_k}")
        self.order = order
        self.discount = discount
        self.add_k = add_k
        # <s> is only ever a context, never predicted, so it is not in the vocabulary.
        self.vocab = frozenset(vocab) | {EOS, UNK}
        self._counts = [dict(c) for c in counts]
        self._ctx_total: list[dict[tuple[str, ...], int]] = []
        self._ctx_types: list[dict[tuple[str, ...], int]] = []
        for table in self._counts:
            total: dict[tuple[str, ...], int] = defaultdict(int)
            types: dict[tuple[str, ...], int] = defaultdict(int)
            for gram, c in table.items():
                total[gram[:-1]] += c
                types[gram[:-1]] += 1
            self._ctx_total.append(dict(total))
            self._ctx_types.append(dict(types))
        self._uni_total = self._ctx_total[0].get((), 0)
        self._cache: dict[tuple[str, tuple[str, ...]], float] = {}
        self._after: dict[tuple[str, ...], list[str]] | None = None

    @classmethod
    def train(
        cls,
        sentences: Iterable[str],
        order: int = 3,
        discount: float = 0.75,
        add_k: float = 0.5,
        vocab: Iterable[str] | None = None,
    ) -> "NgramLM":
        """Count n-grams of whitespace-split sentences (already normalised).

        ``vocab`` fixes the word list (others become ``<unk>``); by default it is every
        word seen in training.
        """
        sents = [s.split() for s in sentences]
        words = set(vocab) if vocab is not None else {w for s in sents for w in s}
        counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order)]
        for toks in sents:
            seq = [BOS] * (order - 1) + [w if w in words else UNK for w in toks] + [EOS]
            for i in range(order - 1, len(seq)):
                for n in range(1, order + 1):
                    counts[n - 1][tuple(seq[i - n + 1 : i + 1])] += 1
        return cls(order, [dict(c) for c in counts], words, discount, add_k)

    def _prob(self, word: str, context: tuple[str, ...]) -> float:
        n = len(context) + 1
        if n == 1:
            c = self._counts[0].get((word,), 0)
            return (c + self.add_k) / (self._uni_total + self.add_k * len(self.vocab))
        lower = self._prob(word, context[1:])
        total = self._ctx_total[n - 1].get(context, 0)
        if total == 0:
            return lower
        c = self._counts[n - 1].get(context + (word,), 0)
        types = self._ctx_types[n - 1][context]
        return max(c - self.discount, 0.0) / total + self.discount * types / total * lower

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """``ln P(word | context)``; only the last ``order - 1`` context words count.

        A short context is padded with ``<s>``, i.e. it is taken as sentence-initial.
        """
        w = word if word in self.vocab else UNK
        key = (w, self.full_context(context))
        hit = self._cache.get(key)
        if hit is None:
            hit = cache_put(self._cache, key, math.log(self._prob(w, key[1])))
        return hit

    def full_context(self, context: Sequence[str]) -> tuple[str, ...]:
        """The ``order - 1`` words the model conditions on: unknown words as ``<unk>``, the
        last ``order - 1`` kept, a short context padded with ``<s>`` in front."""
        ctx = tuple(c if (c in self.vocab or c == BOS) else UNK for c in context)
        k = self.order - 1
        return ((BOS,) * k + ctx)[len(ctx) :] if k else ()

    def level_logprob(self, word: str, context: tuple[str, ...]) -> float:
        """``ln P`` at order ``len(context) + 1`` exactly: ``context`` is not padded with
        ``<s>`` or trimmed (``logprob`` does both), and ``word`` must be in the vocabulary."""
        return math.log(self._prob(word, context))

    def followers(self, context: tuple[str, ...]) -> list[str]:
        """Words seen right after ``context`` in training (``len(context)`` >= 1)."""
        if self._after is None:
            after: dict[tuple[str, ...], list[str]] = defaultdict(list)
            for table in self._counts[1:]:
                for gram in table:
                    after[gram[:-1]].append(gram[-1])
            self._after = dict(after)
        return self._after.get(context, [])

    def backoff_logweight(self, context: tuple[str, ...]) -> float:
        """``ln`` of the weight the next lower order gets after ``context``; a word never
        seen after it scores exactly that plus its lower-order log-prob (0 if unseen)."""
        n = len(context) + 1
        total = self._ctx_total[n - 1].get(context, 0) if n > 1 else 0
        if total == 0:
            return 0.0
        return math.log(self.discount * self._ctx_types[n - 1][context] / total)

    def score_sentence(self, words: Sequence[str], eos: bool = True) -> float:
        """Total ``ln P`` of a sentence, with the end-of-sentence term if ``eos``."""
        return sentence_logprob(self, words, eos)

    def next_context(self, context: tuple[str, ...], word: str) -> tuple[str, ...]:
        """Context after ``word``, trimmed to what this order can use."""
        k = self.order - 1
        return (context + (word,))[-k:] if k else ()

    def perplexity(self, sentences: Iterable[str]) -> float:
        total, n = 0.0, 0
        for s in sentences:
            toks = s.split()
            total += self.score_sentence(toks)
            n += len(toks) + 1
        if n == 0:
            raise RnnstreamError("perplexity of an empty text is undefined")
        return math.exp(-total / n)


class Lexicon:
    """Closed word list with prefix lookup, to constrain beam search to real words."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(w for w in words if w and w not in (BOS, EOS, UNK))
        if not self.words:
            raise RnnstreamError("a lexicon needs at least one word")
        self._prefixes = frozenset(w[:i] for w in self.words for i in range(1, len(w) + 1))

    def __contains__(self, word: object) -> bool:
        return word in self.words

    def __len__(self) -> int:
        return len(self.words)

    def is_prefix(self, partial: str) -> bool:
        """Whether some lexicon word starts with ``partial`` (the empty string does)."""
        return partial == "" or partial in self._prefixes

    @classmethod
    def from_lm(cls, lm: NgramLM) -> "Lexicon":
        return cls(lm.vocab)
