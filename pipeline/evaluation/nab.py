"""Numenta Anomaly Benchmark (NAB v1.1) scoring, vectorised with numpy.

The rules follow NAB (github numenta/NAB, Lavin & Ahmad 2015; Ahmad et al. 2017):
a probation period that is not scored, anomaly windows in which only the earliest
detection counts (weighted by a scaled sigmoid of its position), false positives
weighted by their distance from the previous window, one threshold per profile
chosen over the whole corpus, and normalisation between the null detector (0) and
the perfect detector (100).

>>> ts = np.arange(100).astype("datetime64[m]")
>>> scores = np.zeros(100); scores[50] = 1.0
>>> result = SeriesResult("demo/a.csv", ts, None, scores)
>>> out = score_corpus([result], {"demo/a.csv": [(ts[50], ts[59])]})
>>> round(out["standard"], 6), out["thresholds"]["standard"]
(100.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rnnstream.errors import ConfigError

__all__ = [
    "CostProfile",
    "NAB_PROFILES",
    "SeriesResult",
    "ThresholdScore",
    "profiles_from_mapping",
    "probation_rows",
    "scaled_sigmoid",
    "to_datetime64",
    "window_bounds",
    "window_labels",
    "score_at_threshold",
    "score_corpus",
]

# NAB's "no detection at all" threshold: above every legal score.
_NO_DETECTION = 1.1
# Keys of score_corpus's result that a profile name must not shadow.
_RESERVED = frozenset({"files", "windows", "thresholds", "raw", "null", "perfect", "counts"})


@dataclass(frozen=True)
class CostProfile:
    """Weights of one NAB application profile (true positive, false negative, false positive)."""

    tp: float
    fn: float
    fp: float

    def __post_init__(self) -> None:
        for name in ("tp", "fn", "fp"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"CostProfile.{name} must be a finite number >= 0, got {value!r}")


# Cost matrices of NAB v1.1 config/profiles.json.
NAB_PROFILES: dict[str, CostProfile] = {
    "standard": CostProfile(tp=1.0, fn=1.0, fp=0.11),
    "reward_low_FP_rate": CostProfile(tp=1.0, fn=1.0, fp=0.22),
    "reward_low_FN_rate": CostProfile(tp=1.0, fn=2.0, fp=0.11),
}


def profiles_from_mapping(obj: Mapping) -> dict[str, CostProfile]:
    """Profiles from NAB's profiles.json structure (or from CostProfile values).

    >>> profiles_from_mapping({"p": {"CostMatrix": {"tpWeight": 1, "fnWeight": 2, "fpWeight": 0.5}}})
    {'p': CostProfile(tp=1.0, fn=2.0, fp=0.5)}
    """
    if not isinstance(obj, Mapping) or not obj:
        raise ConfigError("profiles must be a non-empty mapping of name -> cost matrix")
    out: dict[str, CostProfile] = {}
    for name, spec in obj.items():
        if name in _RESERVED:
            raise ConfigError(f"profile name {name!r} is reserved")
        if isinstance(spec, CostProfile):
            out[name] = spec
            continue
        matrix = spec.get("CostMatrix", spec) if isinstance(spec, Mapping) else None
        try:
            out[name] = CostProfile(
                tp=float(matrix["tpWeight"]), fn=float(matrix["fnWeight"]), fp=float(matrix["fpWeight"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"profile {name!r} needs CostMatrix.tpWeight, fnWeight and fpWeight numbers"
            ) from exc
    return out


def probation_rows(n_rows: int, fraction: float = 0.15) -> int:
    """Rows at the start of a file that are not scored: min(floor(f*N), f*5000).

    >>> probation_rows(4032), probation_rows(22695), probation_rows(10)
    (604, 750, 1)
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"probation fraction must be in [0, 1), got {fraction}")
    return int(min(math.floor(fraction * n_rows), fraction * 5000))


def scaled_sigmoid(x: np.ndarray | float) -> np.ndarray:
    """NAB's f(x) = 2/(1+e^(5x)) - 1, and -1 for x > 3.

    >>> scaled_sigmoid(np.array([-1.0, 0.0, 4.0])).round(4).tolist()
    [0.9866, 0.0, -1.0]
    """
    x = np.asarray(x, dtype=np.float64)
    # Clipping first keeps exp() from overflowing on far-away rows that become -1 anyway.
    core = 2.0 / (1.0 + np.exp(5.0 * np.minimum(x, 3.0))) - 1.0
    return np.where(x > 3.0, -1.0, core)


_F_MINUS_ONE = float(scaled_sigmoid(-1.0))


def to_datetime64(values) -> np.ndarray:
    """Timestamps as datetime64[us]: from datetime64, ISO strings, or epoch seconds.

    >>> to_datetime64(["2014-04-10 07:15:00.000000"]).tolist()[0].isoformat()
    '2014-04-10T07:15:00'
    >>> str(to_datetime64([1.5])[0])
    '1970-01-01T00:00:01.500000'
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[us]")
    if arr.dtype.kind in "fiu":
        micros = np.round(arr.astype(np.float64) * 1e6).astype(np.int64)
        return micros.astype("datetime64[us]")
    try:
        return np.char.strip(arr.astype(str)).astype("datetime64[us]")
    except ValueError as exc:
        raise ConfigError(f"cannot read timestamps: {exc}") from exc


@dataclass(frozen=True, eq=False)
class SeriesResult:
    """One detector's output for one data file, named like ``realKnownCause/nyc_taxi.csv``."""

    name: str
    timestamps: np.ndarray
    values: np.ndarray | None
    scores: np.ndarray

    def __post_init__(self) -> None:
        ts = to_datetime64(self.timestamps).reshape(-1)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        if scores.shape != ts.shape:
            raise ConfigError(f"{self.name}: {ts.size} timestamps but {scores.size} anomaly scores")
        if not np.all((scores >= 0.0) & (scores <= 1.0)):
            raise ConfigError(f"{self.name}: anomaly scores must lie in [0, 1] (NaN is not allowed)")
        if self.values is not None and np.asarray(self.values).shape[0] != ts.size:
            raise ConfigError(f"{self.name}: values and timestamps differ in length")
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "scores", scores)


@dataclass(frozen=True)
class ThresholdScore:
    """Raw score of a corpus at one threshold, with its confusion counts."""

    raw: float
    tp: int
    fp: int
    fn: int
    per_file: dict[str, float]


def window_bounds(timestamps: np.ndarray, windows: Sequence) -> np.ndarray:
    """Inclusive row ranges [L, R] of ``windows`` ((start, end) pairs), sorted, shape [W, 2].

    A window spans from the first to the last row whose timestamp lies in [start, end].

    >>> ts = np.arange(10).astype("datetime64[h]")
    >>> window_bounds(ts, [(ts[6], ts[8]), ("1970-01-01 01:00", "1970-01-01 02:30")]).tolist()
    [[1, 2], [6, 8]]
    """
    ts = to_datetime64(timestamps)
    rows = []
    for pair in windows:
        if len(pair) != 2:
            raise ConfigError(f"a window must be a (start, end) pair, got {pair!r}")
        start, end = to_datetime64(list(pair))
        if start > end:
            raise ConfigError(f"window {pair!r} ends before it starts")
        inside = np.flatnonzero((ts >= start) & (ts <= end))
        if inside.size == 0:
            raise ConfigError(f"window {pair!r} contains no row of the file")
        rows.append((inside[0], inside[-1]))
    bounds = np.array(sorted(rows), dtype=np.int64).reshape(-1, 2)
    if bounds.shape[0] > 1 and np.any(bounds[1:, 0] <= bounds[:-1, 1]):
        raise ConfigError("anomaly windows of one file overlap")
    return bounds


def window_labels(n_rows: int, bounds: np.ndarray) -> np.ndarray:
    """int8 label per row: 1 inside a window, 0 elsewhere.

    >>> window_labels(6, np.array([[1, 2], [4, 4]])).tolist()
    [0, 1, 1, 0, 1, 0]
    """
    idx = np.arange(n_rows)
    j = np.searchsorted(bounds[:, 0], idx, side="right") - 1
    inside = (j >= 0) & (idx <= bounds[np.maximum(j, 0), 1]) if len(bounds) else np.zeros(n_rows, bool)
    return inside.astype(np.int8)


@dataclass(frozen=True)
class _FilePlan:
    name: str
    scores: np.ndarray  # scored rows only
    window: np.ndarray  # local window id per scored row, -1 outside
    tp_unit: np.ndarray  # in-window weight / tpW
    fp_unit: np.ndarray  # out-of-window weight / fpW (<= 0)
    n_windows: int


def _plan_file(result: SeriesResult, windows: Sequence, fraction: float) -> _FilePlan:
    n = result.scores.size
    bounds = window_bounds(result.timestamps, windows)
    idx = np.arange(n)
    left, right = bounds[:, 0], bounds[:, 1]
    width = right - left + 1
    window = np.full(n, -1, dtype=np.int64)
    tp_unit = np.zeros(n)
    fp_unit = np.full(n, -1.0)
    if bounds.shape[0]:
        j = np.searchsorted(left, idx, side="right") - 1
        jc = np.maximum(j, 0)
        inside = (j >= 0) & (idx <= right[jc])
        window[inside] = j[inside]
        pos = -(right[jc] - idx + 1) / width[jc]
        tp_unit = np.where(inside, scaled_sigmoid(pos) / _F_MINUS_ONE, 0.0)
        # Most recent window that ended strictly before the row.
        k = np.searchsorted(right, idx, side="left") - 1
        kc = np.maximum(k, 0)
        denom = (width[kc] - 1).astype(np.float64)
        with np.errstate(divide="ignore"):
            past = np.where(denom > 0, (idx - right[kc]) / np.where(denom > 0, denom, 1.0), np.inf)
        fp_unit = np.where(inside, 0.0, np.where(k >= 0, scaled_sigmoid(past), -1.0))
    start = probation_rows(n, fraction)
    return _FilePlan(
        name=result.name,
        scores=result.scores[start:],
        window=window[start:],
        tp_unit=tp_unit[start:],
        fp_unit=fp_unit[start:],
        n_windows=int(bounds.shape[0]),
    )


def _plans(series: Sequence[SeriesResult], windows: Mapping[str, Sequence], fraction: float) -> list[_FilePlan]:
    names = [s.name for s in series]
    if len(set(names)) != len(names):
        raise ConfigError("each file may appear only once in the results")
    missing = sorted(set(names) - set(windows))
    if missing:
        raise ConfigError(f"no windows entry for {missing[:3]} (use an empty list for files without anomalies)")
    extra = sorted(set(windows) - set(names))
    if extra:
        raise ConfigError(f"windows name files without results: {extra[:3]}; pass only the scored files' windows")
    return [_plan_file(s, windows[s.name], fraction) for s in series]


def score_at_threshold(
    series: Sequence[SeriesResult],
    windows: Mapping[str, Sequence],
    profile: CostProfile,
    threshold: float,
    *,
    probation_fraction: float = 0.15,
) -> ThresholdScore:
    """Raw NAB score of the corpus when every scored row with ``score >= threshold`` is a detection."""
    raw_total, tp, fp, fn, per_file = 0.0, 0, 0, 0, {}
    for plan in _plans(series, windows, probation_fraction):
        hit = plan.scores >= threshold
        false_pos = hit & (plan.window < 0)
        score = profile.fp * float(plan.fp_unit[false_pos].sum())
        hit_rows = np.flatnonzero(hit & (plan.window >= 0))
        # Rows are in time order, so the first occurrence of each window id is its earliest detection.
        found, first = np.unique(plan.window[hit_rows], return_index=True)
        score += profile.tp * float(plan.tp_unit[hit_rows[first]].sum())
        score -= profile.fn * (plan.n_windows - found.size)
        per_file[plan.name] = score
        raw_total += score
        tp += int(found.size)
        fp += int(false_pos.sum())
        fn += plan.n_windows - int(found.size)
    return ThresholdScore(raw=raw_total, tp=tp, fp=fp, fn=fn, per_file=per_file)


def _sweep_events(plans: list[_FilePlan]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Score-change events of the corpus: value, coefficients [tp, fn, fp, n_tp, n_fp], candidates.

    Lowering the threshold to an event's value adds its coefficients; a profile's total is
    -fnW*W + tpW*c0 + fnW*c1 + fpW*c2 summed over events with value >= threshold.
    """
    offsets = np.cumsum([0] + [p.n_windows for p in plans])
    scores = np.concatenate([p.scores for p in plans])
    window = np.concatenate([np.where(p.window >= 0, p.window + off, -1) for p, off in zip(plans, offsets)])
    tp_unit = np.concatenate([p.tp_unit for p in plans])
    fp_unit = np.concatenate([p.fp_unit for p in plans])
    uniq, rank = np.unique(scores, return_inverse=True)

    out_mask = window < 0
    fp_coef = np.zeros((int(out_mask.sum()), 5))
    fp_coef[:, 2] = fp_unit[out_mask]
    fp_coef[:, 4] = 1.0

    # Exact segmented running maximum: window ids dominate the integer key, so one cummax
    # serves all windows at once; a row whose key beats everything before it is a new
    # maximum of its window, i.e. the earliest row detected for thresholds down to its score.
    in_rows = np.flatnonzero(~out_mask)
    key = window[in_rows] * (uniq.size + 1) + rank[in_rows] + 1
    running = np.maximum.accumulate(key) if key.size else key
    is_record = np.ones(key.size, dtype=bool)
    is_record[1:] = key[1:] > running[:-1]
    rec = in_rows[is_record]
    rec_win = window[rec]
    last = np.ones(rec.size, dtype=bool)
    last[:-1] = rec_win[1:] != rec_win[:-1]
    nxt_unit = np.zeros(rec.size)
    nxt_unit[:-1] = tp_unit[rec[1:]]
    rec_coef = np.zeros((rec.size, 5))
    rec_coef[:, 0] = tp_unit[rec] - np.where(last, 0.0, nxt_unit)
    rec_coef[:, 1] = last
    rec_coef[:, 3] = last

    values = np.concatenate([scores[out_mask], scores[rec]])
    coefs = np.concatenate([fp_coef, rec_coef])
    candidates = np.concatenate([[_NO_DETECTION], uniq[::-1]])
    return values, coefs, candidates, int(offsets[-1])


def score_corpus(
    series: Sequence[SeriesResult],
    windows: Mapping[str, Sequence],
    profiles: Mapping | None = None,
    *,
    probation_fraction: float = 0.15,
) -> dict:
    """Normalised NAB scores of one detector over a corpus, one swept threshold per profile.

    Returns ``{profile: score, ..., "files": n, "windows": W, "thresholds": {profile: theta},
    "raw": {...}, "null": {...}, "perfect": {...}, "counts": {profile: {"tp", "fp", "fn"}}}``.
    Candidate thresholds are 1.1 and every distinct scored value; ties go to the highest.
    """
    chosen = NAB_PROFILES if profiles is None else profiles_from_mapping(profiles)
    plans = _plans(series, windows, probation_fraction)
    if not plans:
        raise ConfigError("no detector results to score")
    values, coefs, candidates, n_windows = _sweep_events(plans)
    if n_windows == 0:
        raise ConfigError("the corpus has no anomaly windows, so the normalised score is undefined")
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    suffix = np.zeros((values.size + 1, coefs.shape[1]))
    suffix[:-1] = np.cumsum(coefs[order][::-1], axis=0)[::-1]
    # suffix[i] sums the events with value >= candidate.
    at = suffix[np.searchsorted(sorted_values, candidates, side="left")]

    result: dict = {"files": len(plans), "windows": n_windows}
    extras: dict[str, dict] = {k: {} for k in ("thresholds", "raw", "null", "perfect", "counts")}
    for name, prof in chosen.items():
        totals = -prof.fn * n_windows + prof.tp * at[:, 0] + prof.fn * at[:, 1] + prof.fp * at[:, 2]
        best = float(totals.max())
        # Summation order leaves ~1e-15 noise; real score steps are far larger than the tolerance.
        pick = int(np.flatnonzero(totals >= best - 1e-9 * max(1.0, abs(best)))[0])
        null, perfect = -prof.fn * n_windows, prof.tp * n_windows
        if perfect == null:
            raise ConfigError(f"profile {name!r} has tp and fn weights of 0; cannot normalise")
        tp_count = int(round(at[pick, 3]))
        result[name] = 100.0 * (best - null) / (perfect - null)
        extras["thresholds"][name] = float(candidates[pick])
        extras["raw"][name] = best
        extras["null"][name] = null
        extras["perfect"][name] = perfect
        extras["counts"][name] = {"tp": tp_count, "fp": int(round(at[pick, 4])), "fn": n_windows - tp_count}
    result.update(extras)
    return result
