"""A user's domain LM adapted into the general one: linear interpolation, and its look-ahead.

``P(w | h) = lam * P_domain(w | h) + (1 - lam) * P_general(w | h)``: the user's sentences
pull their own words and phrases up while every other word keeps the general model's
score, so a domain LM never makes ordinary speech unreadable. Each model reads the
history it can use (its own order); the beam carries the longer one.

>>> from rnnstream.asr.lm import NgramLM
>>> general = NgramLM.train(["the cat sat", "a dog ran"], order=2)
>>> domain = NgramLM.train(["turn the light on"], order=2)
>>> mix = MixedLM(general, domain, 0.5)
>>> mix.logprob("light", ("the",)) > general.logprob("light", ("the",))
True
>>> lookahead_for(mix, None) is None
True
"""

from __future__ import annotations

import math
from typing import Sequence

from rnnstream.asr.lm import EOS, UNK, Lexicon, NgramLM, sentence_logprob
from rnnstream.asr.lookahead import LookAhead
from rnnstream.asr.wordlm import WordLM, WordLookAhead
from rnnstream.errors import ConfigError

__all__ = ["MixedLM", "MixedLookAhead", "lookahead_for", "lexicon_of"]


class MixedLM:
    """Interpolation of a general and a domain LM (either :class:`WordLM` or :class:`NgramLM`)."""

    def __init__(self, general, domain, domain_weight: float) -> None:
        if not 0.0 < domain_weight < 1.0:
            raise ConfigError(f"domain_weight: must be between 0 and 1, got {domain_weight}")
        self.general, self.domain = general, domain
        self.order = max(general.order, domain.order)
        self.vocab = frozenset(general.vocab) | frozenset(domain.vocab)
        self._lg, self._ld = math.log1p(-domain_weight), math.log(domain_weight)

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        g = self._lg + self.general.logprob(word, context)
        d = self._ld + self.domain.logprob(word, context)
        hi, lo = (g, d) if g > d else (d, g)
        return hi + math.log1p(math.exp(lo - hi))

    def next_context(self, context: tuple[str, ...], word: str) -> tuple[str, ...]:
        k = self.order - 1
        return (context + (word,))[-k:] if k else ()

    def score_sentence(self, words: Sequence[str], eos: bool = True) -> float:
        """Total ``ln P`` of a sentence (two-model finals rescore n-best lists with it)."""
        return sentence_logprob(self, words, eos)


class MixedLookAhead:
    """The interpolated bound: each model's bound, mixed with the same weights."""

    def __init__(self, lm: MixedLM, general, domain) -> None:
        self.lm, self._general, self._domain = lm, general, domain

    def best(self, context: tuple[str, ...], prefix: str) -> float:
        # A word one model lacks gets that model's <unk> score, so each bound includes it.
        lm = self.lm
        g = max(self._general.best(context, prefix), lm.general.logprob(UNK, context))
        d = max(self._domain.best(context, prefix), lm.domain.logprob(UNK, context))
        g, d = lm._lg + g, lm._ld + d
        hi, lo = (g, d) if g > d else (d, g)
        return hi if lo == -math.inf else hi + math.log1p(math.exp(lo - hi))


def lexicon_of(lm) -> Lexicon:
    """Every word an LM can score (its vocabulary without the special tokens)."""
    if isinstance(lm, MixedLM):
        return Lexicon(set(lexicon_of(lm.general).words) | set(lexicon_of(lm.domain).words))
    if isinstance(lm, WordLM):
        return lm.lexicon()
    return Lexicon(w for w in lm.vocab if w not in (UNK, EOS))


def lookahead_for(lm, lexicon: Lexicon | None, context: bool = True):
    """The look-ahead that fits ``lm`` (None without a lexicon, which bounds the words);
    ``context=False`` makes a general LM's look-ahead unigram-only (see :class:`WordLookAhead`)."""
    if lm is None or lexicon is None:
        return None
    if isinstance(lm, WordLM):
        return WordLookAhead(lm, context)
    if isinstance(lm, NgramLM):
        return LookAhead(lm, lexicon)
    if isinstance(lm, MixedLM):
        return MixedLookAhead(lm, lookahead_for(lm.general, lexicon_of(lm.general), context),
                              lookahead_for(lm.domain, lexicon_of(lm.domain), context))
    raise ConfigError(f"lm: no look-ahead for {type(lm).__name__}")
