"""The ASR operator: streaming equals whole-file decoding, batching equals single streams."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnstream.asr.endpoint import EndpointConfig
from rnnstream.errors import ConfigError
from rnnstream.engine.session import load_session
from rnnstream.operators.asr import AsrOperator
from rnnstream.apps.transcribe import Transcriber

NO_ENDPOINT = EndpointConfig(trailing_silence=1000, no_speech_timeout=1000, max_utterance=1000)


@pytest.fixture(scope="module")
def session(asr_model):
    return load_session(asr_model, provider="cpu")


@given(seed=st.integers(0, 10**6), seconds=st.floats(0.05, 3.0))
def test_streamed_transcript_equals_whole_file(signal, session, seed, seconds):
    tr = Transcriber(AsrOperator(session, endpoint=NO_ENDPOINT))
    x = signal(seed, seconds)
    events = list(tr.stream(x))
    finals = [e for e in events if e["type"] == "final"]
    whole = tr.whole_text(x)
    assert " ".join(e["text"] for e in finals) == whole
    assert len(finals) == (1 if whole else 0)
    partials = [e["text"] for e in events if e["type"] == "partial"]
    assert len(set(partials)) == len(partials)  # a partial is only sent when the text changed


@given(seeds=st.lists(st.integers(0, 10**6), min_size=2, max_size=6))
def test_many_streams_batched_equal_one_at_a_time(signal, session, seeds):
    signals = [signal(s, 1.0 + (s % 7) / 10) for s in seeds]
    alone = [[e["text"] for e in Transcriber(AsrOperator(session, endpoint=NO_ENDPOINT)).stream(x)] for x in signals]
    tr = Transcriber(AsrOperator(session, endpoint=NO_ENDPOINT))
    n = tr.chunk
    length = max(len(x) for x in signals)
    total = -(-length // n)
    got: dict[int, list[str]] = {k: [] for k in range(len(signals))}
    for c in range(total):
        keys, chunks, ends = [], [], []
        for k, x in enumerate(signals):
            if c * n < len(x) or (c == 0):
                piece = np.zeros(n, np.float32)
                seg = x[c * n : (c + 1) * n]
                piece[: seg.size] = seg
                keys.append(k)
                chunks.append(piece)
                ends.append((c + 1) * n >= len(x))
        for k, ev in tr.push(np.array(keys), np.stack(chunks), end=np.array(ends)):
            got[k].append(ev["text"])
    assert [got[k] for k in range(len(signals))] == alone


def test_endpoint_closes_utterance_and_next_starts(session):
    op = AsrOperator(session, endpoint=EndpointConfig(trailing_silence=0.1, no_speech_timeout=5, max_utterance=20))
    state = op.init_state(1)
    vocab = op.vocab
    # Synthetic posteriors: "hi", then silence (blank), then "yo".
    def frames(text_or_blank, n):
        lp = np.full((1, n, len(vocab)), -20.0)
        ids = [vocab.encode(ch)[0] for ch in text_or_blank] if text_or_blank else []
        for i in range(n):
            lp[0, i, ids[i // 2] if i // 2 < len(ids) and i % 2 == 0 else vocab.blank] = 0.0
        return lp
    outs = []
    for lp in (frames("hi", 5), frames("", 5), frames("", 5), frames("yo", 5)):
        out, new = op._decode(lp, state, {})
        state = {**state, **new}
        outs.append(out)
    assert outs[0]["text"][0] == "hi" and not outs[0]["final"][0]
    finals = [o["text"][0] for o in outs if o["final"][0]]
    assert finals == ["hi"]
    assert outs[-1]["text"][0] == "yo"
    assert outs[-1]["start"][0] > 0


def test_chunk_must_be_whole_model_steps(session):
    with pytest.raises(ConfigError, match="multiple of 20 ms"):
        AsrOperator(session, chunk_ms=30)
