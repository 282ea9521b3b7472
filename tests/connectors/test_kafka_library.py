"""The Kafka client by default: confluent-kafka when installed and no client options are given."""

from __future__ import annotations

import importlib.util

from rnnstream.config import parse_config
from rnnstream.connectors.kafka_client import resolve_library


def test_auto_prefers_the_faster_client_when_it_is_installed():
    have_ck = importlib.util.find_spec("confluent_kafka") is not None
    assert resolve_library("auto") == ("confluent" if have_ck else "kafka-python")
    # client options are in kafka-python's dialect (as in earlier releases): auto keeps that client
    assert resolve_library("auto", {"security_protocol": "SSL"}) == "kafka-python"
    assert resolve_library("confluent", {"security.protocol": "SSL"}) == "confluent"


def test_configs_default_to_auto():
    cfg = parse_config({"sources": [{"type": "kafka", "name": "k", "topics": ["t"], "bootstrap_servers": ["h:9092"],
                                     "group_id": "g"}],
                        "sinks": [{"type": "kafka", "name": "o", "topic": "out", "bootstrap_servers": ["h:9092"]}]})
    assert cfg.sources[0].library == "auto" and cfg.sinks[0].library == "auto"
