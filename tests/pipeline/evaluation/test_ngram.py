"""The word n-gram baseline: proper distributions, exact top-k, and figures on known text."""

from __future__ import annotations

import numpy as np
import pytest

from rnnstream.errors import ConfigError
from rnnstream.evaluation.ngram import UNK_ID, NgramModel, evaluate


def brute_topk(model: NgramModel, history: np.ndarray, k: int) -> np.ndarray:
    """The k likeliest non-<unk> next ids by scoring every id (ties: smaller id first)."""
    ctx = model._contexts(np.append(history, 0))[-1:]
    words = np.arange(model.vocab_size)
    p = model._prob(np.repeat(ctx, len(words)), words, model.order)
    p[UNK_ID] = -1.0
    return np.argsort(-p, kind="stable")[:k], p


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_distribution_sums_to_one(order):
    rng = np.random.default_rng(order)
    ids = rng.integers(0, 12, size=600)
    model = NgramModel.train(ids, vocab_size=12, order=order)
    words = np.arange(12)
    for t in (0, 1, 5, 77, 300, 599):
        ctx = model._contexts(np.append(ids[:t], 0))[-1:]
        total = model._prob(np.repeat(ctx, 12), words, order).sum()
        assert total == pytest.approx(1.0, abs=1e-9)
    lp = model.logprob(ids)
    assert lp.shape == ids.shape and np.all(np.isfinite(lp)) and np.all(lp < 0)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_topk_is_exact(order):
    rng = np.random.default_rng(10 + order)
    # Zipf-like ids so contexts have a few strong and many weak continuations.
    ids = np.minimum(rng.zipf(1.3, size=3000), 40) - 1
    model = NgramModel.train(ids, vocab_size=40, order=order)
    test = np.minimum(rng.zipf(1.3, size=200), 40) - 1
    top = model.topk(test, k=3)
    assert top.shape == (201, 3)
    for t in range(0, 201, 7):
        expect, p = brute_topk(model, test[:t], 3)
        assert UNK_ID not in top[t]
        np.testing.assert_allclose(p[top[t]], p[expect])  # same scores (ties may swap ids)


def test_repeated_pattern_is_predicted_after_warm_up():
    ids = np.tile([5, 2, 3, 4, 1], 100)  # "the cat sat down </s>"
    model = NgramModel.train(ids, vocab_size=6, order=3)
    held_out = np.tile([3, 4, 1, 5, 2], 20)  # starts mid-pattern
    top = model.topk(held_out, k=1)[:-1, 0]
    assert top[0] != held_out[0]
    assert np.all(top[1:] == held_out[1:])
    r = evaluate(model, held_out)
    assert r["tokens"] == 100 and r["top1"] == pytest.approx(0.99) and r["top3"] >= r["top1"]
    assert 1.0 < r["perplexity"] < 1.3 and r["oov"] == 0.0


def test_uniform_noise_has_perplexity_near_the_vocabulary_size():
    rng = np.random.default_rng(3)
    model = NgramModel.train(rng.integers(1, 50, size=20000), vocab_size=50, order=2)
    r = evaluate(model, rng.integers(1, 50, size=5000))
    assert 0.9 * 49 < r["perplexity"] < 1.6 * 49
    assert r["top1"] < 0.06 and r["top3"] < 0.12


def test_unk_is_never_predicted_and_unk_targets_are_misses():
    ids = np.array([0, 0, 0, 2, 0, 0, 0, 3] * 30)
    model = NgramModel.train(ids, vocab_size=4, order=2)
    top = model.topk(ids, k=3)
    assert UNK_ID not in top
    r = evaluate(model, np.zeros(10, dtype=np.int64), ks=(1, 3))
    assert r["top1"] == 0.0 and r["top3"] == 0.0 and r["oov"] == 1.0
    assert r["perplexity"] < 2.0  # <unk> is the likeliest token here: its probability counts


def test_small_vocabularies_pad_predictions():
    model = NgramModel.train(np.array([1, 1, 1]), vocab_size=2, order=2, max_k=5)
    assert model.max_k == 1
    assert model.topk(np.array([1]), k=1).tolist() == [[1], [1]]


@pytest.mark.parametrize("kwargs,match", [
    ({"order": 0}, "order"),
    ({"order": 7}, "order"),
    ({"vocab_size": 1}, "vocab_size"),
    ({"max_k": 0}, "max_k"),
    ({"vocab_size": 10**7, "order": 3}, "overflow"),
])
def test_bad_training_arguments(kwargs, match):
    args = {"vocab_size": 5, "order": 3} | kwargs
    with pytest.raises(ConfigError, match=match):
        NgramModel.train(np.array([1, 2, 3]), **args)


def test_bad_ids():
    with pytest.raises(ConfigError, match="no tokens"):
        NgramModel.train(np.array([], dtype=np.int64), vocab_size=5)
    model = NgramModel.train(np.array([1, 2, 3]), vocab_size=5)
    with pytest.raises(ConfigError, match=r"\[0, 5\)"):
        evaluate(model, np.array([1, 5]))
    with pytest.raises(ConfigError, match="1-D integer"):
        model.logprob(np.array([1.0, 2.0]))
    with pytest.raises(ConfigError, match="k must be"):
        model.topk(np.array([1]), k=9)


def test_two_hundred_thousand_tokens_evaluate_quickly():
    import time

    rng = np.random.default_rng(0)
    train = np.minimum(rng.zipf(1.2, size=300_000), 3000) - 1
    model = NgramModel.train(train, vocab_size=3000, order=3)
    start = time.perf_counter()
    r = evaluate(model, np.minimum(rng.zipf(1.2, size=200_000), 3000) - 1)
    assert r["tokens"] == 200_000
    assert time.perf_counter() - start < 30  # generous: about 1 s here
