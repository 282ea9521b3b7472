from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.asr.ctc import (
    DEFAULT_VOCAB,
    GreedyDecoder,
    Vocab,
    greedy_step,
    greedy_step_batch,
    log_softmax,
    tokens_to_text,
    words_from_tokens,
)
from rnnstream.errors import RnnstreamError

V = DEFAULT_VOCAB
WORDS = ["the", "cat", "sat", "on", "a", "mat", "don't", "see", "all", "zoo", "jeep", "apple"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join)


def test_vocab_layout() -> None:
    assert len(V) == 29
    assert V.symbols[V.blank] == "<b>" and V.symbols[V.space] == " " and V.symbols[2] == "'"
    assert V.encode("az").tolist() == [3, 28]
    assert V.decode(V.encode("it's a zoo")) == "it's a zoo"
    with pytest.raises(RnnstreamError):
        V.encode("Hello")
    with pytest.raises(RnnstreamError):
        Vocab(symbols=("<b>", "a", "a"))


def test_collapse_merges_repeats_unless_split_by_blank() -> None:
    a, b = V.encode("ab").tolist()
    assert V.collapse([0, a, a, 0, a, b, b, 0]).tolist() == [a, a, b]
    assert V.collapse([]).tolist() == []


def test_log_softmax_is_normalised_and_idempotent() -> None:
    x = np.random.default_rng(0).normal(size=(5, 29)) * 10
    lp = log_softmax(x)
    assert np.allclose(np.exp(lp).sum(axis=1), 1.0)
    assert np.allclose(log_softmax(lp), lp)


@settings(max_examples=50, deadline=None)
@given(text=texts, seed=st.integers(0, 2**16))
def test_greedy_decodes_known_posteriors(make_posteriors, text: str, seed: int) -> None:
    lp, path, first = make_posteriors(text, seed)
    dec = GreedyDecoder(V, frame_shift=0.04)
    dec.push(lp)
    hyp = dec.finish()
    assert hyp.text == text
    assert hyp.frames.tolist() == first.tolist()
    # Word timings: first label's frame to the end of the last label's frame.
    labels_per_word = [len(w) for w in text.split()]
    idx, expect = 0, []
    for n in labels_per_word:
        expect.append((first[idx] * 0.04, (first[idx + n - 1] + 1) * 0.04))
        idx += n + 1
    got = [(w.start, w.end) for w in hyp.words]
    assert np.allclose(got, expect)


@settings(max_examples=50, deadline=None)
@given(text=texts, seed=st.integers(0, 2**16), cuts=st.lists(st.integers(0, 30), max_size=10))
def test_greedy_chunked_equals_whole(make_posteriors, text: str, seed: int, cuts: list[int]) -> None:
    lp, _, _ = make_posteriors(text, seed)
    # Flatten the peaks so that arg-max sometimes disagrees with the clean path.
    lp = lp + np.random.default_rng(seed).normal(0, 3, size=lp.shape)
    whole = GreedyDecoder(V)
    whole.push(lp)
    ref = whole.finish()
    dec = GreedyDecoder(V)
    pos = 0
    for c in cuts:
        dec.push(lp[pos : pos + c])
        dec.partial()  # peeking must not disturb the stream
        pos = min(lp.shape[0], pos + c)
    dec.push(lp[pos:])
    got = dec.finish()
    assert got.text == ref.text
    assert got.tokens.tolist() == ref.tokens.tolist() and got.frames.tolist() == ref.frames.tolist()
    assert got.words == ref.words


def test_greedy_step_state_is_previous_frame_symbol() -> None:
    a = int(V.encode("a")[0])
    one_hot = np.eye(len(V))
    # Chunk 1 ends in 'a'; chunk 2 starts with 'a' again: one label, not two.
    _, e1, prev = greedy_step(one_hot[[0, a]], V.blank)
    _, e2, prev2 = greedy_step(one_hot[[a, 0, a]], prev)
    assert e1.tolist() == [False, True] and e2.tolist() == [False, False, True] and prev2 == a
    best, emit, same = greedy_step(np.zeros((0, len(V))), 7)
    assert best.size == 0 and emit.size == 0 and same == 7


def test_greedy_batch_matches_single() -> None:
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(4, 12, len(V))) * 3
    prev = rng.integers(0, len(V), size=4)
    lengths = np.array([12, 0, 5, 9])
    best, emit, new_prev = greedy_step_batch(scores, prev, lengths)
    for i in range(4):
        b1, e1, p1 = greedy_step(scores[i, : lengths[i]], int(prev[i]))
        assert best[i, : lengths[i]].tolist() == b1.tolist()
        assert emit[i, : lengths[i]].tolist() == e1.tolist()
        assert not emit[i, lengths[i] :].any()
        assert new_prev[i] == p1


def test_words_from_tokens_timing() -> None:
    toks = V.encode("hi yo")
    frames = np.array([2, 3, 5, 10, 11])
    w = words_from_tokens(toks, frames, V, frame_shift=0.08)
    assert [x.word for x in w] == ["hi", "yo"]
    assert np.allclose([w[0].start, w[0].end, w[1].start, w[1].end], [0.16, 0.32, 0.80, 0.96])
    with pytest.raises(RnnstreamError):
        words_from_tokens(toks, frames[:2], V)
    assert tokens_to_text(V.encode("  a  b ")) == "a b"


def test_greedy_rejects_wrong_width() -> None:
    with pytest.raises(RnnstreamError):
        GreedyDecoder(V).push(np.zeros((3, 5)))
    with pytest.raises(RnnstreamError):
        GreedyDecoder(V, frame_shift=0)
