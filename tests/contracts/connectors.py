"""The sources, sinks and dead-letter sinks every connector contract runs over.

One entry per connector type in :data:`SOURCES`, :data:`SINKS` and :data:`DEAD_LETTERS`:
how to open it on this machine (files in a temporary folder, a pipe for stdin, Tansu for
Kafka, mosquitto for MQTT, a scripted audio stream for the microphone), how to feed it
records, and how to read back what a sink delivered, with a client of its own, never
with the connector under test. ``caps`` lists the capability protocols of
:mod:`rnnstream.connectors.base` the type declares; a capability's check runs over exactly
the entries that list it (and a check makes sure the lists match the classes). Adding a
type is one more entry.

Loaded by ``conftest.py`` (pytest's importlib mode cannot import it by name).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from rnnstream.engine.keys import KeyTable
from rnnstream.connectors.encode import encode_jsonl
from rnnstream.engine.records import DATA, DeadRecord, OutputBatch, RecordBatch

__all__ = ["SOURCES", "SINKS", "DEAD_LETTERS", "SourceImpl", "SinkImpl", "DeadImpl", "Env", "Rec", "MAX_BYTES",
           "output_batches", "dead_records", "json_rows", "drain", "FAST_GROUP"]

MAX_BYTES = 256  # max_record_bytes of every source here: a longer record is dead as oversized
FAST_GROUP = {
    "kafka-python": {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500, "max_poll_interval_ms": 60000},
    "confluent": {"session.timeout.ms": 3000, "heartbeat.interval.ms": 500, "max.poll.interval.ms": 60000},
}
"""Per client library: Tansu joins a group in about session_timeout/2; short sessions keep the checks quick."""


@dataclass
class Env:
    """What an entry may use: a temporary folder, fixtures (brokers) and a key table."""

    tmp: Path
    getfixture: Callable[[str], Any]
    keys: KeyTable = field(default_factory=KeyTable)
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def close(self) -> None:
        while self.cleanup:
            try:
                self.cleanup.pop()()
            except Exception:  # noqa: BLE001 - a client of a broker that is already gone
                pass


@dataclass(frozen=True)
class Rec:
    """One record as a producer sends it: a stream key (None: none), the raw payload, and
    either its decoded (ts, value) or the reason it must be dead for; ``text``: the text a
    text record's row carries."""

    key: str | None
    payload: bytes
    ts: float = 0.0
    value: Any = None
    reason: str | None = None
    text: str | None = None


# -- helpers: brokers (their own clients, not rnnstream's) -----------------------------------------
def kafka_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def kafka_send(bootstrap: str, topic: str, msgs: list[tuple[bytes | None, bytes]]) -> None:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
    try:
        for key, value in msgs:
            p.send(topic, key=key, value=value)
        p.flush(30)
    finally:
        p.close(timeout=5)


class KafkaReader:
    """Reads a topic from its beginning on a group-less consumer, incrementally."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self._c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        tps = [TopicPartition(topic, p) for p in sorted(self._c.partitions_for_topic(topic) or [0])]
        self._c.assign(tps)
        self._c.seek_to_beginning(*tps)
        self.messages: list = []

    def read(self, n: int, timeout_s: float = 20.0) -> list:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < n and time.monotonic() < deadline:
            for recs in self._c.poll(200, max_records=1000).values():
                self.messages += recs
        return self.messages

    def close(self) -> None:
        self._c.close()


class MqttReader:
    """A QoS 1 subscriber; ``read(n)`` waits (up to a timeout) for ``n`` messages."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self._c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self._c.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self._c.on_subscribe = lambda *a: subscribed.set()
        self._c.on_message = self._on_message
        self._c.connect("127.0.0.1", port)
        self._c.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError(f"no subscription to {topic}")

    def _on_message(self, _c, _u, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def read(self, n: int, timeout_s: float = 10.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._c.loop_stop()
        self._c.disconnect()


def mqtt_publish(port: int, msgs: list[tuple[str, bytes]]) -> None:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for info in [c.publish(topic, payload, qos=1) for topic, payload in msgs]:
            info.wait_for_publish(10)
    finally:
        c.loop_stop()
        c.disconnect()


class StateHost:
    """The state host a pipeline lends a partitioned source, with no operators: the
    changelog then carries only the offsets the (empty) state reflects."""

    def __init__(self, keys: KeyTable) -> None:
        self.keys = keys

    def stores(self) -> dict:
        return {}

    def drop_keys(self, ids) -> None:
        """No state to drop."""

    def on_release(self, listener) -> None:
        """Nothing is ever released."""

    def drain(self) -> None:
        """Nothing is pending."""


# -- sources --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceImpl:
    """``open(env, recs, batch_records, **config)`` builds the source and feeds it ``recs``;
    ``good(i)`` is the i-th good record; ``bad`` the records it must turn into dead ones
    (reason: record).

    ``finite``: the source ends (``exhausted``) once fed records are handed out.
    ``replays``: ``seek(position)`` resumes right after ``position`` (files).
    ``close_exhausts``: once closed, the source reports itself exhausted (memory).
    """

    id: str
    open: Callable[[Env, list[Rec], int], Any]
    good: Callable[[int], Rec]
    bad: dict[str, Rec]
    caps: frozenset[str] = frozenset()
    finite: bool = False
    replays: bool = False
    close_exhausts: bool = False
    timeout_s: float = 5.0


KEYS = ("a", "b", "c")


def _json_good(i: int, *, with_key: bool) -> Rec:
    key, ts, value = KEYS[i % 3], float(i), round(0.5 * i - 3.0, 3)
    obj = {"key": key, "ts": ts, "value": value} if with_key else {"ts": ts, "value": value}
    return Rec(key, json.dumps(obj).encode(), ts, value)


def _json_bad(*, with_key: bool) -> dict[str, Rec]:
    def dumps(obj: dict) -> bytes:
        return json.dumps({"key": "a", **obj} if with_key else obj).encode()

    return {
        "bad_json": Rec("a", dumps({"ts": 1})[:-1] + b', "value": '),
        "missing_key": Rec(None, json.dumps({"ts": 1, "value": 1.0}).encode()),
        "non_numeric": Rec("a", dumps({"ts": 1, "value": "abc"})),
        "oversized": Rec("a", dumps({"ts": 1, "value": 1.0, "pad": "x" * MAX_BYTES})),
    }


def _csv_good(i: int) -> Rec:
    key, ts, value = KEYS[i % 3], float(i), round(0.5 * i - 3.0, 3)
    return Rec(key, f"{key},{ts},{value}".encode(), ts, value)


CSV_BAD = {
    "bad_csv": Rec("a", b"a,1"),
    "missing_key": Rec(None, b",1,1.0"),
    "non_numeric": Rec("a", b"a,1,abc"),
    "oversized": Rec("a", b"a,1," + b"1" * MAX_BYTES),
}


MAX_TEXT = 64  # max_text_bytes of the text entries
TEXTS = ('GET /a "q"\t\\x', "ünïcödé 😀", "plain line")


def _text_good(i: int, *, csv: bool = False) -> Rec:
    key, ts, text = KEYS[i % 3], float(i), f"{TEXTS[i % 3]} {i}"
    quoted = text.replace('"', '""')
    line = f'{key},{ts},"{quoted}"' if csv else json.dumps({"key": key, "ts": ts, "line": text})
    return Rec(key, line.encode(), ts, 0.0, text=text)


TEXT_BAD = {
    "empty_text": Rec("a", b'{"key": "a", "ts": 1, "line": " \\t "}'),
    "bad_text": Rec("a", b'{"key": "a", "ts": 1, "line": 17}'),
    "oversized": Rec("a", b'{"key": "a", "ts": 1, "line": "' + b"x" * (MAX_TEXT + 1) + b'"}'),
    "missing_key": Rec(None, b'{"ts": 1, "line": "hi"}'),
    "non_utf8": Rec("a", b'{"key": "a", "ts": 1, "line": "caf\xe9"}'),
}
CSV_TEXT_BAD = {
    "empty_text": Rec("a", b"a,1,"),
    "oversized": Rec("a", b"a,1," + b"x" * (MAX_TEXT + 1)),
    "missing_key": Rec(None, b",1,hi"),
    "non_utf8": Rec("a", b"a,1,caf\xe9"),
}
TEXT_CONFIG = {"text_field": "line", "max_text_bytes": MAX_TEXT}


def _file(kind: str, text: bool = False):
    def open_(env: Env, recs: list[Rec], batch_records: int, **extra):
        from rnnstream.config import FileSourceConfig
        from rnnstream.connectors.files import FileSource

        path = env.tmp / f"in.{kind}"
        head = [b"key,ts,line" if text else b"key,ts,value"] if kind == "csv" else []
        path.write_bytes(b"".join(line + b"\n" for line in head + [r.payload for r in recs]))
        cfg = FileSourceConfig(type=kind, name=kind, path=path, batch_records=batch_records,
                               max_record_bytes=MAX_BYTES, **(TEXT_CONFIG if text else {}), **extra)
        src = FileSource(cfg, env.keys, width=1)
        env.cleanup.append(src.close)
        return src

    return open_


def _stdin(fmt: str, text: bool = False):
    def open_(env: Env, recs: list[Rec], batch_records: int, **extra):
        """Standard input is a pipe here, written and closed by the producer, as in ``a | rnnstream``."""
        from rnnstream.config import StdinSourceConfig
        from rnnstream.connectors.stdio import StdinSource

        r, w = os.pipe()
        head = [b"key,ts,line" if text else b"key,ts,value"] if fmt == "csv" else []
        data = b"".join(line + b"\n" for line in head + [rec.payload for rec in recs])

        def produce():
            with os.fdopen(w, "wb") as out:
                out.write(data)

        threading.Thread(target=produce, daemon=True).start()
        stream = os.fdopen(r, "rb")
        env.cleanup.append(stream.close)
        cfg = StdinSourceConfig(type="stdin", format=fmt, batch_records=batch_records, max_record_bytes=MAX_BYTES,
                                **(TEXT_CONFIG if text else {}), **extra)
        return StdinSource(cfg, env.keys, width=1, stream=stream)

    return open_


def _kafka(library: str):
    def open_(env: Env, recs: list[Rec], batch_records: int, **extra):
        from rnnstream.config import KafkaSourceConfig
        from rnnstream.connectors.kafka import KafkaSource

        bootstrap = env.getfixture("tansu").bootstrap
        topic = env.unique("contract-in")
        kafka_topic(bootstrap, topic)
        kafka_send(bootstrap, topic, [(r.key.encode() if r.key else None, r.payload) for r in recs])
        cfg = KafkaSourceConfig(type="kafka", name="kafka", topics=[topic], bootstrap_servers=[bootstrap],
                                group_id=env.unique("contract-g"), batch_records=batch_records, library=library,
                                max_record_bytes=MAX_BYTES, client=dict(FAST_GROUP[library]), **extra)
        src = KafkaSource(cfg, env.keys, width=1)
        env.cleanup.append(src.close)
        src.bind(StateHost(env.keys))
        return src

    return open_


def _mqtt(env: Env, recs: list[Rec], batch_records: int, **extra):
    from rnnstream.config import MqttSourceConfig
    from rnnstream.connectors.mqtt import MqttSource

    port = env.getfixture("mosquitto")
    prefix = env.unique("contract")
    cfg = MqttSourceConfig(type="mqtt", name="mqtt", port=port, topics=[f"{prefix}/+/v"], key_from_topic=1,
                           batch_records=batch_records, max_record_bytes=MAX_BYTES, **extra)
    src = MqttSource(cfg, env.keys, width=1)
    env.cleanup.append(src.close)
    deadline = time.monotonic() + 10
    while not src.ready:  # MQTT keeps nothing for a subscriber that is not there yet
        if time.monotonic() > deadline:
            raise TimeoutError("the MQTT source never subscribed")
        time.sleep(0.02)
    mqtt_publish(port, [(f"{prefix}/{r.key or ''}/v", r.payload) for r in recs])
    return src


def _memory(env: Env, recs: list[Rec], batch_records: int, **extra):
    """Records arrive decoded already; dead ones travel in a batch's ``dead`` list."""
    from rnnstream.connectors.memory import MemorySource

    src = MemorySource("memory")
    for r in recs:
        if r.reason is None:
            src.push(RecordBatch.data(env.keys.intern_many([r.key]), [r.ts], [[r.value]]))
        else:
            batch = RecordBatch.data(np.empty(0, np.int64), np.empty(0), np.empty((0, 1)))
            batch.dead = [DeadRecord("memory", r.reason, f"test record for {r.reason}", r.payload)]
            src.push(batch)
    return src


MIC_CHUNK = 1600  # 100 ms at 16 kHz


def _mic_signal(n: int) -> np.ndarray:
    return np.sin(np.arange(n * MIC_CHUNK) / 7.0).astype(np.float32) * 0.5


def _microphone(env: Env, recs: list[Rec], batch_records: int, **extra):
    """The real capture path (ring buffer, resampler, chunking) over a scripted PortAudio
    stream that delivers the records' audio as 20 ms blocks once started."""
    from rnnstream.config import MicrophoneSourceConfig
    from rnnstream.connectors.audio_input import InputDevice, MicrophoneCapture
    from rnnstream.connectors.microphone import MicrophoneSource

    audio = np.concatenate([np.empty(0, np.float32)] + [np.asarray(r.value, np.float32) for r in recs])

    class Stream:
        def __init__(self, callback, blocksize):
            self.callback, self.blocksize = callback, blocksize
            self.info = SimpleNamespace(inputBufferAdcTime=0.0, currentTime=0.0)

        def start(self):
            for lo in range(0, audio.size, self.blocksize):
                block = audio[lo : lo + self.blocksize, None]
                self.callback(block, block.shape[0], self.info, SimpleNamespace(input_overflow=False))

        def stop(self):
            """Scripted: nothing runs."""

        def close(self):
            """Scripted: nothing to release."""

    def capture():
        device = InputDevice(0, "scripted", "test", 1, 16000.0, True)
        return MicrophoneCapture(0, capture_rate=16000, channels=1, quantize=False, devices=[device],
                                 stream_factory=lambda i, rate, ch, bs, lat, cb: Stream(cb, bs))

    cfg = MicrophoneSourceConfig(type="microphone", name="mic", key="mic", chunk_ms=100)
    src = MicrophoneSource(cfg, env.keys, width=MIC_CHUNK, capture=capture)
    env.cleanup.append(src.close)
    return src


def _mic_good(i: int) -> Rec:
    return Rec("mic", b"", i * 0.1, _mic_signal(i + 1)[i * MIC_CHUNK :])


SOURCES: list[SourceImpl] = [
    SourceImpl("csv", _file("csv"), _csv_good, CSV_BAD, finite=True, replays=True),
    SourceImpl("jsonl", _file("jsonl"), lambda i: _json_good(i, with_key=True), _json_bad(with_key=True),
               finite=True, replays=True),
    SourceImpl("stdin", _stdin("jsonl"), lambda i: _json_good(i, with_key=True), _json_bad(with_key=True),
               finite=True),
    SourceImpl("stdin-csv", _stdin("csv"), _csv_good, CSV_BAD, finite=True),
    # Text records (text_field, no values): the rows carry their text.
    SourceImpl("jsonl-text", _file("jsonl", text=True), _text_good, TEXT_BAD, finite=True, replays=True),
    SourceImpl("csv-text", _file("csv", text=True), lambda i: _text_good(i, csv=True), CSV_TEXT_BAD, finite=True,
               replays=True),
    SourceImpl("stdin-text", _stdin("jsonl", text=True), _text_good, TEXT_BAD, finite=True),
    SourceImpl("kafka", _kafka("kafka-python"), lambda i: _json_good(i, with_key=False), _json_bad(with_key=False),
               caps=frozenset({"Partitioned", "Rewindable", "ReportsLag", "Pausable"}), timeout_s=30.0),
    SourceImpl("kafka-confluent", _kafka("confluent"), lambda i: _json_good(i, with_key=False),
               _json_bad(with_key=False), caps=frozenset({"Partitioned", "Rewindable", "ReportsLag", "Pausable"}),
               timeout_s=30.0),
    SourceImpl("mqtt", _mqtt, lambda i: _json_good(i, with_key=False), _json_bad(with_key=False), timeout_s=10.0),
    SourceImpl("memory", _memory, lambda i: _json_good(i, with_key=True),
               {r: Rec("a", f"raw {r}".encode(), reason=r) for r in ("bad_json", "missing_key")},
               close_exhausts=True),
    SourceImpl("microphone", _microphone, _mic_good, {}, caps=frozenset({"Finishable"})),
]


def drain(src, want: int, timeout_s: float, *, finite: bool) -> list[RecordBatch]:
    """Poll until ``want`` records (good and dead) came, then, for a finite source, until it
    is exhausted; at most ``timeout_s``."""
    batches: list[RecordBatch] = []
    deadline = time.monotonic() + timeout_s
    got = 0
    while time.monotonic() < deadline:
        if got >= want and (not finite or src.exhausted):
            break
        batch = src.poll(0.1)
        if batch is not None:
            batches.append(batch)
            got += len(batch) + len(batch.dead)
    return batches


# -- sinks ----------------------------------------------------------------------------------------
def json_rows(batches: list[OutputBatch]) -> list[dict]:
    """What a JSON-row sink must deliver for ``batches``: their rows as the one columnar encoder
    writes them (its fidelity to ``rows()`` is tests/connectors/test_encode.py's), read back."""
    return [json.loads(line) for b in batches for line in encode_jsonl(b).splitlines()]


def output_batches(keys: KeyTable, n_batches: int = 2, rows: int = 6) -> list[OutputBatch]:
    """Output rows of three keys with a forecast-like and an anomaly-like operator."""
    rng = np.random.default_rng(7)
    out = []
    for b in range(n_batches):
        names = np.array([KEYS[i % 3] for i in range(rows)], dtype=object)
        ts = b * rows + np.arange(rows, dtype=np.float64)
        p50 = rng.standard_normal((rows, 4))
        fields = {"forecast": {"p10": p50 - 1, "p50": p50, "p90": p50 + 1},
                  "anomaly": {"score": rng.random(rows), "alert": rng.random(rows) > 0.7}}
        out.append(OutputBatch(keys=names, key_ids=keys.intern_many(names), ts=ts,
                               values=rng.standard_normal((rows, 1)).astype(np.float32),
                               ingest=np.full(rows, time.monotonic()), fields=fields,
                               kind=np.full(rows, DATA, np.int8)))
    return out


@dataclass(frozen=True)
class SinkImpl:
    """``open(env)`` returns the sink and ``read(n)``: what has been delivered so far (waiting
    up to a timeout for ``n`` items where delivery is asynchronous, as with brokers);
    ``expect(batches)`` is what must be delivered. ``flushes``: ``flush`` delivers (a plot
    sink draws once, at close). ``unreachable(env)``: the sink with its broker cut off, and a
    function that brings the broker back or None (for the FlushesOnSchedule check: a failed
    delivery must surface in ``flush``)."""

    id: str
    open: Callable[[Env], tuple[Any, Callable[[int], Any]]]
    expect: Callable[[list[OutputBatch]], Any] = json_rows
    flushes: bool = True
    caps: frozenset[str] = frozenset()
    unreachable: Callable[[Env], Any] | None = None


def _lines(path: Path) -> Callable[[int], list[dict]]:
    """Rows in a file as another process would read them: by path, not through the sink's handle."""
    return lambda n: [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _stdout_sink(env: Env):
    from rnnstream.connectors.stdio import StdoutSink

    path = env.tmp / "stdout.txt"
    stream = open(path, "w", encoding="utf-8")  # standard output redirected to a file: block-buffered
    env.cleanup.append(stream.close)
    return StdoutSink("stdout", stream), _lines(path)


def _jsonl_sink(env: Env):
    from rnnstream.connectors.stdio import JsonlSink

    path = env.tmp / "out" / "rows.jsonl"
    return JsonlSink("jsonl", path), _lines(path)


def _kafka_sink(library: str):
    def open_(env: Env):
        from rnnstream.config import KafkaSinkConfig
        from rnnstream.connectors.kafka import KafkaSink

        bootstrap = env.getfixture("tansu").bootstrap
        topic = env.unique("contract-out")
        kafka_topic(bootstrap, topic)
        reader = KafkaReader(bootstrap, topic)
        env.cleanup.append(reader.close)
        sink = KafkaSink(KafkaSinkConfig(type="kafka", name="kafka", topic=topic, bootstrap_servers=[bootstrap],
                                         flush_timeout_s=20, library=library))
        env.cleanup.append(sink.close)  # a second close is harmless; a forgotten one leaves a client running

        def read(n: int) -> list[dict]:
            msgs = reader.read(n)
            for m in msgs:  # keyed by the stream key
                assert m.key.decode() == json.loads(m.value)["key"], f"message key {m.key!r} is not the row's key"
            return [json.loads(m.value) for m in msgs]

        return sink, read

    return open_


def _kafka_sink_cut_off(library: str):
    def open_(env: Env):
        """A Kafka sink on a private broker that then stops answering (SIGSTOP); ``thaw`` revives it.

        (Cutting the ``tansu_behind_proxy`` proxy does not do here: its listener keeps accepting
        new connections after ``cut()``, so the producer simply reconnects.)"""
        from rnnstream.config import KafkaSinkConfig
        from rnnstream.connectors.kafka import KafkaSink

        broker, _ = env.getfixture("tansu_behind_proxy")
        topic = env.unique("contract-out")
        kafka_topic(broker.bootstrap, topic)
        sink = KafkaSink(KafkaSinkConfig(type="kafka", name="kafka", topic=topic, bootstrap_servers=[broker.bootstrap],
                                         flush_timeout_s=2, library=library))
        env.cleanup.append(sink.close)
        broker.freeze()
        return sink, broker.thaw

    return open_


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mqtt_sink_cut_off(env: Env):
    """An MQTT sink whose broker address has nothing listening."""
    from rnnstream.config import MqttSinkConfig
    from rnnstream.connectors.mqtt import MqttSink

    sink = MqttSink(MqttSinkConfig(type="mqtt", name="mqtt", port=free_port(), topic="x/{key}", flush_timeout_s=0.5))
    env.cleanup.append(sink.close)
    return sink, None


def _mqtt_sink(env: Env):
    from rnnstream.config import MqttSinkConfig
    from rnnstream.connectors.mqtt import MqttSink

    port = env.getfixture("mosquitto")
    prefix = env.unique("contract-out")
    reader = MqttReader(port, f"{prefix}/#")
    env.cleanup.append(reader.close)
    sink = MqttSink(MqttSinkConfig(type="mqtt", name="mqtt", port=port, topic=prefix + "/{key}/rows",
                                   flush_timeout_s=10))
    env.cleanup.append(sink.close)

    def read(n: int) -> list[dict]:
        msgs = reader.read(n)
        rows = [json.loads(payload) for _, payload in msgs]
        for (topic, _), row in zip(msgs, rows):  # one topic per key
            assert topic == f"{prefix}/{row['key']}/rows"
        return rows

    return sink, read


def _plot_sink(env: Env):
    from rnnstream.connectors.plot import PlotSink

    folder = env.tmp / "plots"

    def read(n: int) -> list[str]:
        """Keys with a PNG (checked by its signature), sorted."""
        pngs = sorted(folder.glob("*.png")) if folder.exists() else []
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
        return [p.stem for p in pngs]

    return PlotSink("plot", folder), read


def _memory_sink(env: Env):
    from rnnstream.connectors.memory import MemorySink

    sink = MemorySink("memory")
    return sink, lambda n: json_rows(sink.batches)


SINKS: list[SinkImpl] = [
    SinkImpl("stdout", _stdout_sink),
    SinkImpl("jsonl", _jsonl_sink),
    SinkImpl("kafka", _kafka_sink("kafka-python"), caps=frozenset({"FlushesOnSchedule"}),
             unreachable=_kafka_sink_cut_off("kafka-python")),
    SinkImpl("kafka-confluent", _kafka_sink("confluent"), caps=frozenset({"FlushesOnSchedule"}),
             unreachable=_kafka_sink_cut_off("confluent")),
    SinkImpl("mqtt", _mqtt_sink, caps=frozenset({"FlushesOnSchedule"}), unreachable=_mqtt_sink_cut_off),
    SinkImpl("plot", _plot_sink, expect=lambda batches: sorted({str(k) for b in batches for k in b.keys}),
             flushes=False),
    SinkImpl("memory", _memory_sink),
]


# -- dead-letter sinks ----------------------------------------------------------------------------
def dead_records() -> list[DeadRecord]:
    """Dead records as sources make them: file, Kafka and position-less ones, a binary payload."""
    return [
        DeadRecord("jsonl", "bad_json", "Expecting value: line 1 column 10", b'{"key": ', {"offset": 120}),
        DeadRecord("kafka", "non_numeric", "value 'abc' is not a number", b'{"ts": 1, "value": "abc"}',
                   {"topic": "in", "partition": 2, "offset": 17, "key": b"sensor-1"}),
        DeadRecord("stdin", "non_utf8", "payload is not UTF-8", b"\xff\xfe\x00bytes", None),
    ]


@dataclass(frozen=True)
class DeadImpl:
    """``open(env)`` returns the dead-letter sink and ``read(n)``: the delivered records as
    ``(source, reason, detail, raw bytes)``."""

    id: str
    open: Callable[[Env], tuple[Any, Callable[[int], list[tuple]]]]
    caps: frozenset[str] = frozenset()


def _from_json(lines: list[dict]) -> list[tuple]:
    import base64

    out = []
    for line in lines:
        d = line["dead_letter"]
        raw = d["raw"].encode() if "raw" in d else base64.b64decode(d["raw_base64"])
        out.append((d["source"], d["reason"], d["detail"], raw))
    return out


def _jsonl_dead(env: Env):
    from rnnstream.connectors.stdio import JsonlDeadLetters

    path = env.tmp / "dead" / "dead.jsonl"
    read = _lines(path)
    return JsonlDeadLetters(path), lambda n: _from_json(read(n))


def _stderr_dead(env: Env):
    from rnnstream.connectors.stdio import JsonlDeadLetters

    path = env.tmp / "stderr.txt"
    stream = open(path, "w", encoding="utf-8")  # standard error redirected to a file
    env.cleanup.append(stream.close)
    with redirect_stderr(stream):
        sink = JsonlDeadLetters(None)
    read = _lines(path)
    return sink, lambda n: _from_json(read(n))


def _kafka_dead(library: str):
    def open_(env: Env):
        from rnnstream.config import DeadLetterConfig
        from rnnstream.connectors.kafka import KafkaDeadLetters

        bootstrap = env.getfixture("tansu").bootstrap
        topic = env.unique("contract-dead")
        kafka_topic(bootstrap, topic)
        reader = KafkaReader(bootstrap, topic)
        env.cleanup.append(reader.close)
        sink = KafkaDeadLetters(DeadLetterConfig(type="kafka", topic=topic, bootstrap_servers=[bootstrap],
                                                 library=library))
        env.cleanup.append(sink.close)

        def read(n: int) -> list[tuple]:
            out = []
            for m in reader.read(n):
                h = dict(m.headers or [])
                out.append((h["rnnstream-source"].decode(), h["rnnstream-dead-reason"].decode(),
                            h["rnnstream-dead-detail"].decode(), m.value))
            return out

        return sink, read

    return open_


def _memory_dead(env: Env):
    from rnnstream.connectors.memory import MemoryDeadLetters

    sink = MemoryDeadLetters()
    return sink, lambda n: [(r.source, r.reason, r.detail, r.raw) for r in sink.records]


DEAD_LETTERS: list[DeadImpl] = [
    DeadImpl("jsonl", _jsonl_dead),
    DeadImpl("stderr", _stderr_dead),
    DeadImpl("kafka", _kafka_dead("kafka-python"), caps=frozenset({"FlushesOnSchedule"})),
    DeadImpl("kafka-confluent", _kafka_dead("confluent"), caps=frozenset({"FlushesOnSchedule"})),
    DeadImpl("memory", _memory_dead),
]
