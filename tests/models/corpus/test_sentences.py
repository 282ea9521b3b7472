from __future__ import annotations

import collections

import pytest

from rnnstream.models.corpus.sentences import KINDS, SentenceGenerator
from rnnstream.asr.text import ALLOWED_CHARS, is_eval_text, normalize_text
from rnnstream.models.corpus.words import ALL_WORDS
from rnnstream.errors import RnnstreamError


def test_deterministic_per_seed_and_index() -> None:
    a, b, c = SentenceGenerator(3), SentenceGenerator(3), SentenceGenerator(4)
    assert a.sample(50) == b.sample(50)
    assert a.sample(50) != c.sample(50)
    assert a.sentence(17, "eval") == b.sample(1, "eval", start=17)[0]


def test_train_and_eval_never_share_a_sentence_across_seeds() -> None:
    train = set(SentenceGenerator(1).sample(1500, "train")) | set(SentenceGenerator(2).sample(500, "train"))
    evals = set(SentenceGenerator(9).sample(500, "eval"))
    assert not train & evals
    assert all(not is_eval_text(t) for t in train) and all(is_eval_text(t) for t in evals)
    assert len(train) > 1500  # templates are varied enough to rarely repeat


def test_sentences_are_normalised_vocabulary_words() -> None:
    vocab = set(ALL_WORDS)
    for s in SentenceGenerator(5).sample(1000) + SentenceGenerator(5).sample(300, "eval"):
        assert s == normalize_text(s) and set(s) <= ALLOWED_CHARS
        assert set(s.split()) <= vocab, s


def test_weights_select_kinds() -> None:
    digits_only = SentenceGenerator(0, weights={"digits": 1.0}).sample(100)
    digit_words = set("zero oh one two three four five six seven eight nine".split())
    for s in digits_only:
        words = s.split()
        tail = [w for w in words if w in digit_words]
        assert len(tail) >= 3
    dates = SentenceGenerator(0, weights={"date": 1.0}).sample(200)
    months = {"january", "march", "june", "october", "december"}
    assert any(set(s.split()) & months for s in dates)
    with pytest.raises(RnnstreamError):
        SentenceGenerator(0, weights={"poetry": 1.0})
    with pytest.raises(RnnstreamError):
        SentenceGenerator(0, weights={"free": 0.0})
    with pytest.raises(RnnstreamError):
        SentenceGenerator(0).sentence(0, "test")  # type: ignore[arg-type]


def test_mix_covers_every_kind() -> None:
    g = SentenceGenerator(2)
    starts = collections.Counter(s.split()[0] for s in g.sample(600))
    assert starts["turn"] + starts["set"] + starts["call"] > 0  # commands
    assert sum(1 for s in g.sample(600) if "dollars" in s or "percent" in s) > 0  # numbers
    assert len(KINDS) == 5
