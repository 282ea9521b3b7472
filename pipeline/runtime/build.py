"""Turn a validated :class:`PipelineConfig` into live components.

Connector modules are imported only when a config names them, so the runtime needs
neither kafka-python nor paho-mqtt unless it uses them.
"""

from __future__ import annotations

import functools
import importlib
from importlib import resources
from pathlib import Path

from prometheus_client import CollectorRegistry

from rnnstream.config import (AnomalyOperatorConfig, AsrOperatorConfig, FileSourceConfig, ForecastOperatorConfig,
                              KafkaSourceConfig, LogkeysOperatorConfig, MqttSourceConfig, NextwordOperatorConfig,
                              OperatorConfig, PipelineConfig, PlotSinkConfig, StdinSourceConfig)
from rnnstream.errors import ConfigError, ModelError
from rnnstream.engine.keys import KeyTable
from rnnstream.operators.anomaly import AnomalyOperator
from rnnstream.operators.base import Operator
from rnnstream.operators.rnn import RnnOperator
from rnnstream.operators.forecast import ForecastOperator
from rnnstream.runtime.loop import OperatorSettings, Pipeline
from rnnstream.engine.session import load_session

__all__ = ["build_pipeline", "build_operator", "resolve_model", "resolve_lm", "load_general_lm", "read_lm_text",
           "BUILTIN_MODELS", "BUILTIN_LMS"]

BUILTIN_MODELS = ("forecast", "anomaly", "asr", "asr-companion", "logkeys", "nextword")
BUILTIN_LMS = ("lm-en",)


def _artefact(spec: str, field: str, names: tuple[str, ...], suffix: str) -> Path:
    """``builtin:NAME`` -> the shipped artefact's path; anything else is a file path."""
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        if name not in names:
            raise ConfigError(f"{field}: unknown builtin {name!r} (have {', '.join(names)})")
        return Path(str(resources.files("rnnstream.models") / "artifacts" / f"{name}{suffix}"))
    return Path(spec)


def resolve_model(spec: str) -> Path:
    """``builtin:NAME`` -> the shipped model's path; anything else is a file path."""
    return _artefact(spec, "model", BUILTIN_MODELS, ".onnx")


def resolve_lm(spec: str) -> Path:
    """``builtin:lm-en`` -> the shipped word LM's path; anything else is a file path."""
    return _artefact(spec, "general_lm", BUILTIN_LMS, ".npz")


@functools.lru_cache(maxsize=4)
def load_general_lm(spec: str):
    """The word LM ``spec`` names, loaded once per process: every ASR operator shares it."""
    from rnnstream.asr.wordlm import WordLM

    path = resolve_lm(spec)
    if not path.is_file():
        raise ConfigError(f"general_lm: no word LM at {path}")
    try:
        return WordLM.load(path)
    except ModelError as exc:
        raise ConfigError(f"general_lm: {exc}") from None


def _session(cfg: OperatorConfig, model: str):
    return load_session(resolve_model(model), provider=cfg.provider, intra_op_threads=cfg.intra_op_threads,
                        inter_op_threads=cfg.inter_op_threads)


def build_operator(cfg: OperatorConfig) -> Operator:
    """The operator a validated operator config describes (its model loaded)."""
    session = _session(cfg, cfg.model)
    if isinstance(cfg, ForecastOperatorConfig):
        return ForecastOperator(session, name=cfg.name)
    if isinstance(cfg, AnomalyOperatorConfig):
        return AnomalyOperator(session, name=cfg.name, threshold=cfg.threshold)
    if isinstance(cfg, AsrOperatorConfig):
        from rnnstream.operators.asr_build import asr_operator

        companion = None if cfg.companion is None else _session(cfg, cfg.companion)
        return asr_operator(session, name=cfg.name, chunk_ms=cfg.chunk_ms, beam=cfg.beam,
                            lm_sentences=_lm_text(cfg), alpha=cfg.lm_weight, beta=cfg.word_bonus,
                            order=cfg.lm_order, blank_penalty=cfg.blank_penalty, companion=companion,
                            companion_weight=cfg.companion_weight, domain_weight=cfg.domain_weight,
                            general_lm=None if cfg.general_lm is None else load_general_lm(cfg.general_lm))
    if isinstance(cfg, LogkeysOperatorConfig):
        from rnnstream.operators.logkeys import LogkeysOperator

        return LogkeysOperator(session, name=cfg.name, top_g=cfg.top_g, top_k=cfg.top_k,
                               content_pattern=cfg.content_pattern, score_end=cfg.score_end)
    if isinstance(cfg, NextwordOperatorConfig):
        from rnnstream.operators.nextword import NextwordOperator

        return NextwordOperator(session, name=cfg.name, top_k=cfg.top_k)
    return RnnOperator(session, name=cfg.name)


def _gives_text(src) -> bool:
    """Whether a source config fills the ``text`` column the text operators read."""
    if isinstance(src, (KafkaSourceConfig, MqttSourceConfig)):
        return src.format == "text"
    if isinstance(src, (FileSourceConfig, StdinSourceConfig)):
        return src.text_field is not None
    return False


def _check_text(cfg: PipelineConfig) -> None:
    readers = [o for o in cfg.operators if isinstance(o, (LogkeysOperatorConfig, NextwordOperatorConfig))]
    plain = [s.name for s in cfg.sources if not _gives_text(s)]
    if readers and plain:
        raise ConfigError(f"sources[{plain[0]}]: operator {readers[0].name} reads text; give this source "
                          "format: text (kafka, mqtt) or text_field (jsonl, csv, stdin)")


def read_lm_text(path: Path, field: str) -> list[str]:
    """The non-empty lines of an LM text file; errors name ``field``."""
    try:
        lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{field}: cannot read {path}: {exc}") from None
    if not lines:
        raise ConfigError(f"{field}: {path} has no text")
    return lines


def _lm_text(cfg: AsrOperatorConfig) -> list[str] | None:
    return None if cfg.lm is None else read_lm_text(cfg.lm, f"operators[{cfg.name}].lm")


def _value_width(operators: list[Operator]) -> int:
    widths = {op.value_shape[-1] for op in operators if op.value_shape}
    if len(widths) > 1:
        raise ConfigError(f"operators: models disagree on the value width ({sorted(widths)})")
    return widths.pop() if widths else 1


def _source(cfg, keys: KeyTable, width: int, registry: CollectorRegistry):
    if cfg.type in ("csv", "jsonl"):
        from rnnstream.connectors.files import FileSource

        return FileSource(cfg, keys, width=width)
    if cfg.type == "stdin":
        from rnnstream.connectors.stdio import StdinSource

        return StdinSource(cfg, keys, width=width)
    module = importlib.import_module(f"rnnstream.connectors.{cfg.type}")
    return module.make_source(cfg, keys, width=width, registry=registry)


def _sink(cfg, registry: CollectorRegistry):
    if cfg.type == "stdout":
        from rnnstream.connectors.stdio import StdoutSink

        return StdoutSink(cfg.name, float_precision=cfg.float_precision)
    if cfg.type == "jsonl":
        from rnnstream.connectors.stdio import JsonlSink

        return JsonlSink(cfg.name, cfg.path, float_precision=cfg.float_precision)
    if cfg.type == "plot":
        from rnnstream.connectors.plot import PlotSink

        return PlotSink(cfg.name, cfg.directory)
    module = importlib.import_module(f"rnnstream.connectors.{cfg.type}")
    return module.make_sink(cfg, registry=registry)


def _dead_letters(cfg: PipelineConfig, registry: CollectorRegistry):
    dl = cfg.dead_letter
    if dl.type == "kafka":
        from rnnstream.connectors.kafka import make_dead_letter_sink

        return make_dead_letter_sink(dl, registry=registry)
    from rnnstream.connectors.stdio import JsonlDeadLetters

    if dl.type == "jsonl" and dl.path is None:
        raise ConfigError("dead_letter.path: required when dead_letter.type is jsonl")
    return JsonlDeadLetters(dl.path if dl.type == "jsonl" else None)


def _sink_filters(cfg: PipelineConfig, operators: list[Operator]) -> dict[str, tuple[str, str]]:
    alerts = {op.name: op.alert_outputs for op in operators}
    filters = {}
    for sink in cfg.sinks:
        when = sink.when if not isinstance(sink, PlotSinkConfig) else None
        if when is None:
            continue
        op, field = when.split(".")
        if field not in alerts.get(op, ()):
            have = ", ".join(f"{o}.{f}" for o, fs in alerts.items() for f in fs) or "none"
            raise ConfigError(f"sinks[{sink.name}].when: {when} is not an alert output (have: {have})")
        filters[sink.name] = (op, field)
    return filters


def build_pipeline(cfg: PipelineConfig, *, registry: CollectorRegistry | None = None) -> Pipeline:
    registry = registry if registry is not None else CollectorRegistry()
    _check_text(cfg)
    keys = KeyTable()
    operators = [build_operator(o) for o in cfg.operators]
    width = _value_width(operators) if operators else max(1, len(cfg.sources[0].value_fields))
    sources = [_source(s, keys, width, registry) for s in cfg.sources]
    sinks = [_sink(s, registry) for s in cfg.sinks]
    settings = {
        o.name: OperatorSettings(o.batching.max_batch, o.batching.max_wait_ms, o.state.max_bytes, o.state.ttl_s)
        for o in cfg.operators
    }
    return Pipeline(
        sink_filters=_sink_filters(cfg, operators),
        sources=sources,
        operators=operators,
        sinks=sinks,
        keys=keys,
        dead_letters=_dead_letters(cfg, registry),
        settings=settings,
        checkpoint_path=str(cfg.checkpoint.path) if cfg.checkpoint.path else None,
        checkpoint_interval_s=cfg.checkpoint.interval_s,
        registry=registry,
        health_stall_s=cfg.daemon.health_stall_s,
        loop_stall_s=cfg.daemon.loop_stall_s,
        retry_backoff_s=cfg.daemon.retry_backoff_s,
        retry_backoff_max_s=cfg.daemon.retry_backoff_max_s,
    )
