"""The live loop: microphone samples -> fixed chunks -> the streaming recogniser.

:class:`LiveTranscription` cuts the 16 kHz stream from a
:class:`~rnnstream.connectors.audio_input.MicrophoneCapture` into the recogniser's chunk size
from its very first sample, exactly as file transcription cuts a WAV, and ends the stream
with one more zero-padded chunk marked ``end``. So the events it emits are the events
``rnnstream transcribe FILE`` gives for the samples it consumed (``recorded()``), which is
what the microphone tests check. Each chunk also reports its level and its latency: from
the moment its last sample reached the process to the moment its events were ready.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from rnnstream.apps.transcribe import Transcriber

__all__ = ["ChunkResult", "LiveTranscription", "LatencyLog"]

SILENT_DBFS = -75.0  # below this peak level a microphone is muted, unplugged or the wrong device


@dataclass
class ChunkResult:
    index: int  # chunk number from the stream's start
    arrival: float  # time.monotonic() when its last sample arrived (NaN if unknown)
    done: float  # time.monotonic() when its events were ready
    rms_dbfs: float
    peak_dbfs: float
    events: list[dict]
    at_end: bool = False  # the zero-padded closing chunk

    @property
    def latency(self) -> float:
        return self.done - self.arrival


@dataclass
class LatencyLog:
    """Seconds from chunk arrival to event, by event kind (endpoint finals only, not end-of-stream)."""

    partial: list[float] = field(default_factory=list)
    first_partial: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    speech_end_to_final: list[float] = field(default_factory=list)
    processing: list[float] = field(default_factory=list)  # recogniser time per chunk

    def summary(self) -> dict[str, float | int | None]:
        def pct(v: list[float], q: float):
            return round(float(np.percentile(v, q)) * 1000, 2) if v else None

        out: dict[str, float | int | None] = {}
        for name in ("partial", "first_partial", "final", "speech_end_to_final", "processing"):
            v = getattr(self, name)
            out[f"{name}_n"] = len(v)
            out[f"{name}_p50_ms"] = pct(v, 50)
            out[f"{name}_p99_ms"] = pct(v, 99)
        return out


def _dbfs(x: float) -> float:
    return 20.0 * float(np.log10(max(x, 1e-10)))


class LiveTranscription:
    """Drive ``transcriber`` (one stream, key ``key``) from a started ``source``."""

    def __init__(self, source, transcriber: Transcriber, *, key: int = 0, record: bool = False,
                 metrics=None) -> None:
        self.source = source
        self.tr = transcriber
        self.key = np.array([key])
        self.n = transcriber.chunk
        self.rate = 16000
        self.latency = LatencyLog()
        self.chunks = 0
        self.finished = False
        self._pending = np.empty(0, np.float32)
        self._record: list[np.ndarray] | None = [] if record else None
        self._in_utterance = False
        self._rtf = metrics.asr_rtf.labels("asr") if metrics is not None else None
        self.last_signal = time.monotonic()  # last time the input peaked above SILENT_DBFS

    @property
    def seconds(self) -> float:
        """Audio consumed so far."""
        return self.chunks * self.n / self.rate

    def step(self, timeout: float = 0.1) -> list[ChunkResult]:
        """Wait up to ``timeout`` for audio, then process every complete chunk."""
        if self.finished:
            return []
        self.source.wait(timeout)
        return self._feed(self.source.read())

    def finish(self) -> list[ChunkResult]:
        """Stop the source and end the stream: the open utterance becomes final.

        The leftover samples, zero-padded to one chunk (a chunk of zeros when nothing is
        left), go in last with ``end``, as the last chunk of a file does.
        """
        if self.finished:
            return []
        results = self._feed(self.source.stop())
        tail = np.zeros(self.n, np.float32)
        tail[: self._pending.size] = self._pending
        results.append(self._push(tail, end=True))
        self._pending = np.empty(0, np.float32)
        self.finished = True
        return results

    def recorded(self) -> np.ndarray:
        """Every sample fed to the recogniser, the closing chunk's padding included."""
        if not self._record:
            return np.empty(0, np.float32)
        return np.concatenate(self._record)

    # -- internals -------------------------------------------------------------------------
    def _feed(self, samples: np.ndarray) -> list[ChunkResult]:
        buf = np.concatenate([self._pending, samples]) if self._pending.size else samples
        whole = buf.size // self.n
        results = [self._push(buf[c * self.n : (c + 1) * self.n], end=False) for c in range(whole)]
        self._pending = buf[whole * self.n :]
        return results

    def _push(self, chunk: np.ndarray, *, end: bool) -> ChunkResult:
        index = self.chunks
        arrival = float("nan") if end else self.source.arrival_time((index + 1) * self.n - 1)
        t0 = time.monotonic()
        events = [ev for _, ev in self.tr.push(self.key, chunk[None, :], end=np.array([end]))]
        done = time.monotonic()
        self.chunks += 1
        if self._record is not None:
            self._record.append(chunk.copy())
        busy = done - t0
        self.latency.processing.append(busy)
        if self._rtf is not None:
            self._rtf.set(busy / (self.n / self.rate))
        peak = float(np.abs(chunk).max(initial=0.0))
        rms = float(np.sqrt(np.mean(np.square(chunk, dtype=np.float64))))
        if _dbfs(peak) > SILENT_DBFS:
            self.last_signal = done
        result = ChunkResult(index, arrival, done, _dbfs(rms), _dbfs(peak), events, at_end=end)
        self._log(result)
        return result

    def _log(self, r: ChunkResult) -> None:
        lat = r.latency
        for ev in r.events:
            if ev["type"] == "partial":
                if not r.at_end and np.isfinite(lat):
                    self.latency.partial.append(lat)
                    if not self._in_utterance:
                        self.latency.first_partial.append(lat)
                self._in_utterance = True
                continue
            self._in_utterance = False
            if r.at_end or not np.isfinite(lat):
                continue
            self.latency.final.append(lat)
            words = ev.get("words") or []
            speech_end = words[-1]["end"] if words else None
            if speech_end is not None:
                t = self.source.arrival_time(int(speech_end * self.rate) - 1)
                if np.isfinite(t):
                    self.latency.speech_end_to_final.append(r.done - t)
