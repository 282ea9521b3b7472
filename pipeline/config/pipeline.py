"""The whole pipeline config, and turning a parsed document into it.

A bad value is one :class:`ConfigError` whose message names the field's path; a field that
belongs to another type names the types it belongs to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from rnnstream.config.base import Frozen
from rnnstream.config.operators import OperatorConfig, owners
from rnnstream.config.sinks import DeadLetterConfig, SinkConfig, StdoutSinkConfig
from rnnstream.config.sources import SourceConfig
from rnnstream.errors import ConfigError

__all__ = ["PipelineConfig", "parse_config", "resolve_paths", "DaemonConfig", "MetricsConfig", "CheckpointConfig"]

PATH_FIELDS = ("path", "directory", "lm")  # Path-typed fields, relative to the config file
MODEL_FIELDS = ("model", "companion")  # a path, or builtin:NAME


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
        raise ConfigError(_one_line(exc.errors()[0])) from None


def _one_line(err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "config"
    if err["type"] in ("union_tag_not_found", "union_tag_invalid"):
        tags = err.get("ctx", {}).get("expected_tags", "")
        got = f" (got {err['input'].get('type')!r})" if err["type"] == "union_tag_invalid" else ""
        return f"{loc}.type: {'must be one of ' + tags if tags else 'required'}{got}"
    if err["type"] == "extra_forbidden" and len(err["loc"]) >= 3 and err["loc"][0] == "operators":
        kind, field = err["loc"][-2], err["loc"][-1]
        where = owners(str(field))
        belongs = f" (it belongs to {', '.join(where)} operators)" if where else ""
        return f"{loc}: not a field of a {kind} operator{belongs}"
    got = f" (got {err['input']!r})" if err["type"] not in ("missing",) and not isinstance(err["input"], dict) else ""
    return f"{loc}: {err['msg']}{got}"


def resolve_paths(cfg: PipelineConfig, base: Path) -> PipelineConfig:
    """Relative paths in a config file are relative to the file, not the working directory:
    every file path (``path``, ``directory``, ``lm``) and every model (``model``, ``companion``)."""

    def fix(item: BaseModel) -> BaseModel:
        updates: dict[str, Any] = {}
        for name in PATH_FIELDS:
            value = getattr(item, name, None)
            if isinstance(value, Path) and not value.is_absolute():
                updates[name] = base / value
        for name in MODEL_FIELDS:
            value = getattr(item, name, None)
            if isinstance(value, str) and not value.startswith("builtin:") and not Path(value).is_absolute():
                updates[name] = str(base / value)
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
