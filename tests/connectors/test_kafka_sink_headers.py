"""The Kafka sink with and without source headers, through each client, against a real broker."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from rnnstream.config import KafkaSinkConfig
from rnnstream.connectors.kafka_sink import KafkaSink
from rnnstream.engine.records import OutputBatch

LIBRARIES = ["kafka-python", pytest.param("confluent", marks=pytest.mark.skipif(
    importlib.util.find_spec("confluent_kafka") is None, reason="the optional confluent-kafka client is not installed"))]


def rows(n: int) -> OutputBatch:
    meta = {"source_topic": np.array(["in"] * n, object), "source_partition": np.arange(n, dtype=np.int32) % 2,
            "source_offset": np.arange(n, dtype=np.int64) + 100, "seq": np.full(n, -1, np.int64)}
    return OutputBatch(keys=np.array([f"k{i % 3}" for i in range(n)], object), key_ids=np.arange(n) % 3,
                       ts=np.arange(n, dtype=np.float64), values=np.ones((n, 1), np.float32), ingest=np.zeros(n),
                       fields={"f": {"p50": np.arange(n, dtype=np.float64)}}, meta=meta)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("headers", [True, False])
def test_every_row_arrives_in_key_order_with_or_without_source_headers(tansu, kit, library, headers):
    tool = kit.KafkaTool(tansu.bootstrap)
    topic = kit.unique("sinkhdr")
    tool.create((topic, 2))
    sink = KafkaSink(KafkaSinkConfig(type="kafka", name="out", topic=topic, bootstrap_servers=[tansu.bootstrap],
                                     library=library, source_headers=headers))
    sink.write(rows(50))
    sink.write(rows(50))
    sink.close()
    got = tool.read(topic, until=100)
    assert len(got) == 100
    for m in got:
        row = json.loads(m["value"])
        assert m["key"] == row["key"].encode()
        if headers:
            assert m["headers"]["rnnstream-source-offset"] == str(row["source_offset"]).encode()
        else:
            assert m["headers"] == {}
    by_key: dict[bytes, list[float]] = {}
    for m in sorted(got, key=lambda m: (m["partition"], m["offset"])):
        by_key.setdefault(m["key"], []).append(json.loads(m["value"])["ts"])
    for ts in by_key.values():  # each key's rows in the order written: both writes, in turn
        half = len(ts) // 2
        assert ts[:half] == sorted(ts[:half]) and ts[half:] == sorted(ts[half:]) and ts[:half] == ts[half:]
