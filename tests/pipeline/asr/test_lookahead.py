from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.asr.beam import BeamSearchDecoder
from rnnstream.asr.ctc import DEFAULT_VOCAB
from rnnstream.asr.lm import Lexicon, NgramLM
from rnnstream.asr.lookahead import LookAhead

V = DEFAULT_VOCAB
WORDS = ["the", "then", "there", "cat", "car", "cart", "sat", "saw", "on", "a", "an", "and", "mat"]
sentences = st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None)
@given(sentences, st.integers(1, 3), st.data())
def test_bound_is_never_below_the_best_word(texts: list[str], order: int, data: st.DataObject) -> None:
    lm = NgramLM.train(texts, order=order)
    lex = Lexicon(WORDS)
    la = LookAhead(lm, lex)
    for _ in range(20):
        ctx = tuple(data.draw(st.lists(st.sampled_from(WORDS), max_size=3)))
        word = data.draw(st.sampled_from(WORDS))
        prefix = word[: data.draw(st.integers(0, len(word)))]
        exact = max(lm.logprob(w, ctx) for w in WORDS if w.startswith(prefix))
        bound = la.best(ctx, prefix)
        assert bound >= exact - 1e-9
        # Seen words are scored exactly, so a prefix that only one word has is exact.
        if sum(w.startswith(prefix) for w in WORDS) == 1:
            assert abs(bound - exact) < 1e-9


def test_prefix_outside_the_lexicon_scores_minus_infinity() -> None:
    la = LookAhead(NgramLM.train(["the cat"], order=2), Lexicon(["the", "cat"]))
    assert la.best(("the",), "x") == float("-inf")
    assert la.best(("the",), "") == max(la.best(("the",), "t"), la.best(("the",), "c"))


def _c_or_b_at() -> np.ndarray:
    """'b' slightly ahead of 'c' on the first frame, then a clear 'a', 't'."""
    rows = [{"b": 0.55, "c": 0.45}, {"a": 0.99}, {"t": 0.99}, {"_": 0.99}]
    out = np.full((len(rows), len(V)), 1e-6)
    for i, row in enumerate(rows):
        for sym, p in row.items():
            out[i, V.blank if sym == "_" else int(V.encode(sym)[0])] = p
    return np.log(out / out.sum(axis=1, keepdims=True))


def test_lookahead_keeps_the_likely_word_through_a_narrow_beam() -> None:
    lm = NgramLM.train(["cat"] * 50 + ["bat"], order=2)
    lex = Lexicon(["cat", "bat"])
    lp = _c_or_b_at()

    def best(beam: int, lookahead: bool) -> str:
        dec = BeamSearchDecoder(V, beam, lm=lm, lexicon=lex, alpha=1.0, beta=0.0, lookahead=lookahead)
        return dec.decode(lp).text

    # A wide beam lets the LM overrule the acoustics once the word is complete...
    assert best(8, lookahead=False) == "cat"
    # ...but a one-beam search without look-ahead has dropped "c" before the LM can speak.
    assert best(1, lookahead=False) == "bat"
    assert best(1, lookahead=True) == "cat"


def test_caches_stay_bounded_and_answers_do_not_change(monkeypatch) -> None:
    import rnnstream.asr.lm as lm_mod

    lm = NgramLM.train(["the cat sat on the mat", "then the car saw a cart"], order=3)
    reference = LookAhead(lm, Lexicon(WORDS))
    queries = [((a, b), prefix) for a in WORDS for b in WORDS for prefix in ("", "t", "th", "ca", "s", "o")]
    expected = {q: reference.best(*q) for q in queries}  # before the limit: unbounded caches
    monkeypatch.setattr(lm_mod, "CACHE_LIMIT", 4)
    small = LookAhead(lm, Lexicon(WORDS))
    for q in queries:
        assert small.best(*q) == expected[q]
        assert len(small._cache) <= 4 and len(small._followers) <= 4
