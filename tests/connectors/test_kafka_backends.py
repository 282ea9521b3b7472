"""The two consumer backends around a rebalance, with the client library's consumer replaced
by a scripted one: a poll that assigns a partition may already carry records that partition
fetched from its group offset. Those sit behind the changelog's offset and must not reach the
pipeline (they would be applied twice); the seek to the changelog's offset re-reads them."""

from __future__ import annotations

import importlib.util
from collections import namedtuple
from types import SimpleNamespace

import pytest

from rnnstream.connectors.kafka_kpy import KpyConsumer

GROUP_OFFSET, CHANGELOG_OFFSET = 3, 7
KafkaTP = namedtuple("KafkaTP", "topic partition")


class Handler:
    def __init__(self):
        self.assigned_calls: list[list] = []

    def assigned(self, tps):
        self.assigned_calls.append(list(tps))
        return {tp: CHANGELOG_OFFSET for tp in tps}

    def revoked(self, tps, lost):
        raise AssertionError("nothing is revoked here")


class ScriptedLog:
    """One partition of ten records; ``fetch`` reads from a position like a fetcher would."""

    def __init__(self):
        self.pos = GROUP_OFFSET
        self.seeks: list[int] = []

    def fetch(self, n=3):
        got = list(range(self.pos, min(10, self.pos + n)))
        self.pos += len(got)
        return got

    def seek(self, off):
        self.seeks.append(off)
        self.pos = off


def _kpy(log: ScriptedLog, handler: Handler) -> KpyConsumer:
    tp = KafkaTP("in", 0)  # kafka-python's TopicPartition is a namedtuple like this one
    c = object.__new__(KpyConsumer)
    calls = {"n": 0}

    def poll(timeout_ms, max_records):
        calls["n"] += 1
        if calls["n"] == 1:
            c._assigned([tp])  # the rebalance listener runs inside poll
        rec = [SimpleNamespace(offset=o, key=b"k", value=b"{}", headers=[], timestamp=0) for o in log.fetch()]
        return {tp: rec}

    c._c = SimpleNamespace(poll=poll, pause=lambda *tps: None, resume=lambda *tps: None,
                           seek=lambda _tp, off: log.seek(off))
    c._handler, c._pending, c._retry_at = handler, [], 0.0
    return c


def _ck(log: ScriptedLog, handler: Handler):
    from rnnstream.connectors.kafka_ck import CkConsumer

    part = SimpleNamespace(topic="in", partition=0)
    c = object.__new__(CkConsumer)
    calls = {"n": 0}

    def message(off):
        return SimpleNamespace(error=lambda: None, topic=lambda: "in", partition=lambda: 0, offset=lambda: off,
                               key=lambda: b"k", value=lambda: b"{}", headers=lambda: None,
                               timestamp=lambda: (0, 0))

    inner = SimpleNamespace(assign=lambda parts: None, pause=lambda parts: None, resume=lambda parts: None,
                            seek=lambda tp: log.seek(tp.offset))

    def consume(num_messages, timeout):
        calls["n"] += 1
        if calls["n"] == 1:
            c._on_assign(inner, [part])  # librdkafka serves the rebalance inside consume
        return [message(o) for o in log.fetch(min(3, num_messages))]

    def poll(timeout):  # like librdkafka's: one message, rebalances served the same way
        got = consume(1, timeout)
        return got[0] if got else None

    inner.consume, inner.poll = consume, poll
    c._c, c._handler, c._pending, c._retry_at = inner, handler, [], 0.0
    return c


BACKENDS = [pytest.param(_kpy, id="kafka-python"), pytest.param(_ck, id="confluent", marks=pytest.mark.skipif(
    importlib.util.find_spec("confluent_kafka") is None, reason="the optional confluent-kafka client is not installed"))]


@pytest.mark.parametrize("make", BACKENDS)
def test_records_fetched_before_the_restore_seek_never_reach_the_pipeline(make):
    log, handler = ScriptedLog(), Handler()
    consumer = make(log, handler)
    first = consumer.poll(0.1, 100)
    assert len(handler.assigned_calls) == 1 and log.seeks == [CHANGELOG_OFFSET]
    assert list(first.offsets) == []  # offsets 3..5 came from the group offset: dropped
    offsets = []
    for _ in range(3):
        offsets += list(consumer.poll(0.1, 100).offsets)
    assert offsets == [7, 8, 9]  # resumed exactly at the changelog's offset, nothing twice
