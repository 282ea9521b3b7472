"""``rnnstream transcribe --mic``: the flags of live transcription, handed to :mod:`rnnstream.apps.mic`.

Ctrl-C or SIGTERM stops capturing and ends the stream, so the utterance in progress comes
out as a final before the process exits (a second Ctrl-C exits at once). ``--json`` prints
the same objects as file transcription; the run's summary (audio seconds, overflows,
latency percentiles) goes to the log on stderr as ``mic summary {...}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path

from rnnstream.cli.options import asr_config, build_asr, kafka_producer, open_capture
from rnnstream.errors import ConfigError

__all__ = ["transcribe_mic"]

log = logging.getLogger(__name__)


def _publisher(args: argparse.Namespace):
    if not args.kafka_topic:
        return None
    from rnnstream.apps.mic import TranscriptPublisher

    return TranscriptPublisher(kafka_producer(args), args.kafka_topic, args.stream_key)


def transcribe_mic(args: argparse.Namespace) -> int:
    from rnnstream.apps.mic import install_stop_handlers, mic_summary, transcribe_live, warm_up
    from rnnstream.apps.transcribe import Transcriber
    from rnnstream.metrics import get_metrics

    if args.wav:
        raise ConfigError("transcribe: give either an audio file or --mic, not both")
    if args.max_seconds is not None and args.max_seconds <= 0:
        raise ConfigError(f"--max-seconds: must be positive, got {args.max_seconds}")
    op = build_asr(asr_config(args))
    warm_up(op)
    metrics = get_metrics()
    publisher = _publisher(args)
    stop = threading.Event()
    restore = install_stop_handlers(stop)
    capture = None
    try:
        capture = open_capture(args, metrics)
        live = transcribe_live(capture, Transcriber(op), stop, json_lines=args.json, partials=args.partials,
                               max_seconds=args.max_seconds, publisher=publisher, record=args.record is not None,
                               metrics=metrics)
    finally:
        restore()
        if capture is not None:
            capture.close()
        if publisher is not None:
            publisher.close()
    if args.record is not None:
        from rnnstream.asr.wav import write_wav

        write_wav(Path(args.record), live.recorded(), 16000)
    log.info("mic summary %s", json.dumps(mic_summary(live)))
    if not sys.stderr.isatty():
        sys.stderr.flush()
    return 0
