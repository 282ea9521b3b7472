"""``rnnstream devices``, ``rnnstream mic-to-kafka`` and ``rnnstream transcripts``.

``mic-to-kafka`` sends the microphone as fixed-size 16 kHz chunks in the Kafka audio wire
format (key: the stream id; headers ``content-type: audio/pcm; format=s16le``,
``sample-rate: 16000``, ``seq``); a daemon with a ``format: audio`` Kafka source
transcribes them; ``transcripts`` prints the transcript rows of a topic as they arrive.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time

import numpy as np

from rnnstream.cli.options import (add_bootstrap_servers, add_chunk_ms, add_json_lines, add_max_seconds,
                                   add_mic_options, kafka_producer, open_capture, quiet_kafka_client, server_list)
from rnnstream.errors import ConfigError

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("devices", help="list audio input devices with their default rate and channels")
    add_json_lines(d, "one JSON object per device")
    d.set_defaults(func=_cmd_devices)

    m = sub.add_parser(
        "mic-to-kafka",
        help="send the microphone to a Kafka audio topic (16 kHz mono chunks, the audio wire format)",
        description="Each message is one chunk of --chunk-ms of 16 kHz mono audio, keyed by --key, with "
        "headers content-type (audio/pcm; format=s16le or f32le), sample-rate and seq. Ctrl-C sends the "
        "last partial chunk zero-padded and exits.",
    )
    m.add_argument("--topic", required=True, help="the audio topic")
    m.add_argument("--key", default="mic", help="stream id (message key; default mic)")
    add_bootstrap_servers(m)
    add_chunk_ms(m, "chunk length (default 100; the daemon's width)")
    m.add_argument("--format", choices=("s16le", "f32le"), default="s16le", help="sample encoding (default s16le)")
    add_max_seconds(m, "stop after this much audio")
    add_mic_options(m)
    m.set_defaults(func=_cmd_mic_to_kafka)

    t = sub.add_parser("transcripts", help="print transcript rows from a Kafka topic as they arrive")
    t.add_argument("--topic", required=True)
    add_bootstrap_servers(t)
    t.add_argument("--from-beginning", action="store_true", help="start at the oldest row, not the newest")
    add_json_lines(t, "print the rows as they are")
    add_max_seconds(t, "exit after this long")
    t.set_defaults(func=_cmd_transcripts)


def _cmd_devices(args: argparse.Namespace) -> int:
    from rnnstream.connectors.audio_input import list_input_devices

    devices = list_input_devices()
    if args.json:
        for d in devices:
            print(json.dumps(d.__dict__))
        return 0
    if not devices:
        print("no audio input devices found")
        return 1
    print(f"{'':2}{'index':>5}  {'name':<40} {'host API':<12} {'channels':>8} {'default rate':>13}")
    for d in devices:
        print(f"{'*' if d.is_default else ' ':2}{d.index:>5}  {d.name[:40]:<40} {d.hostapi[:12]:<12} "
              f"{d.channels:>8} {d.default_rate:>10.0f} Hz")
    print("\n* default input; pick one with --device INDEX or --device NAME")
    return 0


def _cmd_mic_to_kafka(args: argparse.Namespace) -> int:
    from rnnstream.apps.mic import install_stop_handlers, send_audio
    from rnnstream.metrics import get_metrics

    n = int(round(args.chunk_ms * 16))
    if n <= 0 or abs(n - args.chunk_ms * 16) > 1e-6:
        raise ConfigError(f"--chunk-ms {args.chunk_ms:g}: must be a whole number of 16 kHz samples")
    producer = kafka_producer(args)
    stop = threading.Event()
    restore = install_stop_handlers(stop)
    capture = None
    limit = None if args.max_seconds is None else int(np.ceil(args.max_seconds * 16000 / n))
    try:
        capture = open_capture(args, get_metrics())
        log.info("sending %s at %d Hz x %d -> 16000 Hz to %s (key %s, %g ms chunks)", capture.device.name,
                 capture.capture_rate, capture.channels, args.topic, args.key, args.chunk_ms)
        seq = send_audio(capture, producer, args.topic, args.key, stop, chunk=n, fmt=args.format, max_chunks=limit)
    finally:
        restore()
        if capture is not None:
            capture.close()
        producer.close()
    lost = capture.overflows + capture.device_overflows
    (log.warning if lost else log.info)(
        "mic-to-kafka done: %d chunks (%.1f s) to %s; overflows %d, device overflows %d",
        seq, seq * n / 16000, args.topic, capture.overflows, capture.device_overflows)
    return 0


def _cmd_transcripts(args: argparse.Namespace) -> int:
    from rnnstream.errors import ConnectorError

    try:
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError
    except ImportError:
        raise ConnectorError("transcripts needs the kafka extra: pip install 'rnnstream[kafka]'") from None
    quiet_kafka_client()
    servers = server_list(args.bootstrap_servers)
    deadline = None if args.max_seconds is None else time.monotonic() + args.max_seconds
    try:
        # No consumer group: a viewer owns no offsets and should not wait for a rebalance.
        consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, client_id="rnnstream-viewer")
        parts = None
        while not parts:
            parts = consumer.partitions_for_topic(args.topic)
            if not parts:
                if deadline is not None and time.monotonic() > deadline:
                    consumer.close()
                    return 0
                time.sleep(0.5)
        tps = [TopicPartition(args.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        (consumer.seek_to_beginning if args.from_beginning else consumer.seek_to_end)(*tps)
    except KafkaError as exc:
        raise ConnectorError(f"kafka {servers}: {exc}") from None
    tty = sys.stdout.isatty()
    try:
        while deadline is None or time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=300).values():
                for r in recs:
                    _print_row(r.key, r.value, args.json, tty)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


def _print_row(key: bytes | None, value: bytes | None, raw: bool, tty: bool) -> None:
    try:
        row = json.loads(value or b"")
    except ValueError:
        row = None
    if raw or not isinstance(row, dict):
        print((value or b"").decode("utf-8", "replace"), flush=True)
        return
    text = row.get("text", "")
    final = row.get("type") == "final" or row.get("final") is True
    name = (key or b"").decode("utf-8", "replace") or str(row.get("key", ""))
    if final:
        when = time.strftime("%H:%M:%S")
        span = f"[{row.get('start', 0):7.2f} – {row.get('end', 0):7.2f}]" if "start" in row else ""
        print(f"\r{when} {name} {span} {text}".ljust(80), flush=True)
    elif tty:
        print(f"\r… {name} {str(text)[-70:]:<72}", end="", flush=True)
