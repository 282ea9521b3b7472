"""The microphone as a :class:`~rnnstream.connectors.base.Source`: one live audio stream, keyed,
as records of ``chunk_ms`` of 16 kHz mono audio each (``type: microphone`` in a config).

Capture itself (PortAudio, the lock-free ring, resampling) is :mod:`.audio_input`. This
module cuts the samples into chunk records with audio-time timestamps. Asked to finish
(the pipeline is stopping) or at ``max_seconds``, it sends the last partial chunk
zero-padded and an END record, so an utterance in progress comes out as a final.

>>> import numpy as np
>>> chunks, rest = cut(np.arange(5, dtype=np.float32), 2)
>>> chunks.tolist(), rest.tolist()
([[0.0, 1.0], [2.0, 3.0]], [4.0])
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from prometheus_client import CollectorRegistry

from rnnstream.config import MicrophoneSourceConfig
from rnnstream.connectors.audio_input import TARGET_RATE, MicrophoneCapture
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import DATA, END, RecordBatch
from rnnstream.errors import ConfigError
from rnnstream.metrics import get_metrics

__all__ = ["MicrophoneSource", "make_source", "cut"]

log = logging.getLogger(__name__)


def cut(samples: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole chunks of ``n`` samples ``[C, n]``, and the remainder."""
    whole = samples.size // n
    return samples[: whole * n].reshape(whole, n), samples[whole * n :]


class MicrophoneSource:
    """Live audio from one input device; ``capture`` builds the :class:`MicrophoneCapture` (tests)."""

    def __init__(self, cfg: MicrophoneSourceConfig, keys: KeyTable, *, width: int,
                 registry: CollectorRegistry | None = None,
                 capture: Callable[[], MicrophoneCapture] | None = None) -> None:
        n = int(round(cfg.chunk_ms * TARGET_RATE / 1000))
        if n != width:
            raise ConfigError(f"sources.{cfg.name}.chunk_ms: {cfg.chunk_ms:g} ms is {n} samples, but the operators "
                              f"take {width} per record (set the same chunk_ms on both)")
        self.name = cfg.name
        self.cfg = cfg
        self.keys = keys
        self.n = n
        self.metrics = get_metrics(registry)
        self._make = capture or self._open
        self._capture: MicrophoneCapture | None = None
        self._pending = np.empty(0, np.float32)
        self._sent = 0  # chunks handed out
        self._limit = None if cfg.max_seconds is None else int(np.ceil(cfg.max_seconds * TARGET_RATE / n))
        self._finishing = False
        self._ended = False

    def _open(self) -> MicrophoneCapture:
        c = self.cfg
        return MicrophoneCapture(c.device, capture_rate=c.capture_rate, channels=c.channels, buffer_s=c.buffer_s,
                                 latency=c.latency, metrics=self.metrics)

    @property
    def capture(self) -> MicrophoneCapture | None:
        return self._capture

    def poll(self, timeout_s: float) -> RecordBatch | None:
        if self._ended:
            return None
        if self._capture is None:
            self._capture = self._make()
            self._capture.start()
            log.info("source %s listening on %s as stream %r", self.name, self._capture.device.name, self.cfg.key)
        if self._finishing:
            samples = self._capture.stop()
        else:
            self._capture.wait(timeout_s)
            samples = self._capture.read()
        chunks, self._pending = cut(np.concatenate([self._pending, samples]), self.n)
        if self._limit is not None and self._sent + len(chunks) >= self._limit:
            chunks, self._finishing, self._pending = chunks[: self._limit - self._sent], True, self._pending[:0]
        if self._finishing:
            return self._last(chunks)
        return self._batch(chunks, end=False) if len(chunks) else None

    def _last(self, chunks: np.ndarray) -> RecordBatch:
        if self._pending.size:  # the tail, zero-padded to a whole chunk
            tail = np.zeros((1, self.n), np.float32)
            tail[0, : self._pending.size] = self._pending
            chunks, self._pending = np.concatenate([chunks, tail]), self._pending[:0]
        self._ended = True
        return self._batch(chunks, end=True)

    def _batch(self, chunks: np.ndarray, *, end: bool) -> RecordBatch:
        rows = len(chunks) + int(end)
        values = np.zeros((rows, self.n), np.float32)
        values[: len(chunks)] = chunks
        kind = np.full(rows, DATA, np.int8)
        if end:
            kind[-1] = END
        ts = (self._sent + np.minimum(np.arange(rows), max(0, len(chunks) - 1))) * (self.n / TARGET_RATE)
        self._sent += len(chunks)
        key = self.keys.intern(self.cfg.key)
        return RecordBatch.data(np.full(rows, key, np.int64), ts, values, kind=kind, source=self.name,
                                position=self.position())

    @property
    def exhausted(self) -> bool:
        return self._ended

    def finish(self) -> None:
        """End the stream at the next poll: the captured tail and an END record, then exhausted."""
        self._finishing = True

    def position(self) -> dict:
        """Chunks handed out; live audio cannot be replayed, so a restart resumes with new audio."""
        return {"chunks": self._sent}

    def seek(self, position: dict) -> None:
        self._sent = int(position.get("chunks", 0))

    def commit(self, position: dict) -> None:
        """Nothing upstream to acknowledge."""

    def close(self) -> None:
        if self._capture is not None:
            self._capture.close()


def make_source(cfg: MicrophoneSourceConfig, keys: KeyTable, *, width: int,
                registry: CollectorRegistry | None = None) -> MicrophoneSource:
    return MicrophoneSource(cfg, keys, width=width, registry=registry)
