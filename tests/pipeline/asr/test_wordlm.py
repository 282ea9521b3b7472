"""The array word LM: back-off form equals the Kneser-Ney model, files round-trip, look-ahead bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rnnstream.asr.lm import EOS, NgramLM
from rnnstream.asr.lmmix import MixedLM, lookahead_for
from rnnstream.asr.wordlm import WordLM, WordLookAhead
from rnnstream.errors import ModelError
from rnnstream.evaluation.ngram import NgramModel

LEXICON = ["a", "an", "and", "cat", "car", "dog", "ran", "sat", "the", "then"]


def _stream(seed: int, n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Skewed, with sentence ends: ids 1 (</s>) .. len(LEXICON) + 1.
    p = 1.0 / np.arange(1, len(LEXICON) + 2)
    return rng.choice(np.arange(1, len(LEXICON) + 2), size=n, p=p / p.sum())


def _lm(seed: int = 0, order: int = 3, cutoffs=()) -> tuple[WordLM, NgramModel]:
    words = ["<unk>", EOS] + sorted(LEXICON)
    model = NgramModel.train(_stream(seed), vocab_size=len(words), order=order, max_k=1)
    return WordLM.from_kneser_ney(words, model, cutoffs), model


@pytest.mark.parametrize("order", [1, 2, 3])
def test_unpruned_back_off_form_equals_the_interpolated_model(order):
    lm, model = _lm(order=order)
    ids = np.arange(len(lm.words))
    for ctx in [(), (1,), (8, 3), (10, 10), (2, 5)]:
        ctx = ctx[len(ctx) - (order - 1):] if order > 1 else ()
        ctx = (1,) * (order - 1 - len(ctx)) + tuple(ctx)
        key = 0
        for c in ctx:
            key = key * model.base + c
        want = np.log(model._prob(np.full(len(ids), key), ids, order))
        got = np.array([lm.id_logprob(int(w), list(ctx)) for w in ids])
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_each_distribution_sums_to_one_and_pruning_only_lowers_kept_scores():
    lm, _ = _lm()
    pruned, _ = _lm(cutoffs=(2, 3))
    for ctx in [("the",), ("the", "cat"), ("zebra", "sat"), ()]:
        total = sum(math.exp(lm.logprob(w, ctx)) for w in lm.words)
        assert abs(total - 1.0) < 1e-4, (ctx, total)
        assert sum(math.exp(pruned.logprob(w, ctx)) for w in pruned.words) <= 1.0 + 1e-4
    assert sum(len(lv[0]) for lv in pruned.levels) < sum(len(lv[0]) for lv in lm.levels)


def test_a_short_or_sentence_start_context_reads_as_after_an_end(tmp_path):
    lm, _ = _lm()
    assert lm.logprob("the", ()) == lm.logprob("the", ("<s>",)) == lm.logprob("the", (EOS, EOS))
    assert lm.logprob("the", ("zebra",)) == lm.logprob("the", ("<unk>",))


def test_save_and_load_keep_every_score_to_half_precision(tmp_path):
    lm, _ = _lm()
    lm.save(tmp_path / "lm.npz")
    back = WordLM.load(tmp_path / "lm.npz")
    assert back.words == lm.words and back.order == lm.order
    for ctx in [("the", "cat"), ("a",), ()]:
        for w in lm.words:
            assert abs(back.logprob(w, ctx) - lm.logprob(w, ctx)) < 0.01


def test_a_file_that_is_no_word_lm_is_one_model_error(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.zeros(3))
    with pytest.raises(ModelError, match="not an rnnstream-wordlm"):
        WordLM.load(bad)
    (tmp_path / "t.npz").write_text("hello")
    with pytest.raises(ModelError, match="cannot read"):
        WordLM.load(tmp_path / "t.npz")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 50), ctx=st.lists(st.sampled_from(LEXICON + [EOS]), max_size=3),
       prefix=st.sampled_from(["", "a", "an", "c", "ca", "t", "the", "then", "x", "do"]))
def test_look_ahead_is_the_best_score_of_the_words_with_that_prefix(seed, ctx, prefix):
    lm, _ = _lm(seed, cutoffs=(1, 2))
    best = WordLookAhead(lm).best(tuple(ctx), prefix)
    scores = [lm.logprob(w, tuple(ctx)) for w in LEXICON if w.startswith(prefix)]
    if not scores:
        assert best == -math.inf
    else:
        # An upper bound, and tight: unpruned back-off scores are reached by some word.
        assert best >= max(scores) - 1e-9
        assert best <= max(scores) + 1e-6 or best <= max(scores) + abs(max(scores)) * 1e-6


def test_a_domain_lm_lifts_its_words_and_keeps_general_words_readable():
    general, _ = _lm()
    domain = NgramLM.train(["turn the light on", "turn the light off"], order=3)
    mix = MixedLM(general, domain, 0.5)
    assert mix.logprob("light", ("the",)) > general.logprob("light", ("the",)) + 5
    # A general word keeps at least half its general probability.
    assert mix.logprob("cat", ("the",)) >= general.logprob("cat", ("the",)) + math.log(0.5) - 1e-9
    la = lookahead_for(mix, object())
    assert la.best(("the",), "li") >= mix.logprob("light", ("the",)) - 1e-9
    assert la.best(("the",), "ca") >= mix.logprob("cat", ("the",)) - 1e-9
