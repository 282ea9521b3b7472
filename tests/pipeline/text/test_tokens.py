"""The shared word tokenizer and vocabulary: the rules, columnar == per text, ids and manifests."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnstream.errors import ConfigError
from rnnstream.text.tokens import EOS, NUM, UNK, Vocabulary, tokenize


def words_of(text: str) -> list[str]:
    flat, offsets = tokenize([text])
    assert offsets.tolist() == [0, len(flat)]
    return flat.to_pylist()


@pytest.mark.parametrize("text,expected", [
    ("The Cat SAT.", ["the", "cat", "sat", EOS]),
    ("Don't you know it's five o'clock?", ["don't", "you", "know", "it's", "five", "o'clock", EOS]),
    ("\u2018Tis the dogs\u2019 dinner\u2019s end!", ["tis", "the", "dogs", "dinner's", "end", EOS]),
    ("well-known -- foo_bar; (baz)", ["well", "known", "foo", "bar", "baz"]),
    ("Wait... what?! No.", ["wait", EOS, "what", EOS, "no", EOS]),
    ('"Go." "Now!"', ["go", EOS, "now", EOS]),
    ("In 1,000.5 years, 3 men; 1st", ["in", NUM, "years", NUM, "men", NUM, "st"]),
    ("It cost 3.50.", ["it", "cost", NUM, EOS]),
    ("Mr. and Mrs. Smith met Dr. J. R. Jones, e.g. today.", ["mr", "and", "mrs", "smith", "met", "dr", "j", "r",
                                                            "jones", "eg", "today", EOS]),
    ("... leading dots", ["leading", "dots"]),
    ("Café Ünter naïve", ["café", "ünter", "naïve"]),
    ("a \ue001 b \ue000 c </s> <num>", ["a", "b", "c", "s", "num"]),
    ("   ", []),
    ("", []),
])
def test_rules(text, expected):
    assert words_of(text) == expected


def test_offsets_slice_each_text_and_nulls_have_no_tokens():
    texts = ["One two.", None, "", "three", "Four five six!"]
    flat, offsets = tokenize(texts)
    assert offsets.dtype == np.int64 and offsets.tolist() == [0, 3, 3, 3, 4, 8]
    assert isinstance(flat, pa.Array)
    assert flat[offsets[4]:offsets[5]].to_pylist() == ["four", "five", "six", EOS]


@pytest.mark.parametrize("make", [
    lambda t: t,
    lambda t: np.array(t, dtype=object),
    lambda t: pa.array(t),
    lambda t: pa.array(t, type=pa.large_string()),
    lambda t: pa.chunked_array([t[:1], t[1:]]),
])
def test_input_kinds_agree(make):
    texts = ["Hello there.", "General Kenobi!"]
    flat, offsets = tokenize(make(texts))
    assert flat.to_pylist() == ["hello", "there", EOS, "general", "kenobi", EOS]
    assert offsets.tolist() == [0, 3, 6]


def test_empty_batch():
    flat, offsets = tokenize([])
    assert len(flat) == 0 and offsets.tolist() == [0]


@pytest.mark.parametrize("bad", ["one string", pa.array([1, 2]), [1, 2]])
def test_non_strings_are_rejected(bad):
    with pytest.raises(ConfigError, match="tokenize"):
        tokenize(bad)


@given(st.lists(st.text(alphabet="ab'. !?1,\u2019-\n", max_size=12), max_size=6))
def test_batch_equals_one_text_at_a_time(texts):
    flat, offsets = tokenize(texts)
    per_text = [words_of(t) for t in texts]
    assert [flat[offsets[i]:offsets[i + 1]].to_pylist() for i in range(len(texts))] == per_text
    assert all(w and not w.startswith("'") and not w.endswith("'") for ws in per_text for w in ws)


def test_build_orders_by_count_then_word_and_keeps_specials_first():
    flat, _ = tokenize(["b a b c. c b. d"])
    vocab = Vocabulary.build(flat, max_size=5)
    assert vocab.to_list() == [UNK, EOS, "b", "c", "a"]  # a and d tie at 1: a comes first
    assert vocab.UNK_ID == 0 and vocab.EOS_ID == 1
    assert Vocabulary.build({"x": 3, "y": 5, "z": 1, EOS: 9}, max_size=10, min_count=2).to_list() == [UNK, EOS, "y", "x"]
    assert Vocabulary.build(np.array(["q", "q", "p"], dtype=object), 3).to_list() == [UNK, EOS, "q"]


def test_encode_decode_and_manifest_round_trip():
    vocab = Vocabulary.from_list([UNK, EOS, "the", "cat", NUM])
    flat, _ = tokenize(["The dog and the cat, 12 of them."])
    ids = vocab.encode(flat)
    assert ids.dtype == np.int64
    assert ids.tolist() == [2, 0, 0, 2, 3, 4, 0, 0, 1]
    assert vocab.decode(ids).tolist() == ["the", UNK, UNK, "the", "cat", NUM, UNK, UNK, EOS]
    assert vocab.decode(np.array([[2, 3], [1, 0]])).shape == (2, 2)
    ids2, offsets = tokenize(["The cat."], vocab=vocab)
    assert ids2.tolist() == [2, 3, 1] and offsets.tolist() == [0, 3]
    again = Vocabulary.from_list(json.loads(json.dumps(vocab.to_list())))
    assert again == vocab and len(again) == 5
    assert "cat" in vocab and "dog" not in vocab and UNK in vocab
    assert vocab.id_of("cat") == 3 and vocab.id_of("dog") == 0
    assert vocab.encode([]).tolist() == []


@pytest.mark.parametrize("words,match", [
    (["the", UNK, EOS], "must start with"),
    ([UNK, EOS, "a", "a"], "duplicate"),
    ([UNK, EOS, ""], "non-empty"),
    ([UNK, EOS, " a"], "non-empty"),
])
def test_bad_vocabularies(words, match):
    with pytest.raises(ConfigError, match=match):
        Vocabulary.from_list(words)


def test_bad_arguments():
    vocab = Vocabulary.from_list([UNK, EOS, "a"])
    with pytest.raises(ConfigError, match="ids must be integers"):
        vocab.decode([3])
    with pytest.raises(ConfigError, match="max_size"):
        Vocabulary.build(["a"], max_size=1)
    with pytest.raises(ConfigError, match="min_count"):
        Vocabulary.build(["a"], max_size=5, min_count=0)
