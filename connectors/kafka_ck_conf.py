"""Settings of the confluent-kafka clients: which ``client:`` keys belong to which client,
and one clear line for a setting librdkafka refuses."""

from __future__ import annotations

from typing import Any

from rnnstream.errors import ConfigError

__all__ = ["CONSUMER_ONLY", "PRODUCER_ONLY", "ck_module", "drop", "make"]

CONSUMER_ONLY = ("group.", "session.", "heartbeat.", "max.poll", "auto.offset", "enable.auto", "fetch.",
                 "partition.assignment", "isolation.level", "auto.commit", "enable.partition.eof")
PRODUCER_ONLY = ("acks", "linger.ms", "batch.", "queue.buffering", "compression", "enable.idempotence",
                 "message.send.max.retries", "retries", "delivery.timeout.ms", "message.timeout.ms",
                 "transactional.id", "sticky.partitioning")
"""``client:`` keys (prefixes) that only a consumer, or only a producer, takes."""


def ck_module():
    """The confluent_kafka module, imported on first use (it is optional)."""
    import confluent_kafka
    import confluent_kafka.admin  # noqa: F401 - a submodule, not imported by the package itself

    return confluent_kafka


def drop(client: dict[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """``client`` without the keys that start with one of ``prefixes``."""
    return {k: v for k, v in client.items() if not k.startswith(prefixes)}


def make(cls, conf: dict[str, Any], what: str):
    """``cls(conf)``; a setting librdkafka refuses is a :class:`ConfigError` naming ``what``."""
    try:
        return cls(conf)
    except ck_module().KafkaException as exc:
        raise ConfigError(f"client: {what}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"client: {what}: {exc}") from None
