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
>>> parse_config({"sources": [{"type": "stdin"}],
...               "operators": [{"type": "forecast", "name": "f", "model": "builtin:forecast", "beam": 8}]})
Traceback (most recent call last):
...
rnnstream.errors.ConfigError: operators.0.forecast.beam: not a field of a forecast operator (it belongs to asr operators)
"""

from __future__ import annotations

from rnnstream.config.operators import (AnomalyOperatorConfig, AsrOperatorConfig, BatchingConfig,
                                        ForecastOperatorConfig, LogkeysOperatorConfig, NextwordOperatorConfig,
                                        OperatorConfig, RnnOperatorConfig, StateConfig)
from rnnstream.config.pipeline import (CheckpointConfig, DaemonConfig, MetricsConfig, PipelineConfig, parse_config,
                                       resolve_paths)
from rnnstream.config.sinks import (DeadLetterConfig, JsonlSinkConfig, KafkaSinkConfig, MqttSinkConfig,
                                    PlotSinkConfig, SinkConfig, StdoutSinkConfig)
from rnnstream.config.sources import (FileSourceConfig, KafkaSourceConfig, MicrophoneSourceConfig, MqttSourceConfig,
                                      SourceConfig, StdinSourceConfig)

__all__ = [
    "PipelineConfig", "parse_config", "resolve_paths",
    "SourceConfig", "FileSourceConfig", "StdinSourceConfig", "KafkaSourceConfig", "MqttSourceConfig",
    "MicrophoneSourceConfig",
    "OperatorConfig", "ForecastOperatorConfig", "AnomalyOperatorConfig", "RnnOperatorConfig", "AsrOperatorConfig",
    "LogkeysOperatorConfig", "NextwordOperatorConfig", "BatchingConfig", "StateConfig",
    "SinkConfig", "StdoutSinkConfig", "JsonlSinkConfig", "KafkaSinkConfig", "MqttSinkConfig", "PlotSinkConfig",
    "DeadLetterConfig", "MetricsConfig", "CheckpointConfig", "DaemonConfig",
]
