from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.asr.text import (
    ALLOWED_CHARS,
    digits_to_words,
    drop_overlap,
    is_eval_text,
    normalize_text,
    number_to_words,
    ordinal_to_words,
    split_texts,
    text_bucket,
    year_to_words,
)
from rnnstream.errors import RnnstreamError
from rnnstream.models.corpus.words import ALL_WORDS


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety nine"),
        (101, "one hundred one"),
        (1000, "one thousand"),
        (1_000_001, "one million one"),
        (2_500_300, "two million five hundred thousand three hundred"),
        (-12, "minus twelve"),
    ],
)
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


def test_ordinals_years_digits() -> None:
    assert [ordinal_to_words(n) for n in (1, 2, 3, 5, 9, 12, 20, 23, 100)] == [
        "first", "second", "third", "fifth", "ninth", "twelfth", "twentieth", "twenty third", "one hundredth",
    ]
    assert year_to_words(1999) == "nineteen ninety nine"
    assert year_to_words(1905) == "nineteen oh five"
    assert year_to_words(1800) == "eighteen hundred"
    assert year_to_words(2000) == "two thousand" and year_to_words(2024) == "twenty twenty four"
    assert digits_to_words("0451", zero="oh") == "oh four five one"
    with pytest.raises(RnnstreamError):
        digits_to_words("12a")
    with pytest.raises(RnnstreamError):
        number_to_words(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw, norm",
    [
        ("Hello, World!", "hello world"),
        ("I’m 100% sure", "i'm one hundred percent sure"),
        ("It costs $3.05", "it costs three dollars five cents"),
        ("Meet at 9:05 on the 21st", "meet at nine oh five on the twenty first"),
        ("pi is 3.14", "pi is three point one four"),
        ("1,250 people", "one thousand two hundred fifty people"),
        ("rock & roll", "rock and roll"),
        ("Café  naïve — 'quoted'", "cafe naive quoted"),
        ("it's -5 outside", "it's minus five outside"),
        ("e-mail", "e mail"),
    ],
)
def test_normalize_examples(raw: str, norm: str) -> None:
    assert normalize_text(raw) == norm


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_normalized_text_fits_the_ctc_alphabet_and_is_a_fixed_point(raw: str) -> None:
    t = normalize_text(raw)
    assert set(t) <= ALLOWED_CHARS
    assert t == t.strip() and "  " not in t
    assert normalize_text(t) == t


@settings(max_examples=100, deadline=None)
@given(st.integers(-(10**12), 10**12))
def test_spoken_numbers_use_vocabulary_words(n: int) -> None:
    vocab = set(ALL_WORDS)
    assert set(number_to_words(n).split()) <= vocab
    if n > 0:
        assert set(ordinal_to_words(n).split()) <= vocab


def test_vocabulary_is_large_and_clean() -> None:
    v = ALL_WORDS
    assert len(v) >= 2000 and len(set(v)) == len(v)
    assert all(set(w) <= ALLOWED_CHARS - {" "} and w == normalize_text(w) for w in v)


def test_split_is_disjoint_deterministic_and_roughly_sized() -> None:
    texts = [f"sentence number {number_to_words(i)}" for i in range(2000)]
    texts += ["Sentence number ONE!", "sentence   number one"]  # duplicates after normalising
    train, evals = split_texts(texts, eval_percent=20)
    assert not set(train) & set(evals)
    assert len(train) + len(evals) == 2000
    assert 0.15 < len(evals) / 2000 < 0.25
    # Membership depends on the text alone, not on order or company.
    assert set(split_texts(reversed(texts), eval_percent=20)[1]) == set(evals)
    assert set(split_texts(texts[::3], eval_percent=20)[1]) <= set(evals)
    assert all(is_eval_text(t, 20) for t in evals)
    assert text_bucket("Hello") == text_bucket("hello") and 0 <= text_bucket("x") < 100
    with pytest.raises(RnnstreamError):
        is_eval_text("x", 0)


def test_drop_overlap() -> None:
    assert drop_overlap(["The cat.", "a dog", "new one"], ["the cat", "A DOG!"]) == ["new one"]
