"""Streaming anomaly scores from one-step-ahead prediction error, with no look-ahead.

At each event the operator compares the value with the prediction the model made for it at
the previous event, scaled by that prediction's p10-p90 width. Each key keeps a long-term
and a short-term average of this (log) error; the anomaly likelihood is the Gaussian tail
probability of the short-term average under the long-term distribution, in 0..1.
An alert is raised when the likelihood reaches ``threshold``; the key then cannot alert
again for ``hold`` events, so one incident raises one alert (NAB, like an on-call
engineer, counts every further alert outside the incident's window as a false positive).
"""

from __future__ import annotations

import math

import numpy as np

from rnnstream.operators.base import Operator
from rnnstream.operators.forecast import QuantileModel
from rnnstream.engine.session import Session
from rnnstream.engine.state import ExtraSpec, State, StateSpec

__all__ = ["AnomalyOperator", "gaussian_tail"]


def gaussian_tail(z: np.ndarray) -> np.ndarray:
    """P(Z <= z) for a standard normal, vectorised, without scipy.

    Abramowitz & Stegun 7.1.26 for erf (absolute error below 1.5e-7), plenty for a score.

    >>> [round(float(v), 4) for v in gaussian_tail(np.array([-1.0, 0.0, 1.96]))]
    [0.1587, 0.5, 0.975]
    """
    x = np.abs(np.asarray(z, dtype=np.float64)) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)


class AnomalyOperator(Operator):
    """Outputs ``score`` (likelihood, 0..1), ``raw`` (scaled error) and ``alert``."""

    alert_outputs = ("alert",)

    def __init__(
        self,
        session: Session,
        *,
        name: str = "anomaly",
        threshold: float | None = None,
        warmup: int | None = None,
        long_alpha: float | None = None,
        short_alpha: float | None = None,
        hold: int | None = None,
    ) -> None:
        f = session.manifest.features.get("likelihood", {})
        self.name = name
        self.session = session
        self.model = QuantileModel(session)
        self.threshold = float(threshold if threshold is not None else f.get("threshold", 0.99))
        self.warmup = int(warmup if warmup is not None else f.get("warmup", 50))
        self.long_alpha = float(long_alpha if long_alpha is not None else f.get("long_alpha", 0.002))
        self.short_alpha = float(short_alpha if short_alpha is not None else f.get("short_alpha", 0.2))
        self.hold = int(hold if hold is not None else f.get("hold", 0))
        d = self.model.dim
        self._mid = self.model.quantiles.index(0.5) if 0.5 in self.model.quantiles else len(self.model.quantiles) // 2
        self.spec = StateSpec(
            session.state_spec.tensors,
            self.model.extras
            + (
                ExtraSpec("prev_mid", (d,), "float64", np.nan),
                ExtraSpec("prev_width", (d,), "float64", np.nan),
                ExtraSpec("err_count", (), "float64"),
                ExtraSpec("err_mean", (), "float64"),
                ExtraSpec("err_var", (), "float64"),
                ExtraSpec("err_short", (), "float64"),
                ExtraSpec("since_alert", (), "float64", np.inf),
            ),
        )
        self.value_shape = (d,)

    def step_many(self, values: np.ndarray, state: State) -> tuple[dict[str, np.ndarray], State]:
        q, new_state = self.model.step(values, state)
        prev_mid, prev_width = state["prev_mid"], state["prev_width"]
        has_prev = np.isfinite(prev_mid).all(axis=1)
        err = np.abs(values - np.nan_to_num(prev_mid)) / np.maximum(np.nan_to_num(prev_width), 1e-9)
        raw = np.where(has_prev, np.log1p(err.max(axis=1)), 0.0)

        count = state["err_count"] + has_prev
        mean, var, short = state["err_mean"], state["err_var"], state["err_short"]
        a_long = np.where(has_prev, np.maximum(1.0 / np.maximum(count, 1.0), self.long_alpha), 0.0)
        a_short = np.where(has_prev, np.maximum(1.0 / np.maximum(count, 1.0), self.short_alpha), 0.0)
        short = short + a_short * (raw - short)
        # Score the short-term average against the long-term distribution *before* this
        # event joins it, so a burst cannot mask itself.
        std = np.sqrt(np.maximum(var, 1e-6))
        score = np.where(count > self.warmup, gaussian_tail((short - mean) / std), 0.0)
        since = state["since_alert"] + 1.0
        # Inside the hold-off an alert-level score is reported as 0; lower scores pass as they are.
        score = np.where((since <= self.hold) & (score >= self.threshold), 0.0, score)
        alert = score >= self.threshold
        since = np.where(alert, 0.0, since)
        delta = raw - mean
        mean = mean + a_long * delta
        var = (1.0 - a_long) * (var + a_long * delta * delta)

        new_state.update(
            prev_mid=q[:, 0, self._mid, :],
            prev_width=q[:, 0, -1, :] - q[:, 0, 0, :],
            err_count=count,
            err_mean=mean,
            err_var=var,
            err_short=short,
            since_alert=since,
        )
        return {"score": score, "raw": raw, "alert": alert}, new_state
