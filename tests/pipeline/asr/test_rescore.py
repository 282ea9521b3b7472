"""Exact CTC likelihoods and n-best rescoring of finals with several acoustic models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.asr.beam import BeamSearchDecoder
from rnnstream.asr.ctc import DEFAULT_VOCAB, Vocab, log_softmax
from rnnstream.asr.rescore import NbestRescorer, ctc_log_likelihood
from rnnstream.errors import RnnstreamError
from rnnstream.operators.asr_build import build_rescorer

SMALL = Vocab(symbols=("_", " ", "a", "b"))  # blank, space and two letters: every path can be listed


def _brute_force(logp: np.ndarray, texts: set[tuple[int, ...]]) -> float:
    """Sum over every frame-level path whose CTC collapse is one of ``texts``."""
    total = []
    for path in itertools.product(range(logp.shape[1]), repeat=logp.shape[0]):
        if tuple(SMALL.collapse(path).tolist()) in texts:
            total.append(sum(logp[t, k] for t, k in enumerate(path)))
    return float(np.logaddexp.reduce(total)) if total else -np.inf


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), frames=st.integers(1, 6),
       labels=st.lists(st.sampled_from([1, 2, 3]), min_size=0, max_size=4))
def test_forward_sum_equals_the_sum_over_every_alignment(seed, frames, labels):
    rng = np.random.default_rng(seed)
    logp = log_softmax(rng.standard_normal((frames, len(SMALL))) * 2, axis=1)
    sp = SMALL.space
    # With the space as edge label: the text alone, or with a space before and/or after it.
    core = tuple(labels)
    while core and sp in (core[0], core[-1]):
        core = core[1:] if core[0] == sp else core[:-1]
    variants = {core, (sp, *core), (*core, sp), (sp, *core, sp)} if core else {(), (sp,)}
    for edge, texts in ((None, {tuple(labels)}), (sp, variants)):
        got = ctc_log_likelihood(logp, [labels], SMALL.blank, edge)[0]
        want = _brute_force(logp, texts)
        if want == -np.inf:  # more labels than frames can hold
            assert got < -1e29
        else:
            assert got == pytest.approx(want, abs=1e-9)


def test_batched_sequences_score_as_they_do_alone():
    rng = np.random.default_rng(1)
    logp = log_softmax(rng.standard_normal((40, len(DEFAULT_VOCAB))), axis=1)
    seqs = [DEFAULT_VOCAB.encode(t).tolist() for t in ("hello world", "a", "", "see the bees")]
    together = ctc_log_likelihood(logp, seqs, DEFAULT_VOCAB.blank, DEFAULT_VOCAB.space)
    alone = [ctc_log_likelihood(logp, [s], DEFAULT_VOCAB.blank, DEFAULT_VOCAB.space)[0] for s in seqs]
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-9)


def test_long_sequences_stay_finite_and_match_torch():
    torch = pytest.importorskip("torch", reason="the cross-check uses torch's CTC loss (train extra)")
    rng = np.random.default_rng(2)
    logp = log_softmax(rng.standard_normal((300, len(DEFAULT_VOCAB))) * 3, axis=1)
    labels = DEFAULT_VOCAB.encode("the quick brown fox jumps over the lazy dog").tolist()
    ours = ctc_log_likelihood(logp, [labels], DEFAULT_VOCAB.blank, None)[0]
    ref = -torch.nn.functional.ctc_loss(torch.tensor(logp)[:, None, :], torch.tensor([labels]), torch.tensor([300]),
                                        torch.tensor([len(labels)]), blank=0, reduction="sum").item()
    assert np.isfinite(ours) and ours == pytest.approx(ref, rel=1e-9)


def _spell(vocab: Vocab, text: str, n: int, *, offset: int = 0, alt: dict[int, tuple[str, float]] | None = None,
           peak: float = -0.05) -> np.ndarray:
    """Frame posteriors spelling ``text`` one label every two frames from ``offset``; ``alt``
    gives a letter position a rival label and the rival's log-prob."""
    lp = np.full((n, len(vocab)), -12.0)
    lp[:, vocab.blank] = -0.01
    for i, ch in enumerate(text):
        f = offset + 2 * i
        lp[f, vocab.blank] = -4.0
        lp[f, vocab.encode(ch)[0]] = peak
        if alt and i in alt:
            rival, score = alt[i]
            lp[f, vocab.encode(rival)[0]] = score
    return log_softmax(lp, axis=1)


def test_a_confident_second_model_overrules_the_first_even_off_by_a_frame():
    words = ["the cat sat", "the cap sat"]
    dec = build_rescorer(words, DEFAULT_VOCAB, beam=8, blank_penalty=0.0)
    # Model A prefers "p" over "t" a little; model B hears "t" clearly, one frame later.
    a = _spell(DEFAULT_VOCAB, "the cap sat", 30, alt={6: ("t", -0.8)}, peak=-0.6)
    b = _spell(DEFAULT_VOCAB, "the cat sat", 30, offset=1, alt={6: ("p", -6.0)})
    assert dec.decode(a).text == "the cap sat"
    assert NbestRescorer(dec, (1.0, 0.0)).decode([a, b]).text == "the cap sat"
    both = NbestRescorer(dec, (0.5, 0.5)).decode([a, b])
    assert both.text == "the cat sat"
    # B's text is also in A's n-best, so the word timings are A's.
    assert [w.word for w in both.words] == ["the", "cat", "sat"] and both.words[1].start == pytest.approx(8 * 0.04)


def test_rescorer_rejects_bad_weights_and_a_wrong_number_of_models():
    dec = BeamSearchDecoder(DEFAULT_VOCAB, 4)
    for bad in ((), (0.0, 0.0), (-1.0, 2.0), (float("nan"), 1.0)):
        with pytest.raises(RnnstreamError, match="weights"):
            NbestRescorer(dec, bad)
    post = _spell(DEFAULT_VOCAB, "hi", 8)
    with pytest.raises(RnnstreamError, match="2 models"):
        NbestRescorer(dec, (0.7, 0.3)).decode([post])
    assert NbestRescorer(dec, (2.0, 2.0)).weights == (0.5, 0.5)
