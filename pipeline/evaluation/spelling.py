"""Peer hypotheses spelled the way the references are, so a peer is not charged for writing digits.

References (LibriSpeech, the synthetic corpora) spell every number. :func:`normalize_text`
already spells cardinals, ordinals, decimals, money and percentages; what it reads differently
from the references is a bare year, which it spells as a cardinal, and the titles a peer such
as Whisper abbreviates. Those two are handled here, only for hypotheses: ``normalize_text``
keeps its behaviour for every other caller.

>>> normalize_hypothesis("In 1990 he came 3rd, paid $5 and got 10% off.")
'in nineteen ninety he came third paid five dollars and got ten percent off'
>>> normalize_hypothesis("Mr. Hale read 2.5 pages, 1,500 words, in the 1800s.")
'mister hale read two point five pages one thousand five hundred words in the eighteen hundreds'
>>> normalize_hypothesis("Mrs. Dale and Dr. Lee met 21 people in 1905 and in the 1990s")
'missus dale and doctor lee met twenty one people in nineteen oh five and in the nineteen nineties'
>>> spell_years("It cost $1200, 1,066 men, 1066 AD, 1999.5 and 2000.")
'It cost $1200, 1,066 men, ten sixty six AD, 1999.5 and two thousand.'
"""

from __future__ import annotations

import re

from rnnstream.asr.text import normalize_text, year_to_words

__all__ = ["normalize_hypothesis", "spell_years"]

# A bare four-digit number from 1000 to 2099 is read as a year: that is how these numbers are
# said in read speech, while counts that large come with a thousands comma ("1,500"), which
# the look-arounds exclude along with money, decimals, clock times and percentages.
_YEAR = re.compile(r"(?<![\d$.,:])\b(1\d{3}|20\d{2})(s?)\b(?![.,:]\d|%)")
# The titles LibriSpeech spells out; "St." is left alone (saint or street).
_TITLES = ((re.compile(r"\bMrs\.?(?=\s|$)", re.IGNORECASE), "missus"),
           (re.compile(r"\bMr\.?(?=\s|$)", re.IGNORECASE), "mister"),
           (re.compile(r"\bDr\.?(?=\s|$)", re.IGNORECASE), "doctor"))


def _plural(words: str) -> str:
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


def _year(m: re.Match[str]) -> str:
    words = year_to_words(int(m.group(1)))
    return _plural(words) if m.group(2) else words


def spell_years(text: str) -> str:
    """Bare years (and decades such as ``1990s``) as words; everything else unchanged."""
    return _YEAR.sub(_year, text)


def normalize_hypothesis(text: str) -> str:
    """A peer's raw output in the references' alphabet: years, titles, then :func:`normalize_text`."""
    t = spell_years(text)
    for pattern, word in _TITLES:
        t = pattern.sub(word, t)
    return normalize_text(t)
