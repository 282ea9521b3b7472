"""Source configs: files, standard input, Kafka, MQTT and the microphone, one model per ``type``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from rnnstream.config.base import Frozen
from rnnstream.errors import ConfigError

__all__ = ["SourceConfig", "FileSourceConfig", "StdinSourceConfig", "KafkaSourceConfig", "MqttSourceConfig",
           "MicrophoneSourceConfig", "KafkaLibrary"]


class _RecordFields(Frozen):
    key_field: str = "key"
    ts_field: str = "ts"
    value_fields: list[str] = Field(default_factory=lambda: ["value"],
                                    description="default [value]; [] (no values) when text_field is set")
    max_record_bytes: int = Field(65536, gt=0, description="larger records are dead-lettered as oversized")
    max_text_bytes: int = Field(16384, gt=0, description="longer texts (UTF-8 bytes) are dead-lettered as oversized")
    batch_records: int = Field(4096, gt=0, description="records decoded per micro-batch")

    def model_post_init(self, _: Any) -> None:
        # Text-only records have no value: value_fields may then be empty (values are zeros).
        text = getattr(self, "text_field", None)
        name = getattr(self, "name", "")
        if not self.value_fields and text is None and getattr(self, "format", "json") in ("json", "jsonl", "csv"):
            hint = " (or set text_field to read text only)" if "text_field" in type(self).model_fields else ""
            raise ConfigError(f"sources[{name}].value_fields: needs at least one field{hint}")
        if text is not None and text in (self.key_field, self.ts_field, *self.value_fields):
            raise ConfigError(f"sources[{name}].text_field: {text!r} is already the key, timestamp or a value field")


class _TextFields(_RecordFields):
    text_field: str | None = Field(None, description="field read as text into the rows' text column")

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: Any) -> Any:
        # A text record ({"key": "h1", "line": "..."}) has no value: with text_field set and
        # value_fields not given, read none (values are zeros) rather than demand a "value".
        if isinstance(data, dict) and data.get("text_field") is not None and "value_fields" not in data:
            return {**data, "value_fields": []}
        return data


class FileSourceConfig(_TextFields):
    """Replay a CSV or JSONL file (as fast as possible, or at ``speed`` x recorded pace)."""

    type: Literal["csv", "jsonl"]
    name: str
    path: Path
    speed: float = Field(0.0, ge=0, description="0 = as fast as possible; 1 = recorded pace; 10 = ten times faster")


class StdinSourceConfig(_TextFields):
    """JSON lines (or CSV with ``format: csv``) from standard input."""

    type: Literal["stdin"]
    name: str = "stdin"
    format: Literal["jsonl", "csv"] = "jsonl"


KafkaLibrary = Literal["auto", "kafka-python", "confluent"]
"""``auto``: confluent-kafka (librdkafka, the faster) when it is installed and no ``client``
options are given (those are in the kafka-python dialect of earlier releases), else kafka-python."""


class KafkaSourceConfig(_RecordFields):
    """A consumer-group member; its state goes to a compacted changelog topic with the offsets."""

    type: Literal["kafka"]
    name: str
    topics: list[str] = Field(min_length=1)
    bootstrap_servers: list[str] = Field(min_length=1)
    group_id: str
    library: KafkaLibrary = Field("auto", description="auto, kafka-python (pure Python) or confluent (librdkafka)")
    format: Literal["json", "text", "audio"] = "json"
    sample_rate: int | None = Field(None, gt=0, description="audio: reject chunks whose sample-rate header differs")
    max_in_flight: int = Field(50000, gt=0, description="uncommitted records before pausing (a commit starts at half)")
    changelog_topic: str | None = Field(None, description="default: <group_id>-changelog")
    changelog_partitions: int | None = Field(None, gt=0, description="default: the most partitions of any input topic")
    changelog_replication: int = Field(
        -1, ge=-1, description="replication factor when rnnstream creates the topic; -1: the broker's default"
    )
    changelog_chunk_bytes: int = Field(512 * 1024, ge=1024, le=8 * 1024 * 1024)
    start: Literal["earliest", "latest"] = Field("earliest", description="where a partition with no state starts")
    commit_timeout_s: float = Field(60.0, gt=0, description="longest a changelog write may wait for acks")
    client: dict[str, Any] = Field(default_factory=dict, description="passed to the Kafka client (SSL/SASL...)")

    @property
    def changelog(self) -> str:
        return self.changelog_topic or f"{self.group_id}-changelog"


class MqttSourceConfig(_RecordFields):
    """QoS 1 subscriptions; a wildcard level of the topic names the key. State: the checkpoint file."""

    type: Literal["mqtt"]
    name: str
    format: Literal["json", "text"] = Field("json", description="text: the whole payload is one UTF-8 text event")
    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    topics: list[str] = Field(min_length=1)
    key_from_topic: int | None = Field(
        None, ge=0, description="topic level (0-based) that names the key; None: the whole topic"
    )
    qos: int = Field(1, ge=0, le=2)
    client_id: str | None = Field(None, description="set it (with clean_session false) to get queued messages back")
    clean_session: bool = True
    keepalive_s: int = Field(30, gt=0)
    queue_size: int = Field(100000, gt=0, description="received messages buffered before the client blocks")
    client: dict[str, Any] = Field(default_factory=dict, description="username, password, tls (paho tls_set kwargs)")


class MicrophoneSourceConfig(Frozen):
    """A PortAudio input device as one live audio stream: 16 kHz mono chunks of ``chunk_ms``."""

    type: Literal["microphone"]
    name: str = "mic"
    key: str = Field("mic", description="the stream key of the audio")
    device: str | int | None = Field(None, description="PortAudio index or name; None: the default input")
    capture_rate: int | None = Field(None, gt=0, description="Hz; None: 16 kHz if the device takes it, else its own")
    channels: int | None = Field(None, gt=0, description="None: the fewest the device takes (downmixed to mono)")
    chunk_ms: float = Field(100.0, gt=0, description="audio per record; the asr operator's chunk_ms")
    buffer_s: float = Field(20.0, gt=0, description="ring buffer between the audio thread and the pipeline")
    latency: Literal["low", "high"] | float = Field("high", description="PortAudio buffering: low, high or seconds")
    max_seconds: float | None = Field(None, gt=0, description="end the stream after this much audio; None: at stop")


SourceConfig = Annotated[
    Union[FileSourceConfig, StdinSourceConfig, KafkaSourceConfig, MqttSourceConfig, MicrophoneSourceConfig],
    Field(discriminator="type"),
]


