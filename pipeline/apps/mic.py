"""Live microphone apps: transcription (to the terminal, JSON lines and Kafka) and sending the
microphone to a Kafka audio topic.

Each takes an open :class:`~rnnstream.connectors.audio_input.MicrophoneCapture` and a
``threading.Event`` that ends it: :func:`install_stop_handlers` sets it on Ctrl-C or
SIGTERM, so the utterance in progress comes out as a final (and the last partial audio
chunk is sent) before the process exits; a second Ctrl-C exits at once.

Audio goes to Kafka in the audio wire format: fixed-size 16 kHz chunks keyed by the stream
id, with headers ``content-type: audio/pcm; format=s16le`` (or ``f32le``),
``sample-rate: 16000`` and ``seq``.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import signal
import threading
import time
from collections.abc import Callable

import numpy as np

from rnnstream.apps.live import ChunkResult, LiveTranscription

__all__ = ["install_stop_handlers", "event_row", "TranscriptPublisher", "warm_up", "transcribe_live",
           "mic_summary", "audio_message", "send_audio", "describe_capture", "JSON_KEYS"]

log = logging.getLogger(__name__)

JSON_KEYS = ("type", "text", "start", "end")


def install_stop_handlers(stop: threading.Event) -> Callable[[], object]:
    """SIGINT/SIGTERM set ``stop``; a second SIGINT raises KeyboardInterrupt. Returns a restore function."""
    def handler(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in old.items()]


def event_row(key: str, ev: dict) -> dict:
    """The JSON row published per transcript event (words only on finals).

    >>> row = event_row("mic", {"type": "final", "text": "hi", "start": 0.0, "end": 0.5, "words": []})
    >>> sorted(row)
    ['end', 'key', 'start', 'text', 'ts', 'type', 'words']
    """
    row = {"key": key, "ts": round(time.time(), 3), **{k: ev[k] for k in JSON_KEYS}}
    if ev["type"] == "final":
        row["words"] = ev.get("words") or []
    return row


class TranscriptPublisher:
    """Sends transcript rows to Kafka from its own thread, so a slow or absent broker never
    stalls the audio loop; rows beyond ``max_queue`` are dropped and counted."""

    def __init__(self, producer, topic: str, key: str, *, max_queue: int = 10000) -> None:
        self.producer = producer
        self.topic = topic
        self.key = key
        self.dropped = 0
        self.sent = 0
        self.error: Exception | None = None
        self._q: queue.Queue = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="transcript-publisher", daemon=True)
        self._thread.start()

    def publish(self, ev: dict) -> None:
        try:
            self._q.put_nowait(event_row(self.key, ev))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        from rnnstream.connectors.kafka_wire import CONTENT_TYPE, JSON_TYPE, SEQ

        while True:
            row = self._q.get()
            if row is None:
                return
            try:
                headers = [(CONTENT_TYPE, JSON_TYPE.encode()), (SEQ, b"%d" % self.sent)]
                self.producer.send(self.topic, self.key.encode(), json.dumps(row).encode(), headers)
                self.sent += 1
            except Exception as exc:  # noqa: BLE001 - reported at close; the loop keeps the audio going
                self.dropped += 1
                self.error = self.error or exc

    def close(self, timeout_s: float = 10.0) -> None:
        self._q.put(None)
        self._thread.join(timeout_s)
        try:
            self.producer.flush(timeout_s)
        finally:
            self.producer.close()
        if self.error is not None or self.dropped:
            log.warning("kafka: %d transcript rows not published (%s)", self.dropped, self.error)


def warm_up(op) -> None:
    """One throwaway chunk through the session, so its first-call set-up is not charged to live audio."""
    from rnnstream.apps.transcribe import Transcriber

    Transcriber(op).push(np.array([0]), np.zeros((1, op.chunk), np.float32))


def describe_capture(capture) -> str:
    """The device and format a capture listens on, for the log and the terminal view."""
    return (f"{capture.device.name} (#{capture.device.index}) at {capture.capture_rate} Hz x {capture.channels}"
            + (" -> 16000 Hz" if capture.capture_rate != 16000 else ""))


def _drive(live: LiveTranscription, stop: threading.Event, max_seconds: float | None,
           on_result: Callable[[ChunkResult], None]) -> None:
    while not stop.is_set() and (max_seconds is None or live.seconds < max_seconds):
        for r in live.step(0.1):
            on_result(r)
    for r in live.finish():
        on_result(r)


def transcribe_live(capture, transcriber, stop: threading.Event, *, json_lines: bool = False,
                    partials: bool = True, max_seconds: float | None = None,
                    publisher: TranscriptPublisher | None = None, record: bool = False,
                    metrics=None) -> LiveTranscription:
    """Transcribe ``capture`` until ``stop`` is set or ``max_seconds`` of audio have passed.

    Prints JSON lines (``json_lines``) or the terminal view; ``publisher`` receives every
    event, partials included. Returns the finished :class:`LiveTranscription` (its
    ``recorded()`` samples when ``record``).
    """
    live = LiveTranscription(capture, transcriber, record=record, metrics=metrics)
    desc = describe_capture(capture)
    log.info("listening on %s", desc)
    if json_lines:
        def print_json(r: ChunkResult) -> None:
            for ev in r.events:
                if publisher is not None:
                    publisher.publish(ev)
                if ev["type"] == "partial" and not partials:
                    continue
                print(json.dumps({k: ev[k] for k in JSON_KEYS}), flush=True)

        _drive(live, stop, max_seconds, print_json)
        return live
    from rnnstream.apps.view import LiveView

    with LiveView(live, desc, partials=partials) as view:
        def show(r: ChunkResult) -> None:
            if publisher is not None:
                for ev in r.events:
                    publisher.publish(ev)
            view.update(r)

        _drive(live, stop, max_seconds, show)
    return live


def mic_summary(live: LiveTranscription) -> dict:
    """Audio seconds, losses and latency percentiles of a run; a warning if audio was lost."""
    src = live.source
    delay = src.input_delay()
    s = {"seconds": round(live.seconds, 3), "overflows": src.overflows, "dropped_samples": src.ring.dropped,
         "device_overflows": src.device_overflows, "callback_errors": src.callback_errors,
         "capture_rate": src.capture_rate, "channels": src.channels,
         "input_delay_ms": round(delay * 1000, 2) if math.isfinite(delay) else None,
         **live.latency.summary()}
    if src.overflows or src.device_overflows:
        log.warning("audio was lost: %d blocks dropped by rnnstream (ring buffer full), %d overflows reported by "
                    "the device", src.overflows, src.device_overflows)
    return s


def audio_message(chunk: np.ndarray, key: str, seq: int, fmt: str = "s16le") -> tuple[bytes, bytes, list]:
    """(key, value, headers) of one audio chunk in the Kafka wire format.

    >>> k, v, h = audio_message(np.array([0.5, -1.0], np.float32), "mic", 7)
    >>> k, v, h[0][1], h[2]
    (b'mic', b'\\x00@\\x00\\x80', b'audio/pcm; format=s16le', ('seq', b'7'))
    """
    from rnnstream.connectors.kafka_wire import AUDIO_F32, AUDIO_S16, CONTENT_TYPE, SAMPLE_RATE, SEQ

    if fmt == "s16le":
        value, ctype = np.clip(np.round(chunk * 32768.0), -32768, 32767).astype("<i2").tobytes(), AUDIO_S16
    else:
        value, ctype = np.asarray(chunk, "<f4").tobytes(), AUDIO_F32
    headers = [(CONTENT_TYPE, ctype.encode()), (SAMPLE_RATE, b"16000"), (SEQ, b"%d" % seq)]
    return key.encode(), value, headers


def send_audio(capture, producer, topic: str, key: str, stop: threading.Event, *, chunk: int,
               fmt: str = "s16le", max_chunks: int | None = None) -> int:
    """Send ``capture`` to ``topic`` as ``chunk``-sample messages until ``stop`` (or ``max_chunks``).

    The last partial chunk goes out zero-padded, then the producer is flushed. Returns the
    number of chunks sent; the capture and the producer stay open.
    """
    pending = np.empty(0, np.float32)
    seq = 0
    next_report = time.monotonic() + 10.0

    def send(samples: np.ndarray) -> None:
        nonlocal pending, seq
        buf = np.concatenate([pending, samples])
        whole = buf.size // chunk
        for c in range(whole):
            producer.send(topic, *audio_message(buf[c * chunk : (c + 1) * chunk], key, seq, fmt))
            seq += 1
        pending = buf[whole * chunk :]

    while not stop.is_set() and (max_chunks is None or seq < max_chunks):
        capture.wait(0.1)
        send(capture.read())
        if time.monotonic() >= next_report:
            log.info("sent %d chunks (%.1f s); overflows %d, device overflows %d", seq, seq * chunk / 16000,
                     capture.overflows, capture.device_overflows)
            next_report += 10.0
    send(capture.stop())
    if pending.size:
        send(np.zeros(chunk - pending.size, np.float32))
    producer.flush(30.0)
    return seq

