"""A companion model in the ASR operator: it keeps its own per-key state, its posteriors reach
every final, and streaming, batching and errors behave as with one model."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.asr.ctc import log_softmax
from rnnstream.asr.endpoint import EndpointConfig
from rnnstream.asr.rescore import NbestRescorer
from rnnstream.errors import ConfigError, ModelError
from rnnstream.operators.asr import COMPANION_PREFIX, AsrOperator
from rnnstream.engine.session import load_session
from rnnstream.apps.transcribe import Transcriber
from rnnstream.operators.asr_build import asr_operator, build_rescorer

NO_ENDPOINT = EndpointConfig(trailing_silence=1000, no_speech_timeout=1000, max_utterance=1000)
SHORT = EndpointConfig(trailing_silence=0.1, no_speech_timeout=5, max_utterance=20)
LM = ["open the door", "close the window please", "the door is open", "a dog"]


@pytest.fixture(scope="module")
def main_session(asr_model):
    return load_session(asr_model, provider="cpu")


@pytest.fixture(scope="module")
def companion(asr_companion_model):
    return load_session(asr_companion_model, provider="cpu")


def pair_op(main_session, companion, endpoint=NO_ENDPOINT, weight=0.3):
    return asr_operator(main_session, endpoint=endpoint, beam=4, lm_sentences=LM, blank_penalty=0.0,
                        companion=companion, companion_weight=weight)


def test_companion_state_and_posteriors_are_per_key_extras(main_session, companion):
    op = pair_op(main_session, companion)
    names = {e.name for e in op.spec.extras}
    assert {COMPANION_PREFIX + t.name for t in companion.state_spec.tensors} <= names
    assert {"post", "companion_post"} <= names
    # The companion's state never shadows the main model's own tensors.
    assert {t.name for t in op.spec.tensors} == {t.name for t in main_session.state_spec.tensors}


def test_streamed_finals_use_both_models(signal, main_session, companion):
    # Without an LM and with the companion's weight high, its posteriors decide the text.
    def op(weight):
        return asr_operator(main_session, endpoint=NO_ENDPOINT, beam=4, companion=companion, companion_weight=weight)

    x = signal(3, 1.6)
    tr = Transcriber(op(0.9))
    streamed = " ".join(e["text"] for e in tr.stream(x) if e["type"] == "final")
    padded = tr._padded(x)
    posts = []
    for sess, fe in ((main_session, tr.op.frontend), (companion, tr.op.companion_frontend)):
        out, _ = sess.run(fe.whole(padded)[None], sess.zero_state(1))
        posts.append(log_softmax(out["y"][0].astype(np.float64)).astype(np.float16).astype(np.float64))
    dec = build_rescorer(None, tr.op.vocab, beam=4, frame_shift=tr.op.shift)
    assert streamed == NbestRescorer(dec, (0.1, 0.9)).decode(posts).text == tr.whole_text(x)
    assert streamed != Transcriber(op(0.0)).whole_text(x)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), seconds=st.floats(0.1, 2.5))
def test_streamed_pair_finals_equal_whole_file(signal, main_session, companion, seed, seconds):
    tr = Transcriber(pair_op(main_session, companion))
    x = signal(seed, seconds)
    finals = [e["text"] for e in tr.stream(x) if e["type"] == "final"]
    assert " ".join(finals) == tr.whole_text(x)


@settings(max_examples=8, deadline=None)
@given(seeds=st.lists(st.integers(0, 10**6), min_size=2, max_size=4))
def test_pair_finals_batched_equal_one_at_a_time(signal, main_session, companion, interleave, seeds):
    signals = [signal(s, 0.8 + (s % 9) / 10) for s in seeds]
    alone = [[(e["type"], e["text"]) for e in Transcriber(pair_op(main_session, companion, SHORT)).stream(x)]
             for x in signals]
    tr = Transcriber(pair_op(main_session, companion, SHORT))
    got = [[(e["type"], e["text"]) for e in evs] for evs in interleave(tr, signals)]
    assert got == alone


def test_companion_mismatches_are_one_clear_error(main_session, companion, model_factory):
    with pytest.raises(ConfigError, match="companion: needs beam-decoded finals"):
        asr_operator(main_session, companion=companion)
    with pytest.raises(ConfigError, match="companion: needs beam-decoded finals"):
        AsrOperator(main_session, companion=companion)
    with pytest.raises(ConfigError, match="companion_weight"):
        pair_op(main_session, companion, weight=1.0)
    _, generic = model_factory(cell="gru", layers=1, input_size=160, hidden=8, output_size=29, seed=4)
    with pytest.raises(ModelError, match="companion: .* not an ASR model"):
        pair_op(main_session, load_session(generic, provider="cpu"))
    feats = {**main_session.manifest.features, "stack": 4}
    _, other = model_factory(cell="gru", layers=1, input_size=320, hidden=8, output_size=29, seed=4, task="asr",
                             features=feats)
    with pytest.raises(ModelError, match="companion: .* other log-mel frames"):
        pair_op(main_session, load_session(other, provider="cpu"))
