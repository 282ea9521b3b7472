"""Text normalisation to the CTC alphabet, spoken numbers, and the train/eval split.

Normalisation lower-cases, spells numbers (cardinals, ordinals such as ``3rd``,
decimals, currency, percentages) as words, keeps word-internal apostrophes and
drops everything else outside a-z.

The split is a pure function of the normalised text (a keyed hash bucket), so a
sentence lands in the same split whichever generator, seed or file produced it:
evaluation text can never leak into training text.

>>> normalize_text("Call me at 7:30 on the 3rd, it's 25% off -- $4.50!")
"call me at seven thirty on the third it's twenty five percent off four dollars fifty cents"
>>> number_to_words(1_204_017)
'one million two hundred four thousand seventeen'
>>> year_to_words(1984), year_to_words(2007)
('nineteen eighty four', 'two thousand seven')
>>> is_eval_text("Hello, World!") == is_eval_text("hello world")
True
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Iterable

from rnnstream.errors import RnnstreamError

__all__ = [
    "ALLOWED_CHARS",
    "number_to_words",
    "ordinal_to_words",
    "year_to_words",
    "digits_to_words",
    "normalize_text",
    "text_bucket",
    "is_eval_text",
    "split_texts",
    "drop_overlap",
    "DEFAULT_EVAL_PERCENT",
]

ALLOWED_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz' ")
DEFAULT_EVAL_PERCENT = 20

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}


def _below_thousand(n: int) -> list[str]:
    out: list[str] = []
    if n >= 100:
        out += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        out.append(_TENS[n // 10])
        n %= 10
        if n:
            out.append(_ONES[n])
    elif n or not out:
        out.append(_ONES[n])
    return out


def number_to_words(n: int) -> str:
    """Cardinal in US style without "and": ``115 -> 'one hundred fifteen'``."""
    if not isinstance(n, int):
        raise RnnstreamError(f"number_to_words wants an int, got {type(n).__name__}")
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= 10**15:
        return digits_to_words(str(n))
    if n < 1000:
        return " ".join(_below_thousand(n))
    out: list[str] = []
    for value, name in _SCALES:
        if n >= value:
            out += _below_thousand(n // value) + [name]
            n %= value
    if n:
        out += _below_thousand(n)
    return " ".join(out)


def ordinal_to_words(n: int) -> str:
    """``21 -> 'twenty first'``, ``40 -> 'fortieth'``, ``100 -> 'one hundredth'``."""
    head, _, last = number_to_words(n).rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def year_to_words(y: int) -> str:
    """Years as people say them: 1905 'nineteen oh five', 2000 'two thousand'."""
    if 2000 <= y <= 2009 or y % 1000 == 0 or not 1000 <= y <= 9999:
        return number_to_words(y)
    hi, lo = divmod(y, 100)
    if lo == 0:
        return f"{number_to_words(hi)} hundred"
    if lo < 10:
        return f"{number_to_words(hi)} oh {_ONES[lo]}"
    return f"{number_to_words(hi)} {number_to_words(lo)}"


def digits_to_words(digits: str, zero: str = "zero") -> str:
    """Digit by digit: ``'4071' -> 'four zero seven one'``."""
    if not digits.isdigit():
        raise RnnstreamError(f"digits_to_words wants only digits, got {digits!r}")
    return " ".join(zero if d == "0" else _ONES[int(d)] for d in digits)


def _money(m: re.Match[str]) -> str:
    whole = int(m.group(1).replace(",", ""))
    cents = int((m.group(2) or "0").ljust(2, "0")[:2])
    out = f"{number_to_words(whole)} dollar{'s' if whole != 1 else ''}"
    if cents:
        out += f" {number_to_words(cents)} cent{'s' if cents != 1 else ''}"
    return f" {out} "


def _clock(m: re.Match[str]) -> str:
    h, mi = int(m.group(1)), int(m.group(2))
    if mi == 0:
        return f" {number_to_words(h)} o'clock "
    if mi < 10:
        return f" {number_to_words(h)} oh {_ONES[mi]} "
    return f" {number_to_words(h)} {number_to_words(mi)} "


def _decimal(m: re.Match[str]) -> str:
    return f" {number_to_words(int(m.group(1)))} point {digits_to_words(m.group(2))} "


_SUBS: tuple[tuple[re.Pattern[str], object], ...] = (
    (re.compile(r"(?<=\d),(?=\d{3}\b)"), ""),
    (re.compile(r"\$(\d[\d,]*)(?:\.(\d{1,2}))?"), _money),
    (re.compile(r"\b(\d{1,2}):(\d{2})\b"), _clock),
    (re.compile(r"\b(\d+)(?:st|nd|rd|th)\b"), lambda m: f" {ordinal_to_words(int(m.group(1)))} "),
    (re.compile(r"\b(\d+)\.(\d+)\b"), _decimal),
    (re.compile(r"(?:(?<=\s)|^)-(?=\d)"), " minus "),
    (re.compile(r"\d+"), lambda m: f" {number_to_words(int(m.group(0)))} "),
    (re.compile(r"%"), " percent "),
    (re.compile(r"&"), " and "),
    (re.compile(r"\+"), " plus "),
    (re.compile(r"@"), " at "),
)
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_NOT_ALLOWED = re.compile(r"[^a-z' ]+")
_STRAY_APOSTROPHE = re.compile(r"(?<![a-z])'|'(?![a-z])")


def normalize_text(text: str) -> str:
    """Map arbitrary text to the CTC alphabet (a-z, apostrophe, single spaces)."""
    t = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).lower()
    for pattern, repl in _SUBS:
        t = pattern.sub(repl, t)  # type: ignore[arg-type]
    t = _NOT_ALLOWED.sub(" ", t)
    t = _STRAY_APOSTROPHE.sub(" ", t)
    return " ".join(t.split())


def text_bucket(text: str, buckets: int = 100) -> int:
    """Stable bucket of the *normalised* text (independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(normalize_text(text).encode(), digest_size=8, person=b"rnnstrm-split").digest()
    return int.from_bytes(digest, "big") % buckets


def is_eval_text(text: str, eval_percent: int = DEFAULT_EVAL_PERCENT) -> bool:
    """Whether a sentence belongs to the evaluation split."""
    if not 0 < eval_percent < 100:
        raise RnnstreamError(f"eval_percent must be in (0, 100), got {eval_percent}")
    return text_bucket(text) < eval_percent


def split_texts(
    texts: Iterable[str], eval_percent: int = DEFAULT_EVAL_PERCENT
) -> tuple[list[str], list[str]]:
    """Normalise, de-duplicate and split texts into disjoint ``(train, eval)`` lists."""
    train: dict[str, None] = {}
    evals: dict[str, None] = {}
    for raw in texts:
        t = normalize_text(raw)
        if t:
            (evals if is_eval_text(t, eval_percent) else train).setdefault(t, None)
    return list(train), list(evals)


def drop_overlap(eval_texts: Iterable[str], train_texts: Iterable[str]) -> list[str]:
    """Eval texts whose normalised form does not occur in the training texts."""
    seen = {normalize_text(t) for t in train_texts}
    return [t for t in eval_texts if normalize_text(t) not in seen]
