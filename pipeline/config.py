"""Pipeline configuration: frozen pydantic models, one per section of the YAML file.

The CLI reads the file; everything else receives a validated :class:`PipelineConfig`.
A bad value is one :class:`ConfigError` whose message names the field's path.

>>> cfg = parse_config({"sources": [{"type": "csv", "name": "s", "path": "x.csv"}],
...                     "operators": [{"type": "forecast", "name": "f", "model": "builtin:forecast"}]})
>>> cfg.operators[0].batching.max_batch
1024
>>> parse_config({"sources": [{"type": "csv", "name": "s", "path": "x.csv", "speed": -1}]})
Traceback (most recent call last):
...
rnnstream.errors.ConfigError: sources.0.csv.speed: Input should be greater than or equal to 0 (got -1)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rnnstream.asr.beam import DEFAULT_BLANK_PENALTY, DEFAULT_LM_WEIGHT, DEFAULT_WORD_BONUS
from rnnstream.asr.rescore import DEFAULT_COMPANION_WEIGHT
from rnnstream.errors import ConfigError

__all__ = [
    "PipelineConfig",
    "parse_config",
    "load_config_file",
    "SourceConfig",
    "SinkConfig",
    "OperatorConfig",
    "BatchingConfig",
    "StateConfig",
    "MetricsConfig",
    "CheckpointConfig",
    "DeadLetterConfig",
    "DaemonConfig",
    "FileSourceConfig",
    "KafkaSourceConfig",
    "KafkaSinkConfig",
    "MqttSourceConfig",
    "MqttSinkConfig",
]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _RecordFields(Frozen):
    key_field: str = "key"
    ts_field: str = "ts"
    value_fields: list[str] = Field(default_factory=lambda: ["value"], min_length=1)
    max_record_bytes: int = Field(65536, gt=0, description="larger records are dead-lettered as oversized")
    batch_records: int = Field(4096, gt=0, description="records decoded per micro-batch")


class FileSourceConfig(_RecordFields):
    """Replay a CSV or JSONL file (as fast as possible, or at ``speed`` x recorded pace)."""

    type: Literal["csv", "jsonl"]
    name: str
    path: Path
    speed: float = Field(0.0, ge=0, description="0 = as fast as possible; 1 = recorded pace; 10 = ten times faster")


class StdinSourceConfig(_RecordFields):
    """JSON lines (or CSV with ``format: csv``) from standard input."""

    type: Literal["stdin"]
    name: str = "stdin"
    format: Literal["jsonl", "csv"] = "jsonl"


KafkaLibrary = Literal["kafka-python", "confluent"]


class KafkaSourceConfig(_RecordFields):
    """A consumer-group member; its state goes to a compacted changelog topic with the offsets."""

    type: Literal["kafka"]
    name: str
    topics: list[str] = Field(min_length=1)
    bootstrap_servers: list[str] = Field(min_length=1)
    group_id: str
    library: KafkaLibrary = Field("kafka-python", description="kafka-python (pure Python) or confluent (librdkafka)")
    format: Literal["json", "text", "audio"] = "json"
    sample_rate: int | None = Field(None, gt=0, description="audio: reject chunks whose sample-rate header differs")
    max_in_flight: int = Field(50000, gt=0, description="records handed out since the last commit before pausing")
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


SourceConfig = Annotated[
    Union[FileSourceConfig, StdinSourceConfig, KafkaSourceConfig, MqttSourceConfig], Field(discriminator="type")
]


class BatchingConfig(Frozen):
    max_batch: int = Field(1024, gt=0, description="most keys per ONNX Runtime call")
    max_wait_ms: float = Field(5.0, ge=0, description="longest a record waits for its batch to fill")


class StateConfig(Frozen):
    max_bytes: int | None = Field(None, gt=0, description="LRU bound on live state bytes")
    ttl_s: float | None = Field(None, gt=0, description="drop keys idle this long in event time")


class OperatorConfig(Frozen):
    type: Literal["forecast", "anomaly", "rnn", "asr"]
    name: str
    model: str = Field(description="path to a .onnx/.json, or builtin:forecast / builtin:anomaly / builtin:asr "
                       "/ builtin:asr-companion")
    provider: Literal["auto", "cpu", "cuda"] = "auto"
    intra_op_threads: int = Field(1, gt=0)
    inter_op_threads: int = Field(1, gt=0)
    batching: BatchingConfig = BatchingConfig()
    state: StateConfig = StateConfig()
    threshold: float | None = Field(None, ge=0, le=1, description="anomaly alert threshold (anomaly only)")
    chunk_ms: float = Field(100.0, gt=0, description="audio chunk per event, a multiple of 20 ms (asr only)")
    beam: int | None = Field(None, ge=1, description="prefix beam search for finals with this many beams (asr only)")
    lm: Path | None = Field(None, description="text file, one sentence per line: word n-gram LM + lexicon (asr only)")
    lm_order: int = Field(3, ge=1, le=5, description="n-gram order of the lm (asr with lm)")
    lm_weight: float = Field(DEFAULT_LM_WEIGHT, ge=0, description="LM weight alpha (asr with lm)")
    word_bonus: float = Field(DEFAULT_WORD_BONUS, description="score added per word, beta (asr with lm)")
    blank_penalty: float = Field(DEFAULT_BLANK_PENALTY, ge=0, allow_inf_nan=False,
                                 description="nats taken from the blank per frame (asr with lm)")
    companion: str | None = Field(None, description="second ASR model that also decodes finals, e.g. "
                                  "builtin:asr-companion (asr with beam or lm)")
    companion_weight: float = Field(DEFAULT_COMPANION_WEIGHT, ge=0, lt=1,
                                    description="the companion's share of the acoustic score (asr with companion)")


class StdoutSinkConfig(Frozen):
    type: Literal["stdout"]
    name: str = "stdout"


class JsonlSinkConfig(Frozen):
    type: Literal["jsonl"]
    name: str
    path: Path


class KafkaSinkConfig(Frozen):
    """Keyed JSON rows, acks=all with retries; headers carry the source topic/partition/offset."""

    type: Literal["kafka"]
    name: str
    topic: str
    bootstrap_servers: list[str] = Field(min_length=1)
    library: KafkaLibrary = "kafka-python"
    flush_timeout_s: float = Field(60.0, gt=0, description="longest a commit waits for outputs to be acknowledged")
    client: dict[str, Any] = Field(default_factory=dict)


class MqttSinkConfig(Frozen):
    type: Literal["mqtt"]
    name: str
    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    topic: str = Field(description="may contain {key}")
    qos: int = Field(1, ge=0, le=2)
    flush_timeout_s: float = Field(30.0, gt=0)
    client: dict[str, Any] = Field(default_factory=dict)


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
    library: KafkaLibrary = "kafka-python"
    max_payload_bytes: int = Field(900_000, gt=0, description="longer original payloads are truncated (header says so)")
    client: dict[str, Any] = Field(default_factory=dict)


class DaemonConfig(Frozen):
    """Long-running behaviour: health, retries after broker failures."""

    health_stall_s: float = Field(60.0, gt=0, description="/healthz fails when no commit for this long while lagging")
    loop_stall_s: float = Field(30.0, gt=0, description="/healthz fails when the loop has not run for this long")
    retry_backoff_s: float = Field(0.5, gt=0, description="first wait after a broker failure; doubles per failure")
    retry_backoff_max_s: float = Field(30.0, gt=0)


class MetricsConfig(Frozen):
    enabled: bool = True
    address: str = Field("127.0.0.1", description="bind address; 0.0.0.0 exposes it beyond this host")
    port: int = Field(9464, ge=0, lt=65536, description="0 picks a free port")


class CheckpointConfig(Frozen):
    path: Path | None = Field(None, description="state + source positions file; None disables")
    interval_s: float = Field(10.0, gt=0)


class PipelineConfig(Frozen):
    sources: list[SourceConfig] = Field(min_length=1)
    operators: list[OperatorConfig] = Field(default_factory=list)
    sinks: list[SinkConfig] = Field(default_factory=lambda: [StdoutSinkConfig(type="stdout")])
    dead_letter: DeadLetterConfig = DeadLetterConfig()
    metrics: MetricsConfig = MetricsConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    daemon: DaemonConfig = DaemonConfig()

    def model_post_init(self, _: Any) -> None:
        for section in ("sources", "operators", "sinks"):
            names = [item.name for item in getattr(self, section)]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ConfigError(f"{section}: duplicate name {dup[0]!r}")
        kafka = [s for s in self.sources if s.type == "kafka"]
        if kafka and len(self.sources) > 1:
            raise ConfigError(
                "sources: a Kafka source must be the only source (its keys' state follows its partitions); "
                "run one pipeline per source"
            )
        if kafka and self.checkpoint.path is not None:
            raise ConfigError("checkpoint.path: a Kafka source keeps its state in its changelog topic; remove it")
        if self.dead_letter.type == "kafka" and (not self.dead_letter.topic or not self.dead_letter.bootstrap_servers):
            raise ConfigError("dead_letter: type kafka needs topic and bootstrap_servers")


def parse_config(data: Any) -> PipelineConfig:
    """Validate a parsed YAML/JSON document; raise one :class:`ConfigError` naming the field."""
    if not isinstance(data, dict):
        raise ConfigError("config: the top level must be a mapping")
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        got = f" (got {err['input']!r})" if err["type"] not in ("missing",) and not isinstance(err["input"], dict) else ""
        raise ConfigError(f"{loc}: {err['msg']}{got}") from None


def load_config_file(path: str | Path) -> PipelineConfig:
    """Read and validate a YAML config file."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config {path}{where}: not valid YAML") from None
    cfg = parse_config(data)
    return _resolve_paths(cfg, path.parent)


def _resolve_paths(cfg: PipelineConfig, base: Path) -> PipelineConfig:
    """Relative paths in a config file are relative to the file, not the working directory."""

    def fix(item: BaseModel) -> BaseModel:
        updates = {}
        for name in ("path", "directory"):
            value = getattr(item, name, None)
            if isinstance(value, Path) and not value.is_absolute():
                updates[name] = base / value
        model = getattr(item, "model", None)
        if isinstance(model, str) and not model.startswith("builtin:") and not Path(model).is_absolute():
            updates["model"] = str(base / model)
        return item.model_copy(update=updates) if updates else item

    return cfg.model_copy(
        update={
            "sources": [fix(s) for s in cfg.sources],
            "operators": [fix(o) for o in cfg.operators],
            "sinks": [fix(s) for s in cfg.sinks],
            "dead_letter": fix(cfg.dead_letter),
            "checkpoint": fix(cfg.checkpoint),
        }
    )
