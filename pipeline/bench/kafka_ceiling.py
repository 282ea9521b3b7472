"""The ceiling beside ``bench kafka``'s figures: each client library's bare consume and produce
rates on the same broker, in the same run, with no pipeline in between.

Consume reads the benchmark's input topic from the beginning (no consumer group commits),
timed from the first message to the last; produce writes the same number of small JSON
messages with ``acks=all``, timed until the flush returns. The pipeline's share is its rate
over the lower of the two: it can go no faster than its client reads and writes.
"""

from __future__ import annotations

import time
import uuid

__all__ = ["bare_rates"]


def bare_rates(bootstrap: str, client: str, topic: str, events: int, *, timeout_s: float = 120.0) -> dict:
    """``{"bare_consume_per_s", "bare_produce_per_s"}`` for ``client`` (kafka-python or confluent)."""
    consume = _confluent_consume if client == "confluent" else _kpy_consume
    produce = _confluent_produce if client == "confluent" else _kpy_produce
    return {"bare_consume_per_s": consume(bootstrap, topic, events, timeout_s),
            "bare_produce_per_s": produce(bootstrap, f"bench-bare-{uuid.uuid4().hex[:6]}", events, timeout_s)}


def _value(i: int) -> bytes:
    return b'{"key":"k%d","ts":%d,"value":%.3f,"forecast":{"p50":[1.0,2.0]}}' % (i % 10000, i, i / 1000.0)


def _rate(count: int, started: float | None) -> float:
    return count / max(1e-9, time.monotonic() - started) if started is not None and count else 0.0


def _confluent_consume(bootstrap: str, topic: str, events: int, timeout_s: float) -> float:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-bare-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False})
    parts = c.list_topics(topic, timeout=30).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    count, started, deadline = 0, None, time.monotonic() + timeout_s
    while count < events and time.monotonic() < deadline:
        msgs = c.consume(20000, 0.5)
        if msgs and started is None:
            started = time.monotonic()
        count += sum(m.error() is None for m in msgs)
    rate = _rate(count, started)
    c.close()
    return rate


def _kpy_consume(bootstrap: str, topic: str, events: int, timeout_s: float) -> float:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_bytes=64 * 1024 * 1024,
                      max_partition_fetch_bytes=8 * 1024 * 1024)
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    count, started, deadline = 0, None, time.monotonic() + timeout_s
    while count < events and time.monotonic() < deadline:
        got = sum(len(recs) for recs in c.poll(500, max_records=20000).values())
        if got and started is None:
            started = time.monotonic()
        count += got
    rate = _rate(count, started)
    c.close()
    return rate


def _confluent_produce(bootstrap: str, topic: str, events: int, timeout_s: float) -> float:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    started = time.monotonic()
    for i in range(events):
        while True:
            try:
                p.produce(topic, _value(i), b"k%d" % (i % 10000))
                break
            except BufferError:  # the local queue is full: let deliveries drain
                p.poll(0.01)
    left = p.flush(timeout_s)
    return _rate(events - left, started)


def _kpy_produce(bootstrap: str, topic: str, events: int, timeout_s: float) -> float:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=256 * 1024)
    started = time.monotonic()
    for i in range(events):
        p.send(topic, key=b"k%d" % (i % 10000), value=_value(i))
    p.flush(timeout_s)
    rate = _rate(events, started)
    p.close()
    return rate
