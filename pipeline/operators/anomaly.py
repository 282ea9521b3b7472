"""Streaming anomaly scores around a recurrent network's predictions, with no look-ahead.

Per event and key: the network (a quantile forecaster, :class:`QuantileModel`) predicts the
next value's p5/p50/p95; six evidence channels (:mod:`rnnstream.operators.anomaly_detectors`)
rate the event against the key's own past. Two read the network: its residual, and how new
the (predicted level -> actual level) pair is; four are cheap streaming detectors: a new
value range, the step size, the novelty of the level transition and a stuck value. The
strongest weighted evidence becomes the score, and an alert holds the key quiet for a while
(:mod:`rnnstream.operators.anomaly_fusion`).
Every per-key quantity is declared in the state spec and lives in the slab store; every
setting comes from the manifest's ``features.detector`` (:class:`DetectorSettings`).

Outputs: ``score`` (0..1, 0.5 at the alert threshold by default, 0 on hold), ``raw`` (the
fused evidence in nines, before the hold), ``alert`` (bool).
"""

from __future__ import annotations

import numpy as np

from rnnstream.engine.session import Session
from rnnstream.engine.state import State, StateSpec
from rnnstream.operators.anomaly_detectors import ALERT_LEVEL, HOLD_LEFT, EvidenceChannels
from rnnstream.operators.anomaly_fusion import fuse, refractory, weights
from rnnstream.operators.anomaly_settings import DetectorSettings
from rnnstream.operators.base import Operator
from rnnstream.operators.forecast import QuantileModel

__all__ = ["AnomalyOperator"]


class AnomalyOperator(Operator):
    """Outputs ``score`` (0..1), ``raw`` (fused evidence, nines) and ``alert``.

    ``settings`` (a mapping of :class:`DetectorSettings` fields) overrides the manifest's
    settings; ``threshold``, ``warmup`` and ``hold``, when given, override both.
    """

    alert_outputs = ("alert",)

    def __init__(
        self,
        session: Session,
        *,
        name: str = "anomaly",
        threshold: float | None = None,
        warmup: int | None = None,
        hold: int | None = None,
        settings: dict | None = None,
    ) -> None:
        self.name = name
        self.session = session
        self.model = QuantileModel(session)
        base = DetectorSettings.from_features(session.manifest.features)
        named = {k: v for k, v in (("threshold", threshold), ("warmup", warmup), ("hold", hold)) if v is not None}
        self.settings = base.replace(**{**(settings or {}), **named})
        d = self.model.dim
        qs = self.model.quantiles
        self._mid = qs.index(0.5) if 0.5 in qs else len(qs) // 2
        self.channels = EvidenceChannels(self.settings, d)
        self._weights = weights(self.settings)
        self.spec = StateSpec(session.state_spec.tensors, self.model.extras + self.channels.extras)
        self.value_shape = (d,)

    @property
    def threshold(self) -> float:
        return self.settings.threshold

    def step_many(self, values: np.ndarray, state: State) -> tuple[dict[str, np.ndarray], State]:
        q, new_state = self.model.step(values, state)
        parts, updates = self.channels.step(
            values, q[:, 0, self._mid, :], q[:, 0, -1, :] - q[:, 0, 0, :],
            state["norm_mean"], state["norm_var"], state["norm_count"], state,
        )
        f = fuse(parts, self._weights)
        det = updates["det_state"]  # [B, D, columns]; the hold-off is per key, kept in every dimension
        score, alert, left, level = refractory(f, det[:, 0, HOLD_LEFT], det[:, 0, ALERT_LEVEL], self.settings)
        det[:, :, HOLD_LEFT] = left[:, None]
        det[:, :, ALERT_LEVEL] = level[:, None]
        new_state.update(updates)
        return {"score": score, "raw": f, "alert": alert}, new_state
