"""The bare client rates ``bench kafka`` prints beside the pipeline's, on a real broker."""

from __future__ import annotations

import uuid

import pytest

from rnnstream.bench.kafka import CLIENTS, format_rows, installed
from rnnstream.bench.kafka_ceiling import bare_rates


@pytest.mark.parametrize("client", [c for c in CLIENTS if installed(c)])
def test_bare_rates_read_and_write_every_message(tansu, client):
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"ceiling-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=tansu.bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    p = KafkaProducer(bootstrap_servers=tansu.bootstrap)
    for i in range(3000):
        p.send(topic, key=b"k%d" % (i % 7), value=b'{"ts":%d,"value":1}' % i)
    p.flush(30)
    p.close()
    rates = bare_rates(tansu.bootstrap, client, topic, 3000, timeout_s=60)
    assert rates["bare_consume_per_s"] > 0 and rates["bare_produce_per_s"] > 0
    row = {"client": client, "keys": 7, "events_per_s": 10.0, "p50_ms": 1.0, "p99_ms": 2.0,
           "latency_rate_per_s": 5.0, **rates, "share_of_ceiling": 0.5}
    assert format_rows([row]).splitlines()[-1].endswith("| 50 % |")
