"""Seeded generator of spoken-form English sentences for synthetic ASR corpora.

Sentences come from templates of five kinds (voice commands, digit strings, numbers
read as words, dates, free sentences) filled from :mod:`rnnstream.models.corpus.words`.  The
output is already normalised (what a TTS voice should say and what CTC must
transcribe).  ``sentence(i, split)`` is a pure function of ``(seed, i, split)``, and
only returns texts whose hash bucket belongs to ``split`` (see
:func:`rnnstream.asr.text.is_eval_text`), so train and eval never share a sentence.

>>> g = SentenceGenerator(seed=7)
>>> g.sentence(3) == SentenceGenerator(seed=7).sentence(3)
True
>>> from rnnstream.asr.text import is_eval_text
>>> is_eval_text(g.sentence(5, "eval")), is_eval_text(g.sentence(5, "train"))
(True, False)
"""

from __future__ import annotations

from typing import Callable, Literal

import numpy as np

from rnnstream.models.corpus import words as W
from rnnstream.asr.text import (
    DEFAULT_EVAL_PERCENT,
    digits_to_words,
    is_eval_text,
    number_to_words,
    ordinal_to_words,
    year_to_words,
)
from rnnstream.errors import RnnstreamError

__all__ = ["SentenceGenerator", "KINDS", "Split"]

Split = Literal["train", "eval"]
KINDS = ("command", "digits", "number", "date", "free")

_PRONOUNS = ("i", "you", "we", "they", "he", "she")
_MODALS = ("will", "can", "should", "must", "might", "could", "would")
_PREPS = ("in", "on", "near", "behind", "under", "next to", "inside", "outside")
_MINUTES = ("o'clock", "thirty", "fifteen", "forty five")
_NEGATIONS = ("don't", "can't", "won't", "didn't")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


class SentenceGenerator:
    """Deterministic sentence source; ``weights`` sets the mix of the five kinds."""

    def __init__(
        self,
        seed: int = 0,
        weights: dict[str, float] | None = None,
        eval_percent: int = DEFAULT_EVAL_PERCENT,
    ) -> None:
        w = {"command": 0.3, "digits": 0.1, "number": 0.15, "date": 0.1, "free": 0.35}
        if weights:
            unknown = set(weights) - set(KINDS)
            if unknown:
                raise RnnstreamError(f"unknown sentence kinds {sorted(unknown)}; known: {KINDS}")
            w = {k: float(weights.get(k, 0.0)) for k in KINDS}
        total = sum(w.values())
        if total <= 0 or any(v < 0 for v in w.values()):
            raise RnnstreamError(f"sentence weights must be >= 0 and not all zero, got {w}")
        self.seed = int(seed)
        self.eval_percent = eval_percent
        self._p = np.array([w[k] / total for k in KINDS])
        self._makers: dict[str, Callable[[np.random.Generator], str]] = {
            "command": self._command,
            "digits": self._digits,
            "number": self._number,
            "date": self._date,
            "free": self._free,
        }

    def sentence(self, index: int, split: Split = "train") -> str:
        """The ``index``-th sentence of ``split``; same inputs, same sentence."""
        if split not in ("train", "eval"):
            raise RnnstreamError(f"split must be 'train' or 'eval', got {split!r}")
        want_eval = split == "eval"
        for attempt in range(10_000):
            rng = np.random.default_rng([self.seed, int(index), attempt, want_eval])
            kind = KINDS[int(rng.choice(len(KINDS), p=self._p))]
            text = self._makers[kind](rng)
            if is_eval_text(text, self.eval_percent) == want_eval:
                return text
        raise RnnstreamError("no sentence fell in the requested split after 10000 tries")

    def sample(self, n: int, split: Split = "train", start: int = 0) -> list[str]:
        return [self.sentence(i, split) for i in range(start, start + n)]

    # -- templates -------------------------------------------------------------

    @staticmethod
    def _pick(rng: np.random.Generator, seq: tuple[str, ...]) -> str:
        return seq[int(rng.integers(len(seq)))]

    def _command(self, rng: np.random.Generator) -> str:
        p = lambda seq: self._pick(rng, seq)  # noqa: E731
        n = lambda lo, hi: number_to_words(int(rng.integers(lo, hi + 1)))  # noqa: E731
        options = (
            lambda: f"turn {p(('on', 'off'))} the {p(W.DEVICES)}",
            lambda: f"turn {p(('on', 'off'))} the {p(W.DEVICES)} in the {p(W.ROOMS)}",
            lambda: f"switch {p(('on', 'off'))} the {p(W.ROOMS)} {p(('light', 'lights', 'fan', 'heater'))}",
            lambda: f"set the temperature to {n(15, 30)} degrees",
            lambda: f"set a timer for {n(1, 90)} minutes",
            lambda: f"set an alarm for {n(1, 12)} {p(_MINUTES)}",
            lambda: f"call {p(W.NAMES)}",
            lambda: f"send a message to {p(W.NAMES)} saying {self._free(rng)}",
            lambda: f"play some {p(W.GENRES)} music",
            lambda: "play the next song",
            lambda: f"what is the weather in {p(W.PLACES)} {p(('today', 'tomorrow', 'tonight'))}",
            lambda: f"what is the weather like on {p(W.WEEKDAYS)}",
            lambda: f"remind me to {p(W.VERBS)} the {p(W.NOUNS)} {p(('tomorrow', 'tonight', 'later', 'today'))}",
            lambda: f"add {p(W.FOODS)} to the shopping list",
            lambda: f"turn the volume {p(('up', 'down'))}",
            lambda: f"set the volume to {n(0, 10)}",
            lambda: f"{p(('open', 'close', 'lock', 'unlock'))} the {p(('door', 'window', 'gate', 'garage'))}",
            lambda: f"dim the {p(('light', 'lights', 'lamp'))} in the {p(W.ROOMS)} to {n(5, 95)} percent",
            lambda: f"how long will it take to drive to {p(W.PLACES)}",
            lambda: f"please {p(('stop', 'pause', 'resume', 'cancel', 'repeat'))} "
            f"{p(('that', 'it', 'the music', 'the timer'))}",
        )
        return options[int(rng.integers(len(options)))]()

    def _digits(self, rng: np.random.Generator) -> str:
        length = int(rng.integers(3, 11))
        digits = "".join(str(int(d)) for d in rng.integers(0, 10, size=length))
        spoken = digits_to_words(digits, zero=self._pick(rng, ("zero", "oh")))
        lead = self._pick(
            rng,
            (
                "my phone number is", "the code is", "enter pin", "the account number is",
                "dial", "my room is", "the order number is", "the tracking number is",
            ),
        )
        return f"{lead} {spoken}"

    def _number(self, rng: np.random.Generator) -> str:
        scale = int(rng.choice([100, 1000, 100_000, 10_000_000]))
        value = int(rng.integers(0, scale))
        spoken = number_to_words(value)
        p = lambda seq: self._pick(rng, seq)  # noqa: E731
        small = lambda: number_to_words(int(rng.integers(0, 10)))  # noqa: E731
        options = (
            lambda: f"there are {spoken} {p(W.PLURAL_NOUNS)} in the {p(W.ROOMS + ('city', 'school', 'park'))}",
            lambda: f"it costs {spoken} dollars",
            lambda: f"it costs {spoken} dollars and {number_to_words(int(rng.integers(1, 100)))} cents",
            lambda: f"the population of {p(W.PLACES)} is about {spoken}",
            lambda: f"we need {spoken} more {p(W.PLURAL_NOUNS)}",
            lambda: f"the score was {small()} to {small()}",
            lambda: f"about {number_to_words(int(rng.integers(0, 101)))} percent of the {p(W.PLURAL_NOUNS)} "
            f"were {p(W.ADJECTIVES)}",
            lambda: f"the temperature is {p(('minus ', ''))}{number_to_words(int(rng.integers(0, 40)))} degrees",
            lambda: f"turn to page {number_to_words(int(rng.integers(1, 500)))}",
            lambda: f"the answer is {spoken} point {digits_to_words(str(int(rng.integers(0, 100))))}",
        )
        return options[int(rng.integers(len(options)))]()

    def _date(self, rng: np.random.Generator) -> str:
        p = lambda seq: self._pick(rng, seq)  # noqa: E731
        day = ordinal_to_words(int(rng.integers(1, 29)))
        month = p(W.MONTHS)
        year = year_to_words(int(rng.integers(1900, 2040)))
        options = (
            lambda: f"on {p(W.WEEKDAYS)} the {day} of {month}",
            lambda: f"{month} {day} {year}",
            lambda: f"i was born on the {day} of {month} {year}",
            lambda: f"the meeting is on {p(W.WEEKDAYS)} {month} {day}",
            lambda: f"book a table for {number_to_words(int(rng.integers(2, 9)))} on the {day}",
            lambda: f"what day is the {day} of {month}",
            lambda: f"the project started in {month} {year}",
            lambda: f"see you next {p(W.WEEKDAYS)}",
        )
        return options[int(rng.integers(len(options)))]()

    def _free(self, rng: np.random.Generator) -> str:
        p = lambda seq: self._pick(rng, seq)  # noqa: E731

        def np_(adj_prob: float = 0.5) -> str:
            noun = p(W.NOUNS)
            if rng.random() < adj_prob:
                adj = p(W.ADJECTIVES)
                return f"{p(('the', 'my', 'your', 'this', _article(adj)))} {adj} {noun}"
            return f"{p(('the', 'my', 'our', 'that', _article(noun)))} {noun}"

        options = (
            lambda: f"{np_()} is {p(('very', 'quite', 'really', 'not', 'so'))} {p(W.ADJECTIVES)}",
            lambda: f"{p(_PRONOUNS)} {p(_MODALS)} {p(W.VERBS)} {np_()}",
            lambda: f"can you {p(W.VERBS)} {np_()} {p(_PREPS)} {np_(0.3)}",
            lambda: f"i think {np_()} is {p(W.ADVERBS)} {p(W.ADJECTIVES)}",
            lambda: f"{p(W.NAMES)} wants to {p(W.VERBS)} {np_()} {p(('today', 'tomorrow', 'soon', 'later', 'again'))}",
            lambda: f"please {p(W.VERBS)} {np_()} before {p(W.WEEKDAYS)}",
            lambda: f"did you {p(W.VERBS)} {np_()} {p(('yesterday', 'last night', 'this morning', 'already'))}",
            lambda: f"there is {np_(0.8)} in the {p(W.ROOMS)}",
            lambda: f"{p(W.NAMES)} and {p(W.NAMES)} went to {p(W.PLACES)} last {p(W.WEEKDAYS)}",
            lambda: f"{p(('we', 'they', 'i'))} {p(_NEGATIONS)} {p(W.VERBS)} {np_()}",
            lambda: f"the {p(W.ANIMALS)} {p(('likes', 'wants', 'found', 'saw'))} {np_()}",
            lambda: f"{p(W.VERB_FORMS[:60])} {p(W.ADVERBS)}",
            lambda: f"{p(('where', 'when', 'why', 'how'))} did {p(_PRONOUNS)} {p(W.VERBS)} {np_()}",
            lambda: f"{np_()} and {np_()} are {p(W.ADJECTIVES)}",
            lambda: f"it's {p(W.ADJECTIVES)} {p(('outside', 'today', 'here', 'in ' + p(W.PLACES)))}",
        )
        return options[int(rng.integers(len(options)))]()
