"""Operator configs: a discriminated union on ``type``, one model per kind of operator.

Each type carries only its own fields, so a field of another type is an error that names it:

>>> from pydantic import TypeAdapter
>>> ops = TypeAdapter(OperatorConfig)
>>> ops.validate_python({"type": "asr", "name": "a", "model": "builtin:asr", "beam": 8}).beam
8
>>> owners("beam")
['asr']
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator

from rnnstream.asr.beam import DEFAULT_BLANK_PENALTY, DEFAULT_LM_WEIGHT, DEFAULT_WORD_BONUS
from rnnstream.asr.rescore import DEFAULT_COMPANION_WEIGHT
from rnnstream.config.base import Frozen
from rnnstream.errors import ConfigError

__all__ = ["OperatorConfig", "ForecastOperatorConfig", "AnomalyOperatorConfig", "RnnOperatorConfig",
           "AsrOperatorConfig", "LogkeysOperatorConfig", "NextwordOperatorConfig", "BatchingConfig", "StateConfig", "OPERATOR_CONFIGS", "owners"]


class BatchingConfig(Frozen):
    max_batch: int = Field(1024, gt=0, description="most keys per ONNX Runtime call")
    max_wait_ms: float = Field(5.0, ge=0, description="longest a record waits for its batch to fill")


class StateConfig(Frozen):
    max_bytes: int | None = Field(None, gt=0, description="LRU bound on live state bytes")
    ttl_s: float | None = Field(None, gt=0, description="drop keys idle this long in event time")


class _Operator(Frozen):
    """Fields every operator has: its model, where it runs, batching and state bounds."""

    name: str
    model: str = Field(description="path to a .onnx/.json, or builtin:forecast / builtin:anomaly / builtin:asr "
                       "/ builtin:asr-companion / builtin:logkeys / builtin:nextword")
    provider: Literal["auto", "cpu", "cuda"] = "auto"
    intra_op_threads: int = Field(1, gt=0)
    inter_op_threads: int = Field(1, gt=0)
    batching: BatchingConfig = BatchingConfig()
    state: StateConfig = StateConfig()


class ForecastOperatorConfig(_Operator):
    """p10/p50/p90 for the next steps of each key's series."""

    type: Literal["forecast"]


class AnomalyOperatorConfig(_Operator):
    """Anomaly likelihood per event; ``alert`` when it passes the threshold."""

    type: Literal["anomaly"]
    threshold: float | None = Field(None, ge=0, le=1, description="alert threshold (default: the model's)")


class RnnOperatorConfig(_Operator):
    """Any exported model run as is: each event is one step."""

    type: Literal["rnn"]


class AsrOperatorConfig(_Operator):
    """Streaming speech recognition: audio chunks in, partial and final text out."""

    type: Literal["asr"]
    chunk_ms: float = Field(100.0, gt=0, description="audio chunk per event, a multiple of 20 ms")
    beam: int | None = Field(None, ge=1, description="prefix beam search for finals with this many beams")
    general_lm: str | None = Field("builtin:lm-en", description="word LM for finals (builtin:lm-en, a .npz from "
                                   "`rnnstream train lm`, or null for greedy finals)")
    lm: Path | None = Field(None, description="text file, one sentence per line: a domain n-gram LM, "
                            "interpolated with general_lm")
    domain_weight: float = Field(0.5, gt=0, lt=1, description="the lm's share beside general_lm")
    lm_order: int = Field(3, ge=1, le=5, description="n-gram order of the lm")
    lm_weight: float = Field(DEFAULT_LM_WEIGHT, ge=0, description="LM weight alpha (with lm)")
    word_bonus: float = Field(DEFAULT_WORD_BONUS, description="score added per word, beta (with lm)")
    blank_penalty: float = Field(DEFAULT_BLANK_PENALTY, ge=0, allow_inf_nan=False,
                                 description="nats taken from the blank per frame (with lm)")
    companion: str | None = Field(None, description="second ASR model that also decodes finals, e.g. "
                                  "builtin:asr-companion (needs beam or lm)")
    companion_weight: float = Field(DEFAULT_COMPANION_WEIGHT, ge=0, lt=1,
                                    description="the companion's share of the acoustic score")

    @field_validator("general_lm", mode="before")
    @classmethod
    def _none_word(cls, v):
        # "none" from a flag or an env-free YAML string means greedy finals, like null.
        return None if isinstance(v, str) and v.strip().lower() in ("none", "") else v

    def model_post_init(self, _: Any) -> None:
        # The one place this rule lives: configs, flags and the library all build this model.
        if self.companion is not None and self.beam is None and self.lm is None and self.general_lm is None:
            raise ConfigError(f"operators[{self.name}].companion: needs beam-decoded finals (set beam or lm)")


class LogkeysOperatorConfig(_Operator):
    """Raw log lines in (the source's text), DeepLog-style anomaly per event out."""

    type: Literal["logkeys"]
    model: str = Field("builtin:logkeys", description="a logkeys model (default builtin:logkeys, HDFS)")
    top_g: int | None = Field(None, ge=1, description="an event outside the top g expected templates is an "
                              "anomaly (default: the model's, chosen on validation)")
    top_k: int | None = Field(None, ge=1, description="expected templates listed per event (default: the model's)")
    content_pattern: str | None = Field(None, description="regex whose (?P<content>...) group is the message "
                                        "after the line header (default: the model's)")
    score_end: bool = Field(True, description="on END, flag a session that ends where the model did not expect")


class NextwordOperatorConfig(_Operator):
    """Words or chunks of text in, surprisal and the expected next words out."""

    type: Literal["nextword"]
    model: str = Field("builtin:nextword", description="a nextword model (default builtin:nextword)")
    top_k: int | None = Field(None, ge=1, description="next words listed per event (default: the model's)")


OperatorConfig = Annotated[
    Union[ForecastOperatorConfig, AnomalyOperatorConfig, RnnOperatorConfig, AsrOperatorConfig,
          LogkeysOperatorConfig, NextwordOperatorConfig],
    Field(discriminator="type"),
]

OPERATOR_CONFIGS: dict[str, type[_Operator]] = {
    "forecast": ForecastOperatorConfig, "anomaly": AnomalyOperatorConfig, "rnn": RnnOperatorConfig,
    "asr": AsrOperatorConfig, "logkeys": LogkeysOperatorConfig, "nextword": NextwordOperatorConfig,
}


def owners(field: str) -> list[str]:
    """The operator types that have ``field`` (for errors about a field on the wrong type)."""
    return [t for t, cls in OPERATOR_CONFIGS.items() if field in cls.model_fields]
