"""``rnnstream transcribe --mic``: live transcription of a microphone, in a terminal view,
as JSON lines, and optionally published to Kafka.

Ctrl-C or SIGTERM stops capturing and ends the stream, so the utterance in progress comes
out as a final before the process exits (a second Ctrl-C exits at once). ``--json`` prints
the same objects as file transcription; the run's summary (audio seconds, overflows,
latency percentiles) goes to the log on stderr as ``mic summary {...}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import queue
import signal
import sys
import threading
import time
from pathlib import Path

from rnnstream.errors import ConfigError

__all__ = ["transcribe_mic", "open_source", "TranscriptPublisher", "install_stop_handlers", "event_row", "warm_up"]

log = logging.getLogger(__name__)

JSON_KEYS = ("type", "text", "start", "end")


def install_stop_handlers(stop: threading.Event):
    """SIGINT/SIGTERM set ``stop``; a second SIGINT raises KeyboardInterrupt. Returns a restore function."""
    def handler(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in old.items()]


def open_source(args: argparse.Namespace, metrics=None):
    """A started MicrophoneCapture from the CLI flags (``--device``, ``--capture-rate``, ``--channels``)."""
    from rnnstream.connectors.audio_input import MicrophoneCapture

    src = MicrophoneCapture(args.device, capture_rate=getattr(args, "capture_rate", None),
                           channels=getattr(args, "channels", None), buffer_s=getattr(args, "buffer_s", 20.0),
                           latency=getattr(args, "latency", "high"), metrics=metrics)
    src.start()
    return src


def event_row(key: str, ev: dict) -> dict:
    """The JSON row published per transcript event (words only on finals)."""
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


def _publisher(args: argparse.Namespace):
    if not args.kafka_topic:
        return None
    from rnnstream.cli.audio import quiet_kafka_client
    from rnnstream.connectors.kafka_client import load_backend

    quiet_kafka_client()
    servers = [s.strip() for s in args.bootstrap_servers.split(",") if s.strip()]
    producer = load_backend("kafka-python").producer(servers, {})
    return TranscriptPublisher(producer, args.kafka_topic, getattr(args, "stream_key", None) or "mic")


def warm_up(op) -> None:
    """One throwaway chunk through the session, so its first-call set-up is not charged to live audio."""
    import numpy as np

    from rnnstream.apps.transcribe import Transcriber

    Transcriber(op).push(np.array([0]), np.zeros((1, op.chunk), np.float32))


def transcribe_mic(args: argparse.Namespace) -> int:
    from rnnstream.metrics import get_metrics
    from rnnstream.apps.live import LiveTranscription
    from rnnstream.apps.transcribe import Transcriber, load_asr

    if args.wav:
        raise ConfigError("transcribe: give either a WAV file or --mic, not both")
    if args.max_seconds is not None and args.max_seconds <= 0:
        raise ConfigError(f"--max-seconds must be positive, got {args.max_seconds}")
    metrics = get_metrics()
    from rnnstream.cli.asr import decoder_options

    op = load_asr(args.model, provider=args.provider, chunk_ms=args.chunk_ms, **decoder_options(args))
    warm_up(op)
    tr = Transcriber(op)
    record = getattr(args, "record", None)
    publisher = _publisher(args)
    stop = threading.Event()
    restore = install_stop_handlers(stop)
    src = None
    try:
        src = open_source(args, metrics)
        live = LiveTranscription(src, tr, record=record is not None, metrics=metrics)
        desc = (f"{src.device.name} (#{src.device.index}) at {src.capture_rate} Hz x {src.channels}"
                + (" -> 16000 Hz" if src.capture_rate != 16000 else ""))
        log.info("listening on %s", desc)
        if args.json:
            _loop_json(live, args, stop, publisher)
        else:
            _loop_view(live, args, stop, publisher, desc)
    finally:
        restore()
        if src is not None:
            src.close()
        if publisher is not None:
            publisher.close()
    if record is not None:
        from rnnstream.asr.wav import write_wav

        write_wav(Path(record), live.recorded(), 16000)
    _summary(live)
    return 0


def _run(live, args, stop: threading.Event, on_result) -> None:
    limit = args.max_seconds
    while not stop.is_set() and (limit is None or live.seconds < limit):
        for r in live.step(0.1):
            on_result(r)
    for r in live.finish():
        on_result(r)


def _loop_json(live, args, stop, publisher) -> None:
    def on_result(r) -> None:
        for ev in r.events:
            if publisher is not None:
                publisher.publish(ev)
            if ev["type"] == "partial" and not args.partials:
                continue
            print(json.dumps({k: ev[k] for k in JSON_KEYS}), flush=True)

    _run(live, args, stop, on_result)


def _loop_view(live, args, stop, publisher, desc: str) -> None:
    from rnnstream.apps.view import LiveView

    with LiveView(live, desc, partials=args.partials) as view:
        def on_result(r) -> None:
            if publisher is not None:
                for ev in r.events:
                    publisher.publish(ev)
            view.update(r)

        _run(live, args, stop, on_result)


def _summary(live) -> None:
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
    log.info("mic summary %s", json.dumps(s))
    if not sys.stderr.isatty():
        sys.stderr.flush()
