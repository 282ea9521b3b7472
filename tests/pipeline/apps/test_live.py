"""LiveTranscription: whatever the block sizes the device delivers, the events are the file path's."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnstream.connectors.audio_input import InputDevice, MicrophoneCapture
from rnnstream.apps.live import LiveTranscription
from rnnstream.apps.transcribe import Transcriber, load_asr


class Scripted:
    """Stands in for sounddevice.InputStream; the test calls the callback itself."""

    def __init__(self, callback) -> None:
        self.callback = callback
        self.info = SimpleNamespace(inputBufferAdcTime=0.0, currentTime=0.0)
        self.flags = SimpleNamespace(input_overflow=False)

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def feed(self, block: np.ndarray) -> None:
        self.callback(block[:, None], block.size, self.info, self.flags)


def make_source(rate: int) -> tuple[MicrophoneCapture, list[Scripted]]:
    streams: list[Scripted] = []

    def factory(index, capture_rate, channels, blocksize, latency, callback):
        streams.append(Scripted(callback))
        return streams[-1]

    dev = [InputDevice(0, "scripted", "test", 1, float(rate), True)]
    src = MicrophoneCapture(None, capture_rate=rate, channels=1, stream_factory=factory, devices=dev, buffer_s=60)
    src.start(None)
    return src, streams


@pytest.fixture(scope="module")
def asr_op(asr_model):
    return load_asr(asr_model, provider="cpu", general_lm=None)


def speechy(n: int, seed: int) -> np.ndarray:
    """Noise bursts and silences: enough to make a random-weight model emit text."""
    rng = np.random.default_rng(seed)
    env = np.repeat(rng.random(n // 800 + 1) > 0.4, 800)[:n]
    return (0.3 * rng.standard_normal(n) * env).astype(np.float32)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(1, 24000), rate=st.sampled_from([16000, 48000]),
       blocks=st.lists(st.integers(37, 3000), min_size=1, max_size=8))
def test_events_equal_file_transcription_of_the_consumed_samples(asr_op, seed, n, rate, blocks):
    x = speechy(n * rate // 16000, seed)
    src, streams = make_source(rate)
    live = LiveTranscription(src, Transcriber(asr_op), record=True)
    got, pos, i = [], 0, 0
    while pos < x.size:
        size = blocks[i % len(blocks)]
        streams[0].feed(x[pos : pos + size])
        pos, i = pos + size, i + 1
        got += live.step(0.0)
    got += live.finish()
    events = [ev for r in got for ev in r.events]
    rec = live.recorded()
    assert rec.size % live.n == 0 and live.finished and got[-1].at_end
    assert src.delivered <= rec.size < src.delivered + live.n + 1
    assert events == list(Transcriber(asr_op).stream(rec))
    assert events and events[-1]["type"] == "final"
    if rate == 16000:  # no resampling: what was consumed is the input, rounded to 16 bits, then padding
        np.testing.assert_array_equal(rec[: x.size], np.clip(np.round(x * 32768), -32768, 32767) / 32768)
        assert not rec[x.size :].any()


def test_latency_is_measured_from_each_chunks_arrival(asr_op):
    src, streams = make_source(16000)
    live = LiveTranscription(src, Transcriber(asr_op))
    x = speechy(16000, 3)
    results = []
    for a in range(0, x.size, 320):
        streams[0].feed(x[a : a + 320])
        results += live.step(0.0)
    assert len(results) == 10 and all(np.isfinite(r.arrival) and 0 <= r.latency < 5 for r in results)
    assert [r.index for r in results] == list(range(10))
    assert len(live.latency.processing) == 10
    assert len(live.latency.partial) == sum(e["type"] == "partial" for r in results for e in r.events)
    end = live.finish()
    assert end[-1].at_end and np.isnan(end[-1].arrival)
    assert live.step(0.0) == [] and live.finish() == []
