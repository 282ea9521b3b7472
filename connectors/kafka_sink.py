"""Kafka sink and dead-letter sink: keyed JSON rows and bad records, acknowledged at commits."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from rnnstream.config import DeadLetterConfig, KafkaSinkConfig
from rnnstream.connectors.kafka_client import load_backend
from rnnstream.connectors.kafka_rows import dead_headers, encode_rows
from rnnstream.engine.records import DeadRecord, OutputBatch
from rnnstream.errors import ConfigError

__all__ = ["KafkaSink", "KafkaDeadLetters", "make_sink", "make_dead_letter_sink"]


class KafkaSink:
    """Keyed JSON rows; ``flush`` returns once every row is acknowledged by all in-sync replicas."""

    flushes_on_schedule = True  # the pipeline commits on its interval to surface delivery failures

    def __init__(self, cfg: KafkaSinkConfig, *, registry: CollectorRegistry | None = None) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self._producer = load_backend(cfg.library, cfg.client).producer(cfg.bootstrap_servers, cfg.client)

    def write(self, batch: OutputBatch) -> None:
        if len(batch):
            keys, values, headers = encode_rows(batch, source_headers=self.cfg.source_headers)
            self._producer.send_many(self.cfg.topic, keys, values, headers)

    def flush(self) -> None:
        self._producer.flush(self.cfg.flush_timeout_s)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._producer.close()


class KafkaDeadLetters:
    """Bad records to a topic: original key and payload, reason and origin in headers."""

    flushes_on_schedule = True  # the pipeline commits on its interval to surface delivery failures

    def __init__(self, cfg: DeadLetterConfig, *, registry: CollectorRegistry | None = None) -> None:
        if not cfg.topic or not cfg.bootstrap_servers:
            raise ConfigError("dead_letter: type kafka needs topic and bootstrap_servers")
        self.cfg = cfg
        self._producer = load_backend(cfg.library, cfg.client).producer(cfg.bootstrap_servers, cfg.client)

    def write_dead(self, records: list[DeadRecord]) -> None:
        limit = self.cfg.max_payload_bytes
        for r in records:
            pos = r.position if isinstance(r.position, dict) else None
            key = pos.get("key") if pos else None
            headers = dead_headers(r.reason, r.detail, r.source, r.position)
            raw = r.raw
            if len(raw) > limit:
                raw = raw[:limit]
                headers.append(("rnnstream-truncated", b"%d" % len(r.raw)))
            self._producer.send(self.cfg.topic, key if isinstance(key, bytes) else None, raw, headers)

    def flush(self) -> None:
        self._producer.flush(60.0)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._producer.close()


def make_sink(cfg: KafkaSinkConfig, *, registry: CollectorRegistry | None = None) -> KafkaSink:
    return KafkaSink(cfg, registry=registry)


def make_dead_letter_sink(cfg: DeadLetterConfig, *, registry: CollectorRegistry | None = None) -> KafkaDeadLetters:
    return KafkaDeadLetters(cfg, registry=registry)
