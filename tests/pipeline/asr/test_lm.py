from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.asr.lm import BOS, EOS, UNK, Lexicon, NgramLM
from rnnstream.errors import RnnstreamError

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the rug",
    "a cat ran to the door",
    "the cat ate the fish",
    "a dog ate a bone",
]


def test_unigram_add_k_by_hand() -> None:
    lm = NgramLM.train(["a b", "a c"], order=1, add_k=0.5)
    # Counts a=2 b=1 c=1 </s>=2 (total 6); vocabulary {a, b, c, </s>, <unk>}.
    assert math.isclose(lm.logprob("a"), math.log(2.5 / 8.5))
    assert math.isclose(lm.logprob("zebra"), math.log(0.5 / 8.5))
    assert lm.logprob("zebra") == lm.logprob(UNK)


def test_bigram_absolute_discounting_by_hand() -> None:
    lm = NgramLM.train(["a b", "a c"], order=2, discount=0.75, add_k=0.5)
    p_b = 1.5 / 8.5
    # "a" is followed twice, by two distinct words: 0.25/2 kept, 0.75*2/2 to the unigram.
    assert math.isclose(lm.logprob("b", ("a",)), math.log(0.25 / 2 + 0.75 * p_b))
    # "<s>" is followed only by "a" (twice).
    p_a = 2.5 / 8.5
    assert math.isclose(lm.logprob("a", ()), math.log(1.25 / 2 + 0.75 * 1 / 2 * p_a))
    # "c" was only followed by </s>: "b" gets just the discounted mass.
    assert math.isclose(lm.logprob("b", ("c",)), math.log(0.75 * p_b))
    # A context never seen (here <unk>) backs off entirely.
    assert math.isclose(lm.logprob("b", ("zebra",)), math.log(p_b))


@settings(max_examples=30, deadline=None)
@given(
    order=st.integers(1, 4),
    ctx=st.lists(st.sampled_from(["the", "cat", "a", "dog", "sat", "xyz", BOS]), max_size=4),
)
def test_every_conditional_sums_to_one(order: int, ctx: list[str]) -> None:
    lm = NgramLM.train(CORPUS, order=order)
    total = sum(math.exp(lm.logprob(w, tuple(ctx))) for w in lm.vocab)
    assert math.isclose(total, 1.0, rel_tol=1e-9)


def test_trigram_prefers_seen_continuations_and_low_perplexity() -> None:
    lm = NgramLM.train(CORPUS, order=3)
    assert lm.logprob("sat", ("the", "cat")) > lm.logprob("mat", ("the", "cat"))
    assert lm.logprob(EOS, ("the", "mat")) > lm.logprob(EOS, ("the", "the"))
    seen = lm.perplexity(CORPUS)
    scrambled = lm.perplexity([" ".join(reversed(s.split())) for s in CORPUS])
    assert seen < scrambled
    assert lm.score_sentence("the cat sat".split()) > lm.score_sentence("sat cat the".split())
    assert lm.next_context(("a", "b"), "c") == ("b", "c")


def test_fixed_vocab_maps_others_to_unk() -> None:
    lm = NgramLM.train(CORPUS, order=2, vocab=["the", "cat"])
    assert lm.vocab == {"the", "cat", EOS, UNK}
    assert lm.logprob("dog", ("the",)) == lm.logprob(UNK, ("the",))


def test_bad_parameters_raise() -> None:
    with pytest.raises(RnnstreamError):
        NgramLM.train(CORPUS, order=0)
    with pytest.raises(RnnstreamError):
        NgramLM.train(CORPUS, discount=1.0)
    with pytest.raises(RnnstreamError):
        NgramLM.train([], order=2).perplexity([])


def test_lexicon_prefixes() -> None:
    lex = Lexicon(["cat", "car", "dog", BOS, EOS])
    assert "cat" in lex and "ca" not in lex and BOS not in lex
    assert lex.is_prefix("") and lex.is_prefix("c") and lex.is_prefix("do") and not lex.is_prefix("cb")
    assert len(Lexicon.from_lm(NgramLM.train(CORPUS, order=1))) == len({w for s in CORPUS for w in s.split()})
    with pytest.raises(RnnstreamError):
        Lexicon([])
    assert np.isfinite(NgramLM.train(CORPUS).logprob("never-seen", ("the",)))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 3), st.lists(st.sampled_from(["the", "cat", "sat", "on", BOS]), min_size=1, max_size=2))
def test_unseen_words_score_backoff_weight_plus_lower_order(order: int, ctx: list[str]) -> None:
    lm = NgramLM.train(CORPUS, order=order)
    context = tuple(ctx)[-(order - 1):]
    seen = set(lm.followers(context))
    for w in sorted(lm.vocab - {EOS} - seen):
        expect = lm.backoff_logweight(context) + lm.level_logprob(w, context[1:])
        assert lm.level_logprob(w, context) == pytest.approx(expect, abs=1e-12)
    for w in seen:
        assert lm.level_logprob(w, context) > lm.backoff_logweight(context) + lm.level_logprob(w, context[1:])


def test_score_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import rnnstream.asr.lm as lm_mod

    monkeypatch.setattr(lm_mod, "CACHE_LIMIT", 5)
    lm = NgramLM.train(CORPUS, order=2)
    fresh = NgramLM.train(CORPUS, order=2)
    words = sorted(lm.vocab)
    for prev in words:
        for w in words:
            assert lm.logprob(w, (prev,)) == fresh.logprob(w, (prev,))
            assert len(lm._cache) <= 5
