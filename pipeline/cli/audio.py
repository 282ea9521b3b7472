"""``rnnstream devices``, ``rnnstream mic-to-kafka`` and ``rnnstream transcripts``; also the
microphone-only options of ``rnnstream transcribe`` (``--capture-rate``, ``--record``, ...).

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

__all__ = ["register", "add_mic_options", "audio_message", "quiet_kafka_client", "latency_arg"]

log = logging.getLogger(__name__)


def latency_arg(value: str) -> str | float:
    """``low``, ``high`` or seconds, as PortAudio takes them.

    >>> latency_arg("low"), latency_arg("0.05")
    ('low', 0.05)
    """
    if value in ("low", "high"):
        return value
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not low, high or a number of seconds") from None
    if not 0 < seconds < 10:
        raise argparse.ArgumentTypeError(f"latency {seconds:g} s is out of range")
    return seconds


def add_mic_options(p: argparse.ArgumentParser, *, record: bool = True) -> None:
    """Capture options shared by every microphone command."""
    p.add_argument("--capture-rate", type=int, default=None,
                   help="capture at this rate in Hz (default: 16000 if the device takes it, else its own rate)")
    p.add_argument("--channels", type=int, default=None, help="capture channels, downmixed to mono (default: fewest)")
    p.add_argument("--latency", type=latency_arg, default="high",
                   help="PortAudio input buffering: low, high or seconds (default high: robust under load)")
    p.add_argument("--buffer-s", type=float, default=20.0, help="ring buffer length in seconds (default 20)")
    if record:
        p.add_argument("--record", metavar="FILE.wav",
                       help="also write the 16 kHz samples fed to the recogniser (debugging; --mic)")
        p.add_argument("--stream-key", default="mic", help="stream id for --kafka-topic rows (default mic)")


def register(sub: argparse._SubParsersAction) -> None:
    transcribe = sub.choices.get("transcribe")
    if transcribe is not None and not any("--record" in a.option_strings for a in transcribe._actions):
        add_mic_options(transcribe)

    d = sub.add_parser("devices", help="list audio input devices with their default rate and channels")
    d.add_argument("--json", action="store_true", help="one JSON object per device")
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
    m.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    m.add_argument("--device", help="input device index or name (see `rnnstream devices`)")
    m.add_argument("--chunk-ms", type=float, default=100.0, help="chunk length (default 100; the daemon's width)")
    m.add_argument("--format", choices=("s16le", "f32le"), default="s16le", help="sample encoding (default s16le)")
    m.add_argument("--max-seconds", type=float, default=None, help="stop after this much audio")
    add_mic_options(m, record=False)
    m.set_defaults(func=_cmd_mic_to_kafka)

    t = sub.add_parser("transcripts", help="print transcript rows from a Kafka topic as they arrive")
    t.add_argument("--topic", required=True)
    t.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    t.add_argument("--from-beginning", action="store_true", help="start at the oldest row, not the newest")
    t.add_argument("--json", action="store_true", help="print the rows as they are")
    t.add_argument("--max-seconds", type=float, default=None, help="exit after this long")
    t.set_defaults(func=_cmd_transcripts)


def quiet_kafka_client() -> None:
    """kafka-python logs every connection at INFO; a terminal user wants rnnstream's lines only."""
    kafka_log = logging.getLogger("kafka")
    if kafka_log.getEffectiveLevel() < logging.WARNING:
        kafka_log.setLevel(logging.WARNING)


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


def _cmd_mic_to_kafka(args: argparse.Namespace) -> int:
    from rnnstream.connectors.kafka_client import load_backend
    from rnnstream.errors import ConfigError
    from rnnstream.metrics import get_metrics
    from rnnstream.cli.mic import install_stop_handlers, open_source

    n = int(round(args.chunk_ms * 16))
    if n <= 0 or abs(n - args.chunk_ms * 16) > 1e-6:
        raise ConfigError(f"--chunk-ms {args.chunk_ms:g}: must be a whole number of 16 kHz samples")
    quiet_kafka_client()
    servers = [s.strip() for s in args.bootstrap_servers.split(",") if s.strip()]
    producer = load_backend("kafka-python").producer(servers, {})
    stop = threading.Event()
    restore = install_stop_handlers(stop)
    src = open_source(args, get_metrics())
    log.info("sending %s at %d Hz x %d -> 16000 Hz to %s (key %s, %g ms chunks)", src.device.name,
             src.capture_rate, src.channels, args.topic, args.key, args.chunk_ms)
    pending = np.empty(0, np.float32)
    seq = 0
    next_report = time.monotonic() + 10.0
    limit = None if args.max_seconds is None else int(np.ceil(args.max_seconds * 16000 / n))

    def send(samples: np.ndarray) -> None:
        nonlocal pending, seq
        buf = np.concatenate([pending, samples])
        whole = buf.size // n
        for c in range(whole):
            producer.send(args.topic, *audio_message(buf[c * n : (c + 1) * n], args.key, seq, args.format))
            seq += 1
        pending = buf[whole * n :]

    try:
        while not stop.is_set() and (limit is None or seq < limit):
            src.wait(0.1)
            send(src.read())
            if time.monotonic() >= next_report:
                log.info("sent %d chunks (%.1f s); overflows %d, device overflows %d", seq, seq * n / 16000,
                         src.overflows, src.device_overflows)
                next_report += 10.0
        send(src.stop())
        if pending.size:
            send(np.zeros(n - pending.size, np.float32))
        producer.flush(30.0)
    finally:
        restore()
        src.close()
        producer.close()
    lost = src.overflows + src.device_overflows
    (log.warning if lost else log.info)(
        "mic-to-kafka done: %d chunks (%.1f s) to %s; overflows %d, device overflows %d",
        seq, seq * n / 16000, args.topic, src.overflows, src.device_overflows)
    return 0


def _cmd_transcripts(args: argparse.Namespace) -> int:
    from rnnstream.errors import ConnectorError

    try:
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError
    except ImportError:
        raise ConnectorError("transcripts needs the kafka extra: pip install 'rnnstream[kafka]'") from None
    quiet_kafka_client()
    servers = [s.strip() for s in args.bootstrap_servers.split(",") if s.strip()]
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
