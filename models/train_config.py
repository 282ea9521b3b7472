"""What a training run is: one validated config, torch-free so the CLI can check it first.

Every field that changes the trained weights is here, so the config (recorded in the
manifest) plus the data it names reproduce a model. Run controls that must not change the
result (``--resume``, stopping early to simulate a kill, the progress bar) are arguments of
:func:`rnnstream.models.trainer.train` instead.

>>> cfg = parse_train_config({"task": "anomaly", "synthetic": {"seed": 3}, "out": "a.onnx"})
>>> cfg.horizon_steps, cfg.cell, cfg.synthetic.seed
(1, 'gru', 3)
>>> parse_train_config({"task": "forecast", "out": "f.onnx", "synthetic": {}, "hidden": 0})
Traceback (most recent call last):
...
rnnstream.errors.ConfigError: hidden: Input should be greater than or equal to 1 (got 0)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rnnstream.errors import ConfigError

__all__ = ["TrainConfig", "SyntheticSpec", "LikelihoodSpec", "parse_train_config", "config_digest"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SyntheticSpec(_Frozen):
    """Training data from the project's generator (:mod:`rnnstream.models.synthetic`)."""

    seed: int = 0
    keys: int = Field(48, ge=1)
    steps: int = Field(4000, ge=100)
    step_s: float = Field(300.0, gt=0)
    anomaly_rate: float = Field(0.001, ge=0)
    recipe: Literal["basic", "mixed"] = Field("mixed", description="basic: one generator setting; mixed: several")


class LikelihoodSpec(_Frozen):
    """Settings of the previous anomaly detector, kept so older configs still parse: the
    operator reads only ``warmup`` and ``hold`` from them; ``detector`` holds the rest."""

    threshold: float = Field(0.99, gt=0, le=1)
    warmup: int = Field(50, ge=0)
    long_alpha: float = Field(0.002, gt=0, le=1)
    short_alpha: float = Field(0.2, gt=0, le=1)
    hold: int = Field(0, ge=0, description="events a key stays quiet after an alert (operators that support it)")


class TrainConfig(_Frozen):
    task: Literal["forecast", "anomaly"]
    out: str = Field(description="path of the exported .onnx (its .json manifest is written beside it)")
    name: str | None = None
    data: str | None = Field(None, description="CSV/JSONL file or directory of them")
    synthetic: SyntheticSpec | None = None
    time_col: str | None = None
    key_col: str | None = None
    value_cols: list[str] | None = None

    cell: Literal["rnn", "lstm", "gru"] = "gru"
    layers: int = Field(1, ge=1, le=4)
    hidden: int = Field(48, ge=1, le=1024)
    dropout: float = Field(0.0, ge=0, lt=1)

    horizon: int | None = Field(None, ge=1, description="default 12 for forecast, 1 for anomaly")
    quantiles: list[float] = Field(default_factory=lambda: [0.1, 0.5, 0.9], min_length=2)
    alpha_min: float = Field(0.005, gt=0, le=1)
    time_features: list[Literal["day", "week"]] = Field(
        default_factory=list, description="extra (sin, cos) inputs per cycle; the runtime must supply them too"
    )

    window: int = Field(64, ge=2, description="truncated-BPTT window (steps per optimiser step)")
    segment_windows: int = Field(8, ge=1, description="windows per lane; state is carried across them")
    burn_in: int = Field(32, ge=0, description="unscored steps before a lane that starts mid-series")
    val_fraction: float = Field(0.2, ge=0, lt=1, description="tail of each series held out for validation")

    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-3, gt=0)
    lr_schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: int = Field(50, ge=0)
    clip_norm: float = Field(1.0, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    max_steps: int = Field(2000, ge=1)
    eval_every: int = Field(100, ge=1)
    patience: int = Field(6, ge=1, description="evaluations without improvement before stopping")
    seed: int = 0
    threads: int = Field(1, ge=1, description="torch CPU threads (results are deterministic per count)")

    checkpoint_dir: str | None = None
    checkpoint_every: int = Field(200, ge=1)
    plot: str | None = Field(None, description="loss-curve PNG; default: <out stem>_loss.png")

    likelihood: LikelihoodSpec | None = None
    detector: dict[str, Any] | None = Field(
        None, description="anomaly detector settings for the manifest's features.detector "
        "(rnnstream.operators.anomaly_settings.DetectorSettings; unset fields keep its tuned defaults)"
    )

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if (self.data is None) == (self.synthetic is None):
            raise ValueError("give exactly one of data (a path) or synthetic (generator settings)")
        qs = self.quantiles
        if sorted(qs) != qs or len(set(qs)) != len(qs) or not all(0 < q < 1 for q in qs):
            raise ValueError("quantiles must be strictly increasing and inside (0, 1)")
        if self.task == "anomaly" and (qs[0] >= 0.5 or qs[-1] <= 0.5):
            raise ValueError("an anomaly model needs quantiles on both sides of 0.5")
        if self.likelihood is not None and self.task != "anomaly":
            raise ValueError("likelihood settings only apply to task anomaly")
        if self.detector is not None:
            if self.task != "anomaly":
                raise ValueError("detector settings only apply to task anomaly")
            from rnnstream.errors import ModelError
            from rnnstream.operators.anomaly_settings import DetectorSettings

            try:
                DetectorSettings.from_mapping(self.detector)
            except ModelError as exc:
                raise ValueError(str(exc)) from None
        return self

    @property
    def horizon_steps(self) -> int:
        return self.horizon or (12 if self.task == "forecast" else 1)

    @property
    def model_name(self) -> str:
        return self.name or f"rnnstream-{self.task}"

    def weights_dict(self) -> dict[str, Any]:
        """The fields that decide the trained weights (outputs and bookkeeping excluded)."""
        skip = {"out", "name", "checkpoint_dir", "checkpoint_every", "plot", "likelihood", "detector"}
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in skip}


def config_digest(cfg: TrainConfig) -> str:
    """Hash of :meth:`TrainConfig.weights_dict`: a checkpoint only resumes the same run."""
    blob = json.dumps(cfg.weights_dict(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def parse_train_config(obj: dict[str, Any]) -> TrainConfig:
    """Validate a mapping (from YAML or flags); errors name the field."""
    try:
        return TrainConfig.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        got = f" (got {err['input']!r})" if err["type"] != "missing" and "input" in err and where != "config" else ""
        raise ConfigError(f"{where}: {err['msg'].removeprefix('Value error, ')}{got}") from None
