"""Sink and dead-letter configs, one model per ``type``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field

from rnnstream.config.base import Frozen
from rnnstream.config.sources import KafkaLibrary

__all__ = ["SinkConfig", "StdoutSinkConfig", "JsonlSinkConfig", "KafkaSinkConfig", "MqttSinkConfig", "PlotSinkConfig",
           "DeadLetterConfig"]


WHEN = Field(None, pattern=r"^[^.]+\.[^.]+$", description="write only rows where this alert output is true, "
             "as operator.field (e.g. logkeys.anomaly or anomaly.alert); None: every row")
FLOAT_PRECISION = Field(None, ge=0, le=17, description="decimals to round output floats to; None: every float "
                        "keeps round-trip precision (float32 outputs as float32)")


class StdoutSinkConfig(Frozen):
    type: Literal["stdout"]
    name: str = "stdout"
    float_precision: int | None = FLOAT_PRECISION
    when: str | None = WHEN


class JsonlSinkConfig(Frozen):
    type: Literal["jsonl"]
    name: str
    path: Path = Field(description="any writable path: a file (appended, fsynced at commits), a FIFO, /dev/stdout")
    float_precision: int | None = FLOAT_PRECISION
    when: str | None = WHEN


class KafkaSinkConfig(Frozen):
    """Keyed JSON rows, acks=all with retries; headers carry the source topic/partition/offset."""

    type: Literal["kafka"]
    name: str
    topic: str
    bootstrap_servers: list[str] = Field(min_length=1)
    library: KafkaLibrary = "auto"
    flush_timeout_s: float = Field(60.0, gt=0, description="longest a commit waits for outputs to be acknowledged")
    source_headers: bool = Field(True, description="content type and source triple as headers too (the row "
                                 "carries the triple either way); off, a message costs the producer about half")
    client: dict[str, Any] = Field(default_factory=dict)
    when: str | None = WHEN


class MqttSinkConfig(Frozen):
    type: Literal["mqtt"]
    name: str
    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    topic: str = Field(description="may contain {key}")
    qos: int = Field(1, ge=0, le=2)
    flush_timeout_s: float = Field(30.0, gt=0)
    client: dict[str, Any] = Field(default_factory=dict)
    when: str | None = WHEN


class PlotSinkConfig(Frozen):
    type: Literal["plot"]
    name: str = "plot"
    directory: Path


SinkConfig = Annotated[
    Union[StdoutSinkConfig, JsonlSinkConfig, KafkaSinkConfig, MqttSinkConfig, PlotSinkConfig],
    Field(discriminator="type"),
]


class DeadLetterConfig(Frozen):
    type: Literal["jsonl", "stderr", "kafka"] = "stderr"
    path: Path | None = None
    topic: str | None = None
    bootstrap_servers: list[str] = Field(default_factory=list)
    library: KafkaLibrary = "auto"
    max_payload_bytes: int = Field(900_000, gt=0, description="longer original payloads are truncated (header says so)")
    client: dict[str, Any] = Field(default_factory=dict)


