"""Forecast accuracy on held-out tails: MASE and 80%-interval coverage, model vs baselines.

Each series streams through the runtime forecaster from its first row (so the per-key
normalisation and recurrent state are what the daemon would have); forecasts made from
every origin in the last ``test_fraction`` of the series are scored against what followed.
The naive (last value) and seasonal-naive (value one season earlier) baselines are scored
on the same origins and horizons in the same run. Their 80% intervals are the 10th/90th
percentiles of their own h-step errors on the training part, so all three are judged as
probabilistic forecasters on equal terms.

MASE (Hyndman & Koehler 2006) divides each absolute error by the series' in-sample mean
absolute one-step change over the training part; the same scale serves all three methods,
so their ratios are scale-free. Flat training parts (scale 0) are reported and skipped.

>>> season_length(np.arange(0, 50, 5).astype("datetime64[m]"))
288
>>> scale = scaled_errors(np.array([1.0, 2.0, 3.0, 5.0]), n_train=3)
>>> scale
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rnnstream.errors import ConfigError
from rnnstream.evaluation.anomaly_run import stream_operator

__all__ = ["ForecastEval", "season_length", "scaled_errors", "evaluate_series", "evaluate_forecaster", "METHODS"]

METHODS = ("model", "naive", "seasonal_naive")
_DAY_S = 86_400.0


def season_length(timestamps: np.ndarray, *, default: int = 24) -> int:
    """Steps per day from the median spacing (datetime64, or float seconds); ``default``
    when the data is daily or coarser, where a day is not a useful season."""
    ts = np.asarray(timestamps)
    if ts.size < 2:
        return default
    if np.issubdtype(ts.dtype, np.datetime64):
        step = float(np.median(np.diff(ts).astype("timedelta64[us]").astype(np.float64))) / 1e6
    else:
        step = float(np.median(np.diff(ts.astype(np.float64))))
    if not step > 0 or step >= _DAY_S / 2:
        return default
    return max(2, int(round(_DAY_S / step)))


def scaled_errors(values: np.ndarray, n_train: int) -> float:
    """MASE scale: mean |x[i] - x[i-1]| over the first ``n_train`` rows (0 when flat)."""
    head = np.asarray(values, dtype=np.float64)[:n_train]
    return float(np.mean(np.abs(np.diff(head, axis=0)))) if head.shape[0] > 1 else 0.0


@dataclass
class ForecastEval:
    """``per_series`` rows and the corpus ``summary`` (means over scored series)."""

    per_series: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def _baseline_forecasts(x: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> dict[str, np.ndarray]:
    """Point forecasts ``[n_origins, H]`` of the two baselines from each origin."""
    h = np.arange(1, horizon + 1)
    naive = np.repeat(x[origins][:, None], horizon, axis=1)
    # Seasonal naive: the value a whole number of seasons before the target, at or before the origin.
    lag = season * np.ceil(h / season).astype(int)
    src = origins[:, None] + h[None, :] - lag[None, :]
    return {"naive": naive, "seasonal_naive": x[np.clip(src, 0, None)]}


def evaluate_series(
    x: np.ndarray,
    p10: np.ndarray,
    p50: np.ndarray,
    p90: np.ndarray,
    *,
    test_fraction: float = 0.2,
    season: int,
) -> dict | None:
    """Scores of one univariate series ``x`` [T] given the model's quantiles ``[T, H]``
    (row ``t`` forecasts ``x[t+1 .. t+H]``). None when the series is too short or flat."""
    x = np.asarray(x, dtype=np.float64)
    t_len, horizon = x.shape[0], p50.shape[1]
    n_train = int(round(t_len * (1.0 - test_fraction)))
    scale = scaled_errors(x, n_train)
    first = max(season, 1)
    if n_train - horizon <= first or t_len - n_train < horizon or not scale > 0:
        return None
    test_origins = np.arange(n_train - 1, t_len - horizon)
    train_origins = np.arange(first, n_train - horizon)
    idx = test_origins[:, None] + np.arange(1, horizon + 1)[None, :]
    target = x[idx]
    out: dict = {"rows": t_len, "test_origins": int(test_origins.size), "scale": scale}
    lo, mid, hi = p10[test_origins], p50[test_origins], p90[test_origins]
    out["model"] = {
        "mase": float(np.mean(np.abs(target - mid)) / scale),
        "coverage80": float(np.mean((target >= lo) & (target <= hi))),
        "width": float(np.mean(hi - lo) / scale),
    }
    test_fc = _baseline_forecasts(x, test_origins, horizon, season)
    train_fc = _baseline_forecasts(x, train_origins, horizon, season)
    train_target = x[train_origins[:, None] + np.arange(1, horizon + 1)[None, :]]
    for name in ("naive", "seasonal_naive"):
        resid = train_target - train_fc[name]
        q_lo, q_hi = np.quantile(resid, 0.1, axis=0), np.quantile(resid, 0.9, axis=0)
        point = test_fc[name]
        out[name] = {
            "mase": float(np.mean(np.abs(target - point)) / scale),
            "coverage80": float(np.mean((target >= point + q_lo) & (target <= point + q_hi))),
            "width": float(np.mean(q_hi - q_lo) / scale),
        }
    return out


def evaluate_forecaster(
    operator,
    names: Sequence[str],
    timestamps: Sequence[np.ndarray],
    values: Sequence[np.ndarray],
    *,
    test_fraction: float = 0.2,
    season: int | None = None,
    steps_per_batch: int = 64,
) -> ForecastEval:
    """Stream every series through ``operator`` (a ForecastOperator) and score each value
    dimension of each series; ``season`` None infers steps per day from the timestamps."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    outs = stream_operator(operator, values, steps_per_batch=steps_per_batch)
    result = ForecastEval()
    for name, ts, v, o in zip(names, timestamps, values, outs):
        v2 = np.asarray(v, dtype=np.float64).reshape(len(v), -1)
        m = season or season_length(ts)
        for d in range(v2.shape[1]):
            q = [o[k] if o[k].ndim == 2 else o[k][..., d] for k in ("p10", "p50", "p90")]
            label = name if v2.shape[1] == 1 else f"{name}[{d}]"
            row = evaluate_series(v2[:, d], *q, test_fraction=test_fraction, season=m)
            if row is None:
                result.skipped.append({"series": label, "reason": "too short for the split, or flat training part"})
            else:
                result.per_series.append({"series": label, "season": m, **row})
    if not result.per_series:
        raise ConfigError("no series could be scored (all too short or flat)")
    summary: dict = {"series": len(result.per_series), "skipped": len(result.skipped),
                     "horizon": int(outs[0]["p50"].shape[1]), "test_fraction": test_fraction}
    for method in METHODS:
        summary[method] = {
            k: float(np.mean([r[method][k] for r in result.per_series])) for k in ("mase", "coverage80", "width")
        }
        summary[method]["mase_median"] = float(np.median([r[method]["mase"] for r in result.per_series]))
    rows = result.per_series
    summary["model_beats_seasonal_naive"] = int(sum(r["model"]["mase"] < r["seasonal_naive"]["mase"] for r in rows))
    summary["model_beats_naive"] = int(sum(r["model"]["mase"] < r["naive"]["mase"] for r in rows))
    result.summary = summary
    return result
