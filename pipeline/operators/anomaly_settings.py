"""The anomaly detector's settings: what the model manifest's ``features.detector`` holds.

Every number the detector uses is here, with the value tuned on the NAB development subset
as its default, so a manifest describes its detector completely and an older manifest
(only ``features.likelihood``) still loads: its ``warmup`` and ``hold`` are honoured, the
rest of that section described the previous detector and is ignored.

>>> s = DetectorSettings.from_features({"likelihood": {"warmup": 7}, "detector": {"hold": 20}})
>>> s.warmup, s.hold, s.threshold
(7, 20, 0.5)
>>> DetectorSettings.from_mapping({"holdd": 3})
Traceback (most recent call last):
...
rnnstream.errors.ModelError: features.detector: unknown setting(s) ['holdd']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnnstream.errors import ModelError

__all__ = ["DetectorSettings"]


@dataclass(frozen=True)
class DetectorSettings:
    """Settings of the six evidence channels, their fusion and the alert hold-off.

    Evidence is in nines (``-log10`` of a tail probability). ``res_*``: the network's
    prediction residual; ``sp_*``: values outside the range seen so far; ``disp_*``: the
    short-term step size; ``ctx_*``: novelty of the (previous, current) value-level
    transition, and of the (predicted, actual) one for ``nnctx``; ``stuck_*``: a repeated
    value. ``w_*`` weigh each channel before the maximum is taken; ``scale`` is the fused
    evidence that scores 0.5 and ``threshold`` the score that alerts.
    """

    # a key is scored from its warmup-th event, at full weight from its mature-th
    warmup: int = 150
    mature: int = 450
    # residual of the network's one-step prediction, corrected by a seasonal lag when the
    # residual repeats itself (an LSTM does not count to 288 to foresee a daily jump)
    res_clip: float = 50.0
    res_lags: tuple[int, ...] = (12, 24, 48, 96, 144, 168, 288, 336)
    res_alpha: float = 0.003
    res_rho: float = 0.5
    res_short: float = 0.5
    res_lo: float = -7.0
    res_hi: float = 5.0
    res_bins: int = 48
    res_decay: float = 0.005
    res_extrap: float = 1.0
    # values beyond the range seen so far (widened by sp_tol of it)
    sp_tol: float = 0.05
    sp_base: float = 4.0
    sp_gain: float = 10.0
    # step-size level against its own history
    disp_alpha: float = 0.1
    disp_lo: float = -10.0
    disp_hi: float = 4.0
    disp_bins: int = 56
    disp_decay: float = 0.0005
    disp_extrap: float = 1.0
    # transition novelty over value levels of ctx_width standard deviations
    ctx_width: float = 1.0
    ctx_levels: int = 7
    ctx_prior: float = 0.5
    ctx_short: float = 0.3
    ctx_long: float = 0.0002
    ctx_sub: float = 0.5
    # exact repeats for longer than ever before: evidence stuck_gain * log2(run / longest run),
    # the ratio capped at stuck_cap, once the key has changed value stuck_moves times
    stuck_gain: float = 2.0
    stuck_moves: int = 20
    stuck_cap: float = 16.0
    # fusion, score and alerts
    w_res: float = 1.5
    w_sp: float = 2.0
    w_disp: float = 1.5
    w_ctx: float = 2.0
    w_nnctx: float = 2.5
    w_stuck: float = 1.0
    scale: float = 4.0
    sharpness: float = 4.0
    threshold: float = 0.5
    hold: int = 150
    over: float = 1.6

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            items = value if isinstance(value, tuple) else (value,)
            signed = f.name.endswith(("_lo", "_hi"))  # bin bounds of log-scale signals
            if not items or not all(
                isinstance(v, (int, float)) and math.isfinite(v) and (signed or v >= 0) for v in items
            ):
                raise ModelError(f"features.detector.{f.name}: must be finite and >= 0, got {value!r}")
        if not 0 < self.threshold <= 1:
            raise ModelError(f"features.detector.threshold: must be in (0, 1], got {self.threshold}")
        if self.scale <= 0 or self.sharpness <= 0:
            raise ModelError("features.detector.scale and sharpness must be > 0")
        if min(self.res_lags) < 1 or self.res_bins < 2 or self.disp_bins < 2 or self.ctx_width <= 0:
            raise ModelError("features.detector: res_lags >= 1, *_bins >= 2 and ctx_width > 0 are required")
        if self.res_lo >= self.res_hi or self.disp_lo >= self.disp_hi:
            raise ModelError("features.detector: each *_lo must lie below its *_hi")
        for name in ("res_alpha", "res_short", "res_decay", "disp_alpha", "disp_decay",
                     "ctx_short", "ctx_long"):
            if getattr(self, name) > 1:
                raise ModelError(f"features.detector.{name}: a rate, must be <= 1")

    @property
    def ring(self) -> int:
        """Residuals kept per channel: enough for the longest seasonal lag."""
        return int(max(self.res_lags))

    @classmethod
    def from_mapping(cls, obj: Mapping[str, Any]) -> DetectorSettings:
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(obj) - set(names))
        if unknown:
            raise ModelError(f"features.detector: unknown setting(s) {unknown}")
        kwargs: dict[str, Any] = {}
        for key, value in obj.items():
            default = names[key].default
            try:
                if isinstance(default, tuple):
                    kwargs[key] = tuple(int(v) for v in value)
                else:
                    kwargs[key] = type(default)(value)
            except (TypeError, ValueError):
                raise ModelError(f"features.detector.{key}: expected {type(default).__name__}, got {value!r}") from None
        return cls(**kwargs)

    @classmethod
    def from_features(cls, features: Mapping[str, Any]) -> DetectorSettings:
        """Defaults, then a legacy ``likelihood`` section's warmup/hold, then ``detector``."""
        merged: dict[str, Any] = {}
        legacy = features.get("likelihood") or {}
        merged.update({k: legacy[k] for k in ("warmup", "hold") if k in legacy})
        merged.update(features.get("detector") or {})
        return cls.from_mapping(merged)

    def replace(self, **changes: Any) -> DetectorSettings:
        """A copy with ``changes`` (``None`` values are skipped), validated."""
        return self.from_mapping({**self.to_dict(), **{k: v for k, v in changes.items() if v is not None}})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for a manifest."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
