"""Transcription as an app: audio chunks in, partial and final transcript events out, through
the same :class:`~rnnstream.runtime.Pipeline` the daemon runs.

``Transcriber`` builds a pipeline of an in-memory source, the ASR operator and an in-memory
sink, and pushes one chunk per key per call; file transcription, ``transcribe --mic``,
``eval asr`` and the speech benchmarks all use it, so speech has one step path. Events are
dicts with ``type`` (``partial`` or ``final``), ``text``, ``start`` and ``end`` (seconds),
and ``words`` on finals. ``whole_text`` decodes a complete signal in one call per model:
the reference that streamed output must match.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry

from rnnstream.asr.endpoint import EndpointConfig
from rnnstream.connectors.memory import MemoryDeadLetters, MemorySink, MemorySource
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import DATA, END, OutputBatch, RecordBatch
from rnnstream.engine.scheduler import Scheduler
from rnnstream.engine.session import load_session
from rnnstream.operators.asr import AsrOperator
from rnnstream.operators.asr_build import asr_operator
from rnnstream.runtime.loop import OperatorSettings, Pipeline

__all__ = ["Transcriber", "load_asr", "DEFAULT_ASR_MODEL"]

DEFAULT_ASR_MODEL = "builtin:asr"


def load_asr(model: str | Path = DEFAULT_ASR_MODEL, *, provider: str = "auto", chunk_ms: float = 100.0,
             endpoint: EndpointConfig | None = None, companion: str | Path | None = None,
             general_lm: str | None = "builtin:lm-en", **decoding) -> AsrOperator:
    """The ASR operator for ``model`` (and ``companion``, e.g. ``builtin:asr-companion``), with
    the same default finals as the CLI and configs (``general_lm=None``: greedy finals);
    ``decoding`` is passed to :func:`~rnnstream.operators.asr_build.asr_operator`."""
    from rnnstream.runtime.build import load_general_lm, resolve_model

    session = load_session(resolve_model(str(model)), provider=provider)
    second = None if companion is None else load_session(resolve_model(str(companion)), provider=provider)
    lm = None if general_lm is None else load_general_lm(general_lm)
    return asr_operator(session, chunk_ms=chunk_ms, endpoint=endpoint, companion=second, general_lm=lm, **decoding)


class Transcriber:
    """Streams for many keys at once; keys are small ints chosen by the caller.

    ``registry`` receives the pipeline's metrics (a private registry when None).
    """

    def __init__(self, op: AsrOperator, *, max_batch: int = 1024, registry: CollectorRegistry | None = None) -> None:
        self.op = op
        self.chunk = op.chunk
        self.keys = KeyTable()
        self.source = MemorySource("audio")
        self.sink = MemorySink("transcripts")
        self.pipeline = Pipeline(
            sources=[self.source], operators=[op], sinks=[self.sink], keys=self.keys,
            dead_letters=MemoryDeadLetters(), settings={op.name: OperatorSettings(max_batch=max_batch)},
            registry=registry if registry is not None else CollectorRegistry(),
        )
        self._last: dict[int, str] = {}

    @property
    def scheduler(self) -> Scheduler:
        return self.pipeline.schedulers[self.op.name]

    def push(self, key_ids: np.ndarray, chunks: np.ndarray, *, end: np.ndarray | None = None) -> list[tuple[int, dict]]:
        """One chunk per key (``chunks [B, chunk]``); ``end`` marks keys whose stream ends after it.

        Returns ``(key, event)`` pairs: a ``partial`` when a key's text changed, a ``final``
        when an utterance closed.
        """
        key_ids = np.asarray(key_ids, dtype=np.int64)
        kind = np.full(key_ids.size, DATA, np.int8)
        if end is not None and end.any():
            key_ids = np.concatenate([key_ids, key_ids[end]])
            chunks = np.concatenate([chunks, np.zeros((int(end.sum()), chunks.shape[1]), chunks.dtype)])
            kind = np.concatenate([kind, np.full(int(end.sum()), END, np.int8)])
        ids = self.keys.intern_many(key_ids.astype(str))
        self.source.push(RecordBatch.data(ids, np.zeros(ids.size), chunks.astype(np.float32), kind=kind))
        self.pipeline.step()
        return [ev for out in self.sink.take() for ev in self._events(out)]

    def _events(self, out: OutputBatch) -> list[tuple[int, dict]]:
        fields = out.fields[self.op.name]
        kind = out.kind if out.kind is not None else np.zeros(len(out), np.int8)
        events = []
        for i in range(len(out)):
            k = int(out.keys[i])
            text = fields["text"][i]
            ev = {"text": text, "start": round(float(fields["start"][i]), 3), "end": round(float(fields["end"][i]), 3)}
            if fields["final"][i]:
                events.append((k, {"type": "final", **ev, "words": fields["words"][i]}))
                self._last[k] = ""
            elif text != self._last.get(k, "") and kind[i] == DATA:
                events.append((k, {"type": "partial", **ev}))
                self._last[k] = text
        return events

    def _padded(self, signal: np.ndarray) -> np.ndarray:
        """The signal zero-padded to a whole number of chunks (at least one)."""
        out = np.zeros(max(1, -(-signal.size // self.chunk)) * self.chunk, np.float32)
        out[: signal.size] = signal
        return out

    def stream(self, signal: np.ndarray, key: int = 0) -> Iterator[dict]:
        """Transcribe one whole signal chunk by chunk (the last chunk zero-padded)."""
        n = self.chunk
        padded = self._padded(signal)
        total = padded.size // n
        for c in range(total):
            last = c == total - 1
            for _, ev in self.push(np.array([key]), padded[None, c * n : (c + 1) * n], end=np.array([last])):
                yield ev

    def whole_text(self, signal: np.ndarray) -> str:
        """The finals of the whole signal from one model call per model (see
        :meth:`AsrOperator.whole_text`), joined: what streaming it must give."""
        return self.op.whole_text(self._padded(signal))

    def close(self) -> None:
        self.pipeline.close()
