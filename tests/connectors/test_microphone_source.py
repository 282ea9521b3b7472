"""MicrophoneSource, the pipeline Source over a capture: chunking, audio-time stamps, the stream's
end (at max_seconds or when the pipeline stops), and through a Pipeline the same transcript as
the file path. A scripted capture stands in for PortAudio here; test_microphone.py runs the
real device path with ``rnnstream run``."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from rnnstream.apps.transcribe import Transcriber
from rnnstream.config import MicrophoneSourceConfig, parse_config
from rnnstream.connectors.memory import MemoryDeadLetters, MemorySink
from rnnstream.connectors.microphone import MicrophoneSource
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import DATA, END
from rnnstream.engine.session import load_session
from rnnstream.errors import ConfigError
from rnnstream.operators.asr import AsrOperator
from rnnstream.runtime.loop import Pipeline


class ScriptedCapture:
    """Delivers a signal in uneven blocks, as a capture's read() does, then its tail at stop()."""

    def __init__(self, signal: np.ndarray, block: int = 700) -> None:
        self.signal, self.block, self.pos = signal, block, 0
        self.started = self.closed = False
        self.device = SimpleNamespace(name="scripted")

    def start(self) -> None:
        self.started = True

    def wait(self, timeout: float) -> bool:
        return self.pos < self.signal.size

    def read(self) -> np.ndarray:
        out = self.signal[self.pos : self.pos + self.block]
        self.pos += out.size
        return out

    def stop(self) -> np.ndarray:
        out = self.signal[self.pos :]
        self.pos = self.signal.size
        return out

    def close(self) -> None:
        self.closed = True


def source(signal, *, max_seconds=None, chunk_ms=100.0, keys=None):
    cfg = MicrophoneSourceConfig(type="microphone", key="kitchen", chunk_ms=chunk_ms, max_seconds=max_seconds)
    cap = ScriptedCapture(signal)
    return MicrophoneSource(cfg, keys if keys is not None else KeyTable(), width=int(chunk_ms * 16), capture=lambda: cap), cap


def drain(src, *, finish_after: int | None = None):
    batches, polls = [], 0
    while not src.exhausted and polls < 1000:
        if finish_after is not None and polls == finish_after:
            src.finish()
        b = src.poll(0.0)
        polls += 1
        if b is not None:
            batches.append(b)
    return batches


def test_chunks_carry_audio_time_and_the_stream_ends_at_max_seconds():
    rng = np.random.default_rng(0)
    sig = rng.uniform(-0.5, 0.5, 16000 * 3).astype(np.float32)
    src, cap = source(sig, max_seconds=1.0)
    batches = drain(src)
    kind = np.concatenate([b.kind for b in batches])
    values = np.concatenate([b.values for b in batches])
    ts = np.concatenate([b.ts for b in batches])
    assert (kind == DATA).sum() == 10 and kind[-1] == END and (kind == END).sum() == 1
    np.testing.assert_array_equal(values[kind == DATA].reshape(-1), sig[:16000])
    np.testing.assert_allclose(ts[kind == DATA], np.arange(10) * 0.1)
    assert src.position() == {"chunks": 10} and src.exhausted
    src.close()
    assert cap.closed


def test_finish_sends_the_tail_zero_padded_then_the_end():
    sig = np.linspace(-1, 1, 2500, dtype=np.float32)
    src, _ = source(sig)
    batches = drain(src, finish_after=2)  # two reads of 700 samples, then stop() hands the rest
    kind = np.concatenate([b.kind for b in batches])
    values = np.concatenate([b.values for b in batches])
    data = values[kind == DATA].reshape(-1)
    assert kind[-1] == END and data.size == 3200  # one whole chunk, and the 900-sample tail padded
    np.testing.assert_array_equal(data[: sig.size], sig)
    assert not data[sig.size :].any()
    sig2 = np.linspace(-1, 1, 1000, dtype=np.float32)
    src2, _ = source(sig2)
    b = drain(src2, finish_after=0)
    vals = np.concatenate([x.values for x in b])
    np.testing.assert_array_equal(vals[0, :1000], sig2)
    assert not vals[0, 1000:].any()  # zero padding


def test_chunk_length_must_match_the_operators():
    cfg = MicrophoneSourceConfig(type="microphone", chunk_ms=200.0)
    with pytest.raises(ConfigError, match=r"sources\.mic\.chunk_ms"):
        MicrophoneSource(cfg, KeyTable(), width=1600)


def test_a_config_with_a_microphone_and_asr_validates():
    cfg = parse_config({"sources": [{"type": "microphone", "key": "kitchen", "device": "mic16", "chunk_ms": 100}],
                        "operators": [{"type": "asr", "name": "asr", "model": "builtin:asr", "chunk_ms": 100}]})
    assert cfg.sources[0].key == "kitchen" and cfg.sources[0].latency == "high"
    with pytest.raises(ConfigError, match=r"sources\.0\.microphone\.channels"):
        parse_config({"sources": [{"type": "microphone", "channels": 0}]})


def test_through_a_pipeline_the_microphone_gives_the_file_transcript(asr_model):
    """The pipeline stops (as on Ctrl-C) with audio still buffered: the source ends the stream, and
    the transcript equals streaming the same (padded) signal the file way."""
    rng = np.random.default_rng(3)
    sig = (0.3 * np.sin(np.linspace(0, 900, 16000 * 2)) + 0.05 * rng.standard_normal(16000 * 2)).astype(np.float32)
    op = AsrOperator(load_session(asr_model, provider="cpu"))
    keys = KeyTable()
    src, _ = source(sig, keys=keys)
    sink = MemorySink()
    pipe = Pipeline(sources=[src], operators=[op], sinks=[sink], keys=keys, dead_letters=MemoryDeadLetters())
    stop = threading.Event()
    stop.set()  # stop at once: everything must still come out through finish()
    pipe.run(stop)
    rows = [(str(b.keys[i]), bool(b.fields["asr"]["final"][i]), b.fields["asr"]["text"][i])
            for b in sink.take() for i in range(len(b))]
    assert {k for k, _, _ in rows} == {"kitchen"}
    finals = [t for _, f, t in rows if f]
    reference = [e["text"] for e in Transcriber(AsrOperator(load_session(asr_model, provider="cpu"))).stream(sig)
                 if e["type"] == "final"]
    assert finals == reference and finals
