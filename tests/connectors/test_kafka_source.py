"""KafkaSource logic against an in-memory fake client (no broker): restore before the first
event, revoke flushes and drops, backpressure pauses, out-of-retention offsets are reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from rnnstream.runtime.build import build_operator
from rnnstream.config import ForecastOperatorConfig, parse_config
from rnnstream.connectors.kafka import KafkaSource
from rnnstream.connectors.kafka_wire import WireMessages
from rnnstream.connectors.stdio import JsonlDeadLetters
from rnnstream.engine.keys import KeyTable
from rnnstream.runtime.loop import Pipeline


class Cluster:
    def __init__(self):
        self.topics: dict[str, dict[int, list]] = {}
        self.begin: dict[tuple, int] = {}
        self.committed: dict[tuple, int] = {}

    def add(self, topic, partitions):
        self.topics[topic] = {p: [] for p in range(partitions)}


class FakeConsumer:
    def __init__(self, cluster):
        self.c = cluster
        self.assigned: list = []
        self.paused: set = set()
        self.pos: dict = {}
        self.handler = None

    def subscribe(self, topics, handler):
        self.handler = handler

    def rebalance(self, tps):
        if self.assigned:
            self.handler.revoked(list(self.assigned), False)
        self.assigned = list(tps)
        self.paused |= set(tps)
        for tp, off in self.handler.assigned(list(tps)).items():
            self.pos[tp] = off
        self.paused -= set(tps)

    def poll(self, timeout_s, max_records):
        m = WireMessages()
        for tp in self.assigned:
            if tp in self.paused:
                continue
            log = self.c.topics[tp[0]][tp[1]]
            start = max(self.pos[tp], self.c.begin.get(tp, 0))  # like auto_offset_reset=earliest
            for off in range(start, min(len(log), start + max_records - len(m))):
                key, value = log[off]
                m.add(tp[0], tp[1], off, key, value, None, 0)
                self.pos[tp] = off + 1
        return m

    def assignment(self):
        return list(self.assigned)

    def pause(self, tps):
        self.paused |= set(tps)

    def resume(self, tps):
        self.paused -= set(tps)

    def seek(self, tp, offset):
        self.pos[tp] = offset

    def commit(self, offsets, *, wait=True):
        self.c.committed.update(offsets)

    def committed(self, tps):
        return {tp: self.c.committed.get(tp) for tp in tps}

    def beginning(self, tps):
        return {tp: self.c.begin.get(tp, 0) for tp in tps}

    def end(self, tps):
        return {tp: len(self.c.topics[tp[0]][tp[1]]) for tp in tps}

    def highwater(self, tp):
        return len(self.c.topics[tp[0]][tp[1]])

    def close(self):
        pass


class FakeProducer:
    def __init__(self, cluster):
        self.c = cluster

    def send(self, topic, key, value, headers=None, partition=None):
        self.c.topics[topic][partition or 0].append((key, value))

    def send_many(self, topic, keys, values, headers):
        for k, v in zip(keys, values):
            self.send(topic, k, v)

    def flush(self, timeout_s):
        pass

    def close(self):
        pass


class FakeReader:
    def __init__(self, cluster):
        self.c = cluster

    def scan(self, topic, partition, progress=None):
        yield from list(self.c.topics[topic][partition])

    def close(self):
        pass


class FakeAdmin:
    def __init__(self, cluster):
        self.c = cluster

    def partitions(self, topic):
        return len(self.c.topics[topic]) if topic in self.c.topics else None

    def create(self, topic, partitions, configs, replication=-1):
        self.c.add(topic, partitions)

    def close(self):
        pass


class FakeBackend:
    name = "fake"

    def __init__(self, cluster):
        self.cluster = cluster

    def consumer(self, servers, group_id, client):
        self.last = FakeConsumer(self.cluster)
        return self.last

    def producer(self, servers, client):
        return FakeProducer(self.cluster)

    def reader(self, servers, client):
        return FakeReader(self.cluster)

    def admin(self, servers, client):
        return FakeAdmin(self.cluster)


class ListSink:
    name = "list"

    def __init__(self):
        self.rows = []

    def write(self, batch):
        self.rows += batch.rows()

    def flush(self):
        pass

    def close(self):
        pass


def member(cluster, model, tmp_path, **source):
    cfg = parse_config({"sources": [{"type": "kafka", "name": "k", "topics": ["in"], "bootstrap_servers": ["x:1"],
                                     "group_id": "g", "batch_records": 20, **source}]}).sources[0]
    keys, reg = KeyTable(), CollectorRegistry()
    backend = FakeBackend(cluster)
    src = KafkaSource(cfg, keys, width=1, registry=reg, backend=backend)
    op = build_operator(ForecastOperatorConfig(type="forecast", name="forecast", model=str(model), provider="cpu"))
    sink = ListSink()
    p = Pipeline(sources=[src], operators=[op], sinks=[sink], keys=keys, registry=reg,
                 dead_letters=JsonlDeadLetters(tmp_path / "dead.jsonl"))
    p.restore()
    return p, src, backend.last, sink, reg


def fill(cluster, n_per_key=30, keys=6, partitions=2):
    cluster.add("in", partitions)
    for t in range(n_per_key):
        for k in range(keys):
            cluster.topics["in"][k % partitions].append(
                (f"k{k}".encode(), json.dumps({"ts": t, "value": float(t * (k + 1))}).encode()))


def hand_out(p, src, *, polls: int = 10, rows: int | None = None) -> int:
    """Poll and hand batches to the pipeline (no processing) until a poll is empty, ``polls``
    polls, or ``rows`` rows; the rows handed out."""
    got = 0
    for _ in range(polls):
        if rows is not None and got >= rows:
            break
        batch = src.poll(0)
        if batch is None:
            break
        p._accept(src, batch)
        got += len(batch)
    return got


def drain(p, src, rounds=50):
    for _ in range(rounds):
        batch = src.poll(0)
        if batch is None:
            break
        p._accept(src, batch)
    p.flush()


def test_revoke_flushes_state_to_the_changelog_and_the_next_owner_resumes_from_it(tmp_path, small_forecaster):
    cluster = Cluster()
    fill(cluster)
    p, src, consumer, sink, reg = member(cluster, small_forecaster, tmp_path)
    assert src.ready is False and p.is_ready()[0] is False  # not before its partitions are restored
    consumer.rebalance([("in", 0), ("in", 1)])
    assert src.ready and p.is_ready()[0]
    assert reg.get_sample_value("rnnstream_restore_progress_ratio", {"source": "k"}) == 1.0
    drain(p, src)
    assert len(sink.rows) == 180
    consumer.rebalance([("in", 0)])  # partition 1 leaves: flushed, dropped, not evicted
    assert cluster.committed[("in", 1)] == 90
    assert p.schedulers["forecast"].store.live_keys == 3
    assert reg.get_sample_value("rnnstream_evictions_total", {"operator": "forecast", "reason": "end"}) is None
    assert reg.get_sample_value("rnnstream_rebalances_total", {"source": "k", "kind": "revoked"}) == 1
    # Another member takes partition 1 over: same state, resumes at offset 90.
    p2, src2, consumer2, sink2, _ = member(cluster, small_forecaster, tmp_path)
    consumer2.rebalance([("in", 1)])
    assert consumer2.pos[("in", 1)] == 90 and src2.positions[("in", 1)] == 90
    assert p2.schedulers["forecast"].store.live_keys == 3
    assert sorted(p2.keys.names(p2.schedulers["forecast"].store.live_ids()).tolist()) == ["k1", "k3", "k5"]
    steps = p2.schedulers["forecast"].store.steps[p2.schedulers["forecast"].store.lookup(
        p2.keys.intern_many(["k1"]))]
    assert steps.tolist() == [30]


def test_backpressure_pauses_until_the_commit_is_durable(tmp_path, small_forecaster):
    cluster = Cluster()
    fill(cluster, n_per_key=40)
    p, src, consumer, sink, _ = member(cluster, small_forecaster, tmp_path, max_in_flight=50)
    consumer.rebalance([("in", 0), ("in", 1)])
    got = hand_out(p, src)
    assert 50 <= got < 80 and src.commit_due and consumer.paused == {("in", 0), ("in", 1)}
    p.commit()
    assert not src.commit_due
    src.flush_state()  # the changelog write runs in the background; paused until it is durable
    assert not consumer.paused
    assert src.poll(0) is not None


def test_a_commit_is_asked_for_at_half_the_bound_without_pausing(tmp_path, small_forecaster):
    cluster = Cluster()
    fill(cluster, n_per_key=40)
    p, src, consumer, sink, _ = member(cluster, small_forecaster, tmp_path, max_in_flight=100)
    consumer.rebalance([("in", 0), ("in", 1)])
    got = hand_out(p, src, rows=50)
    assert 50 <= got < 100 and src.commit_due and not consumer.paused, "paused before the bound"
    p.commit()  # the write runs beside the pipeline: records keep flowing meanwhile
    assert not src.commit_due and not consumer.paused and src.poll(0) is not None


def test_offsets_that_fell_out_of_retention_are_logged_and_counted(tmp_path, small_forecaster, caplog):
    cluster = Cluster()
    fill(cluster, n_per_key=40, partitions=1)
    p, src, consumer, sink, reg = member(cluster, small_forecaster, tmp_path)
    consumer.rebalance([("in", 0)])
    drain(p, src, rounds=3)
    p.commit()
    done = src.positions[("in", 0)]
    p.close()
    cluster.begin[("in", 0)] = done + 25  # retention deleted 25 events nobody processed
    p2, src2, consumer2, _, reg2 = member(cluster, small_forecaster, tmp_path)
    consumer2.rebalance([("in", 0)])
    assert consumer2.pos[("in", 0)] == done + 25
    assert reg2.get_sample_value("rnnstream_offset_out_of_range_total", {"topic": "in"}) == 1
    assert any("fell out of retention" in r.getMessage() for r in caplog.records)
    # While consuming: retention overtakes the consumer, which jumps ahead; that is reported too.
    drain(p2, src2, rounds=1)
    cluster.begin[("in", 0)] = src2.positions[("in", 0)] + 10
    drain(p2, src2, rounds=2)
    assert reg2.get_sample_value("rnnstream_offset_out_of_range_total", {"topic": "in"}) == 2


def test_kafka_python_settings_pass_through_and_typos_are_config_errors():
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    from rnnstream.connectors.kafka_kpy import _only, check_client
    from rnnstream.errors import ConfigError

    tls = {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_plain_username": "u",
           "sasl_plain_password": "p", "ssl_cafile": "/ca.pem", "session_timeout_ms": 6000}
    check_client(tls)
    for cls in (KafkaConsumer, KafkaProducer, KafkaAdminClient):
        assert {k: tls[k] for k in tls if k != "session_timeout_ms"}.items() <= _only(cls, tls).items()
    assert "session_timeout_ms" in _only(KafkaConsumer, tls) and "session_timeout_ms" not in _only(KafkaProducer, tls)
    with pytest.raises(ConfigError, match="security.protocol"):
        check_client({"security.protocol": "SSL"})


def test_assigned_partitions_without_state_start_where_configured(tmp_path, small_forecaster):
    cluster = Cluster()
    fill(cluster, partitions=1)
    cluster.committed[("in", 0)] = 17
    p, src, consumer, _, _ = member(cluster, small_forecaster, tmp_path)
    consumer.rebalance([("in", 0)])
    assert consumer.pos[("in", 0)] == 17  # no changelog yet: the group's committed offset
    cluster2 = Cluster()
    fill(cluster2, partitions=1)
    p, src, consumer, _, _ = member(cluster2, small_forecaster, tmp_path, start="latest")
    consumer.rebalance([("in", 0)])
    assert consumer.pos[("in", 0)] == 180
    np.testing.assert_equal(src.lag, 0)
