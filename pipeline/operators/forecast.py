"""Forecasting: per-key online normalisation, then p10/p50/p90 for the next H steps.

The model sees each key's values in that key's own z-units (see :mod:`rnnstream.engine.features`)
and predicts quantiles in z-units; the operator maps them back with the key's statistics.
Everything per key (recurrent state, count, mean, variance) is in the slab store.
"""

from __future__ import annotations

import numpy as np

from rnnstream.errors import ModelError
from rnnstream.engine.features import denormalize, norm_step
from rnnstream.operators.base import Operator
from rnnstream.engine.session import Session
from rnnstream.engine.state import ExtraSpec, State, StateSpec

__all__ = ["ForecastOperator", "QuantileModel"]


class QuantileModel:
    """Reads a forecast/anomaly manifest's feature spec and runs the normalised model step."""

    def __init__(self, session: Session) -> None:
        f = session.manifest.features
        try:
            self.dim = int(f["value_dim"])
            self.horizon = int(f["horizon"])
            self.quantiles = [float(q) for q in f["quantiles"]]
            self.alpha_min = float(f["alpha_min"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model {session.manifest.name}: feature spec lacks or mangles {exc}") from None
        out_width = int(session.manifest.data_outputs[0].shape[-1])
        if out_width != self.horizon * len(self.quantiles) * self.dim:
            raise ModelError(
                f"model {session.manifest.name}: output width {out_width} != horizon*quantiles*value_dim"
            )
        in_width = int(session.manifest.data_inputs[0].shape[-1])
        if in_width != self.dim:
            raise ModelError(f"model {session.manifest.name}: input width {in_width} != value_dim {self.dim}")
        self.session = session
        self.extras = (
            ExtraSpec("norm_count", (), "float64"),
            ExtraSpec("norm_mean", (self.dim,), "float64"),
            ExtraSpec("norm_var", (self.dim,), "float64"),
        )

    def step(self, values: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """Returns quantiles in value units ``[B, H, Q, D]`` and the new state (model + norm)."""
        z, count, mean, var = norm_step(
            values, state["norm_count"], state["norm_mean"], state["norm_var"], self.alpha_min
        )
        out, new_state = self.session.run(z[:, None, :].astype(np.float32), state)
        b = values.shape[0]
        zq = out["y"][:, 0].reshape(b, self.horizon, len(self.quantiles), self.dim)
        # Quantile heads are trained independently and can cross; sorting restores p10<=p50<=p90.
        zq = np.sort(zq, axis=2)
        q = denormalize(zq.astype(np.float64), mean, var)
        new_state.update(norm_count=count, norm_mean=mean, norm_var=var)
        return q, new_state


class ForecastOperator(Operator):
    """Outputs ``p10``, ``p50``, ``p90`` (``[H]`` for scalar series, ``[H, D]`` otherwise)."""

    def __init__(self, session: Session, *, name: str = "forecast") -> None:
        self.name = name
        self.session = session
        self.model = QuantileModel(session)
        self.spec = StateSpec(session.state_spec.tensors, self.model.extras)
        self.value_shape = (self.model.dim,)
        self._labels = [f"p{round(q * 100)}" for q in self.model.quantiles]

    def step_many(self, values: np.ndarray, state: State) -> tuple[dict[str, np.ndarray], State]:
        q, new_state = self.model.step(values, state)
        if self.model.dim == 1:
            q = q[..., 0]
        return {label: q[:, :, i] for i, label in enumerate(self._labels)}, new_state
