"""Beam-decoded finals in the ASR operator: streaming, batching and per-utterance timing hold."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.asr.endpoint import EndpointConfig
from rnnstream.operators.asr import AsrOperator
from rnnstream.engine.session import load_session
from rnnstream.apps.transcribe import Transcriber
from rnnstream.operators.asr_build import build_rescorer

NO_ENDPOINT = EndpointConfig(trailing_silence=1000, no_speech_timeout=1000, max_utterance=1000)
SHORT = EndpointConfig(trailing_silence=0.1, no_speech_timeout=5, max_utterance=20)


@pytest.fixture(scope="module")
def session(asr_model):
    return load_session(asr_model, provider="cpu")


def beam_op(session, endpoint=NO_ENDPOINT, sentences=None):
    base = AsrOperator(session, endpoint=endpoint)
    dec = build_rescorer(sentences, base.vocab, beam=4, frame_shift=base.shift)
    return AsrOperator(session, endpoint=endpoint, rescore=dec)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), seconds=st.floats(0.1, 2.5))
def test_streamed_beam_finals_equal_whole_file_beam(signal, session, seed, seconds):
    tr = Transcriber(beam_op(session))
    x = signal(seed, seconds)
    finals = [e["text"] for e in tr.stream(x) if e["type"] == "final"]
    assert " ".join(finals) == tr.whole_text(x)


@settings(max_examples=10, deadline=None)
@given(seeds=st.lists(st.integers(0, 10**6), min_size=2, max_size=5))
def test_beam_finals_batched_equal_one_at_a_time(signal, session, interleave, seeds):
    signals = [signal(s, 0.8 + (s % 9) / 10) for s in seeds]
    alone = [[(e["type"], e["text"]) for e in Transcriber(beam_op(session, SHORT)).stream(x)] for x in signals]
    tr = Transcriber(beam_op(session, SHORT))
    got = [[(e["type"], e["text"]) for e in evs] for evs in interleave(tr, signals)]
    assert got == alone


def _posteriors(vocab, spelled: str, n: int, confusion: dict[str, str] | None = None) -> np.ndarray:
    """Label every other frame with ``spelled``; a confused letter gets the runner-up score."""
    lp = np.full((1, n, len(vocab)), -20.0)
    for i in range(n):
        ch = spelled[i // 2] if i % 2 == 0 and i // 2 < len(spelled) else None
        if ch is None:
            lp[0, i, vocab.blank] = 0.0
            continue
        lp[0, i, vocab.encode(ch)[0]] = -0.5
        if confusion and ch in confusion:
            lp[0, i, vocab.encode(confusion[ch])[0]] = -0.9
        else:
            lp[0, i, vocab.blank] = -3.0
    return lp


def test_lexicon_corrects_finals_and_word_times_follow_the_utterance(session):
    op = beam_op(session, SHORT, sentences=["hi yo", "yo hi"])
    state = op.init_state(1)
    # "hx": greedy reads x, but the lexicon only knows "hi" (i is the runner-up there).
    chunks = [_posteriors(op.vocab, "hx", 5, {"x": "i"}), _posteriors(op.vocab, "", 5),
              _posteriors(op.vocab, "", 5), _posteriors(op.vocab, "yo", 5)]
    outs = []
    for lp in chunks:
        out, new = op._decode(lp, state, {})
        state = {**state, **new}
        outs.append(out)
    assert outs[0]["text"][0] == "hx"  # partials stay greedy
    finals = [(o["text"][0], o["words"][0]) for o in outs if o["final"][0]]
    assert [f[0] for f in finals] == ["hi"]
    closing = op.finish(state)
    assert closing["final"][0] and closing["text"][0] == "yo"
    (word,) = closing["words"][0]
    assert word["word"] == "yo" and word["start"] == pytest.approx(15 * op.shift)


def test_posterior_slab_is_only_kept_when_rescoring(session):
    plain = AsrOperator(session)
    beam = beam_op(session, EndpointConfig(max_utterance=4.0))
    assert "post" not in {e.name for e in plain.spec.extras}
    (post,) = [e for e in beam.spec.extras if e.name == "post"]
    assert post.shape == (beam.max_frames, len(beam.vocab)) and beam.max_frames >= 4.0 / beam.shift
