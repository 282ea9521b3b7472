from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.asr.beam import BeamSearchDecoder
from rnnstream.asr.ctc import DEFAULT_VOCAB, GreedyDecoder
from rnnstream.asr.lm import Lexicon, NgramLM
from rnnstream.errors import RnnstreamError

V = DEFAULT_VOCAB
WORDS = ["the", "cat", "sat", "on", "a", "mat", "don't", "see", "all", "zoo", "jeep"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)


def _onehot_rows(spec: list[dict[str, float]]) -> np.ndarray:
    """Rows of probabilities given as {symbol: p}; '_' is blank; the rest share 1e-6."""
    out = np.full((len(spec), len(V)), 1e-6)
    for i, row in enumerate(spec):
        for sym, p in row.items():
            out[i, V.blank if sym == "_" else int(V.encode(sym)[0])] = p
    return np.log(out / out.sum(axis=1, keepdims=True))


def _decode(dec: BeamSearchDecoder, lp: np.ndarray, cuts: list[int] | None = None):
    state = dec.initial_state()
    pos = 0
    for c in cuts or []:
        state = dec.step(state, lp[pos : pos + c])
        pos = min(lp.shape[0], pos + c)
    return dec.nbest(dec.step(state, lp[pos:]))


def test_beam_finds_the_labelling_greedy_misses() -> None:
    # Two frames of P(blank)=0.6, P(a)=0.4: the best path is blank-blank (""),
    # but "a" sums three paths: 0.4*0.4 + 0.4*0.6 + 0.6*0.4 = 0.64 > 0.36.
    lp = _onehot_rows([{"_": 0.6, "a": 0.4}] * 2)
    g = GreedyDecoder(V)
    g.push(lp)
    assert g.finish().text == ""
    best = _decode(BeamSearchDecoder(V, beam_size=4), lp)
    assert best[0].text == "a"
    assert math.isclose(best[0].score, math.log(0.64), abs_tol=1e-4)
    assert best[1].text == "" and math.isclose(best[1].score, math.log(0.36), abs_tol=1e-4)


@settings(max_examples=40, deadline=None)
@given(text=texts, seed=st.integers(0, 2**16))
def test_beam_decodes_known_posteriors(make_posteriors, text: str, seed: int) -> None:
    lp, _, first = make_posteriors(text, seed)
    hyp = _decode(BeamSearchDecoder(V, beam_size=6), lp)[0]
    assert hyp.text == text
    assert hyp.frames.tolist() == first.tolist()


@settings(max_examples=25, deadline=None)
@given(text=texts, seed=st.integers(0, 2**16), cuts=st.lists(st.integers(0, 25), max_size=8))
def test_beam_chunked_equals_whole(make_posteriors, text: str, seed: int, cuts: list[int]) -> None:
    lp, _, _ = make_posteriors(text, seed)
    lp = lp + np.random.default_rng(seed).normal(0, 2.5, size=lp.shape)  # make it ambiguous
    lm = NgramLM.train(["the cat sat on a mat", "don't see all", "a jeep at the zoo"], order=2)
    dec = BeamSearchDecoder(V, beam_size=5, lm=lm, alpha=0.7, beta=0.5)
    whole = _decode(dec, lp)
    chunked = _decode(dec, lp, cuts)
    assert [h.text for h in chunked] == [h.text for h in whole]
    assert [h.score for h in chunked] == [h.score for h in whole]
    assert [h.frames.tolist() for h in chunked] == [h.frames.tolist() for h in whole]


def test_partial_does_not_change_the_final_result(make_posteriors) -> None:
    lp, _, _ = make_posteriors("the cat sat on a mat", 11)
    lp = lp + np.random.default_rng(0).normal(0, 2.0, size=lp.shape)
    lm = NgramLM.train(["the cat sat on the mat"], order=3)
    dec = BeamSearchDecoder(V, beam_size=4, lm=lm, lexicon=Lexicon(WORDS))
    plain = dec.stream()
    peeked = dec.stream()
    partials = []
    for chunk in np.array_split(lp, 9):
        plain.push(chunk)
        peeked.push(chunk)
        before = peeked.state
        partials.append(peeked.partial().text)
        assert peeked.state is before
    final_peeked, final_plain = peeked.finish(), plain.finish()
    assert final_peeked == final_plain
    assert final_plain.text.startswith("the cat")
    assert partials[-1] == final_plain.text and len(set(partials)) > 1


def _ambiguous_cat_bat() -> np.ndarray:
    # "the ?at": the first letter of the second word is 55 % 'b', 45 % 'c'.
    spec: list[dict[str, float]] = []
    for ch in "the":
        spec += [{ch: 0.99}, {"_": 0.99}]
    spec += [{" ": 0.99}, {"b": 0.55, "c": 0.45}, {"_": 0.99}, {"a": 0.99}, {"t": 0.99}, {"_": 0.99}]
    return _onehot_rows(spec)


def test_lm_flips_an_acoustically_ambiguous_word() -> None:
    lp = _ambiguous_cat_bat()
    assert _decode(BeamSearchDecoder(V, beam_size=8), lp)[0].text == "the bat"
    lm = NgramLM.train(["the cat sat", "the cat ran", "a bat flew", "the cat is here"], order=2)
    fused = _decode(BeamSearchDecoder(V, beam_size=8, lm=lm, alpha=1.0, beta=0.0), lp)
    assert fused[0].text == "the cat"
    # With alpha = 0 the LM has no say, whatever it was trained on.
    flat = _decode(BeamSearchDecoder(V, beam_size=8, lm=lm, alpha=0.0, beta=0.0), lp)
    assert flat[0].text == "the bat"


def test_lexicon_keeps_only_real_words() -> None:
    # Acoustics say "thw" (60 %) rather than "the" (40 %).
    spec = [{"t": 0.99}, {"_": 0.99}, {"h": 0.99}, {"_": 0.99}, {"w": 0.6, "e": 0.4}, {"_": 0.99}]
    lp = _onehot_rows(spec)
    assert _decode(BeamSearchDecoder(V, beam_size=8), lp)[0].text == "thw"
    constrained = _decode(BeamSearchDecoder(V, beam_size=8, lexicon=Lexicon(["the", "then", "cat"])), lp)
    assert constrained[0].text == "the"
    assert all(h.text in ("the", "") or h.score == float("-inf") for h in constrained)


def test_word_insertion_bonus_favours_more_words() -> None:
    # A space that is 50/50 with blank: beta decides between "ab" and "a b".
    spec = [{"a": 0.99}, {" ": 0.45, "_": 0.55}, {"b": 0.99}, {"_": 0.99}]
    lp = _onehot_rows(spec)
    lm = NgramLM.train(["a b", "ab"], order=1)
    low = _decode(BeamSearchDecoder(V, beam_size=8, lm=lm, alpha=0.0, beta=0.0), lp)[0].text
    high = _decode(BeamSearchDecoder(V, beam_size=8, lm=lm, alpha=0.0, beta=2.0), lp)[0].text
    assert low == "ab" and high == "a b"


def test_beam_matches_greedy_on_clean_posteriors(make_posteriors) -> None:
    lp, _, _ = make_posteriors("see all the jeep", 4)
    g = GreedyDecoder(V, frame_shift=0.06)
    g.push(lp)
    gh = g.finish()
    bh = _decode(BeamSearchDecoder(V, beam_size=3, frame_shift=0.06), lp)[0]
    assert bh.text == gh.text and bh.words == gh.words


def test_bad_settings_raise() -> None:
    with pytest.raises(RnnstreamError):
        BeamSearchDecoder(V, beam_size=0)
    with pytest.raises(RnnstreamError):
        BeamSearchDecoder(V, top_k=0)
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(RnnstreamError, match="blank_penalty"):
            BeamSearchDecoder(V, blank_penalty=bad)
    dec = BeamSearchDecoder(V)
    with pytest.raises(RnnstreamError):
        dec.step(dec.initial_state(), np.zeros((2, 5)))
    s0 = dec.initial_state()
    assert dec.step(s0, np.zeros((0, len(V)))) is s0


def test_older_states_stay_valid_after_further_steps(make_posteriors) -> None:
    lp, _, _ = make_posteriors("all the zoo", 8)
    dec = BeamSearchDecoder(V, beam_size=4)
    s1 = dec.step(dec.initial_state(), lp[:10])
    before = dec.nbest(s1)
    s2 = dec.step(s1, lp[10:])
    again = dec.step(s1, lp[10:])  # branching from the same state
    assert dec.nbest(s1) == before
    assert dec.nbest(s2) == dec.nbest(again)
    assert dec.result(s2).text == "all the zoo"


def test_blank_penalty_keeps_a_label_the_blank_narrowly_beats() -> None:
    # 'b' at 40 % against blank at 60 %: "a" wins, until the blank pays a nat per frame.
    lp = _onehot_rows([{"a": 0.99}, {"_": 0.6, "b": 0.4}, {"_": 0.99}])
    assert BeamSearchDecoder(V, beam_size=8).decode(lp).text == "a"
    assert BeamSearchDecoder(V, beam_size=8, blank_penalty=1.0).decode(lp).text == "ab"
    # The caller's scores are left alone.
    before = lp.copy()
    BeamSearchDecoder(V, beam_size=8, blank_penalty=1.0).decode(lp)
    np.testing.assert_array_equal(lp, before)


def test_prune_drops_beams_far_below_the_best_and_keeps_close_ones() -> None:
    # One frame: "a" at 0.9, "b" at 1e-4 (about 9.1 nats below), blank at the shared floor.
    lp = _onehot_rows([{"a": 0.9, "b": 1e-4}])
    gap = float(lp[0, int(V.encode("a")[0])] - lp[0, int(V.encode("b")[0])])
    wide = BeamSearchDecoder(V, beam_size=8, prune=gap + 1.0, token_threshold=30.0)
    narrow = BeamSearchDecoder(V, beam_size=8, prune=gap - 1.0, token_threshold=30.0)
    assert "b" in [h.text for h in _decode(wide, lp)]
    texts_narrow = [h.text for h in _decode(narrow, lp)]
    assert texts_narrow[0] == "a" and "b" not in texts_narrow


def test_label_threshold_skips_labels_far_below_the_frames_best() -> None:
    lp = _onehot_rows([{"a": 0.9, "b": 1e-3}])
    gap = float(lp[0, int(V.encode("a")[0])] - lp[0, int(V.encode("b")[0])])
    tried = BeamSearchDecoder(V, beam_size=8, token_threshold=gap + 0.5)
    skipped = BeamSearchDecoder(V, beam_size=8, token_threshold=gap - 0.5)
    assert "b" in [h.text for h in _decode(tried, lp)]
    assert "b" not in [h.text for h in _decode(skipped, lp)]


def test_the_defaults_are_the_documented_constants() -> None:
    from rnnstream.asr.beam import DEFAULT_LABEL_THRESHOLD, DEFAULT_PRUNE

    dec = BeamSearchDecoder(V)
    assert (dec.token_threshold, dec.prune) == (DEFAULT_LABEL_THRESHOLD, DEFAULT_PRUNE)


@settings(max_examples=25, deadline=None)
@given(text=texts, seed=st.integers(0, 2**16), cuts=st.lists(st.integers(0, 25), max_size=8))
def test_skipping_sure_blank_frames_keeps_chunked_equal_to_whole(make_posteriors, text, seed, cuts) -> None:
    lp, _, _ = make_posteriors(text, seed)
    lp = lp + np.random.default_rng(seed).normal(0, 1.0, size=lp.shape)
    lm = NgramLM.train(["the cat sat on a mat", "don't see all", "a jeep at the zoo"], order=2)
    dec = BeamSearchDecoder(V, beam_size=5, lm=lm, alpha=0.7, beta=0.5, skip_blank=0.95)
    whole, chunked = _decode(dec, lp), _decode(dec, lp, cuts)
    assert [(h.text, h.score) for h in chunked] == [(h.text, h.score) for h in whole]


@settings(max_examples=30, deadline=None)
@given(text=texts, seed=st.integers(0, 2**16))
def test_skipping_sure_blank_frames_finds_what_the_full_search_finds(make_posteriors, text, seed) -> None:
    lp, _, first = make_posteriors(text, seed)
    full = _decode(BeamSearchDecoder(V, beam_size=6), lp)[0]
    fast = _decode(BeamSearchDecoder(V, beam_size=6, skip_blank=0.999), lp)[0]
    assert fast.text == full.text == text
    assert fast.frames.tolist() == first.tolist()
    assert abs(fast.score - full.score) < 0.01


def test_a_skipped_frame_tries_no_label_and_the_threshold_is_checked() -> None:
    # The second frame is 99.5 % blank: skipping it loses the 0.5 % "b" path.
    lp = _onehot_rows([{"a": 0.9, "_": 0.1}, {"_": 0.995, "b": 0.005}])
    assert "ab" in [h.text for h in _decode(BeamSearchDecoder(V, beam_size=8, token_threshold=8), lp)]
    assert "ab" not in [h.text for h in _decode(BeamSearchDecoder(V, beam_size=8, token_threshold=8, skip_blank=0.99),
                                                  lp)]
    with pytest.raises(RnnstreamError, match="skip_blank"):
        BeamSearchDecoder(V, skip_blank=1.0)
