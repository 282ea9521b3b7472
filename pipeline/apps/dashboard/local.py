"""Evaluate dashboard queries over a few scrapes of ``/metrics``, with no Prometheus.

A :class:`Scrapes` holds successive scrapes of one target; :func:`evaluate` computes a
:class:`~rnnstream.apps.dashboard.spec.Query` over them the way PromQL would (counter rates with
reset handling over a trailing window, ``histogram_quantile`` with linear interpolation
inside the bucket, aggregation ``by`` labels), one value per scrape.

>>> s = Scrapes()
>>> for t, v in [(0.0, 0.0), (1.0, 10.0), (2.0, 30.0)]:
...     s.add(t, f'rnnstream_events_in_total{{source="a"}} {v}\\n')
>>> [(lab, v.tolist()) for lab, _, v in evaluate(Query("rate", "rnnstream_events_in_total", ("source",)), s, 1.0)]
[({'source': 'a'}, [nan, 10.0, 20.0])]
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from rnnstream.apps.dashboard.spec import Query
from rnnstream.errors import RnnstreamError

__all__ = ["Scrapes", "evaluate", "histogram_quantile", "counter_increase"]

Labels = tuple[tuple[str, str], ...]
Series = tuple[dict[str, str], np.ndarray, np.ndarray]


class Scrapes:
    """Successive scrapes of one target: times and samples by name and label set."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._samples: list[dict[str, dict[Labels, float]]] = []

    def add(self, t: float, text: str) -> None:
        """Add one scrape taken at time ``t`` (the exposition text of ``/metrics``)."""
        if self.times and t <= self.times[-1]:
            raise RnnstreamError("scrapes must be added in time order")
        by_name: dict[str, dict[Labels, float]] = defaultdict(dict)
        try:
            for fam in text_string_to_metric_families(text):
                for s in fam.samples:
                    by_name[s.name][tuple(sorted(s.labels.items()))] = float(s.value)
        except ValueError as exc:
            raise RnnstreamError(f"not Prometheus exposition text: {exc}") from None
        self.times.append(float(t))
        self._samples.append(dict(by_name))

    def __len__(self) -> int:
        return len(self.times)

    def matrix(self, name: str) -> tuple[list[dict[str, str]], np.ndarray]:
        """Every label set seen for ``name`` and a [series, scrape] array (NaN where absent)."""
        keys: dict[Labels, int] = {}
        for scrape in self._samples:
            for labels in scrape.get(name, {}):
                keys.setdefault(labels, len(keys))
        out = np.full((len(keys), len(self.times)), np.nan)
        for j, scrape in enumerate(self._samples):
            for labels, value in scrape.get(name, {}).items():
                out[keys[labels], j] = value
        return [dict(k) for k in keys], out


def counter_increase(values: np.ndarray) -> np.ndarray:
    """Cumulative increase along the last axis, treating a drop as a counter reset.

    >>> counter_increase(np.array([5.0, 7.0, 2.0, 4.0])).tolist()
    [0.0, 2.0, 4.0, 6.0]
    """
    v = np.asarray(values, dtype=np.float64)
    d = np.diff(v, axis=-1)
    d = np.where(d < 0, v[..., 1:], d)  # after a reset the counter restarted from 0
    d = np.nan_to_num(d, nan=0.0)
    zero = np.zeros(v.shape[:-1] + (1,))
    return np.concatenate([zero, np.cumsum(d, axis=-1)], axis=-1)


def histogram_quantile(q: float, les: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """PromQL's ``histogram_quantile`` for cumulative bucket ``counts`` [bucket, time].

    ``les`` are the upper bounds, ascending, the last one ``inf``.

    >>> histogram_quantile(0.5, np.array([1.0, 2.0, np.inf]), np.array([[2.0], [4.0], [4.0]])).tolist()
    [1.0]
    """
    les = np.asarray(les, dtype=np.float64)
    c = np.maximum.accumulate(np.nan_to_num(np.asarray(counts, dtype=np.float64)), axis=0)
    total = c[-1]
    rank = q * total
    b = np.argmax(c >= rank[None, :], axis=0)  # first bucket reaching the rank
    finite_top = les[-2] if les.size > 1 else np.nan
    upper = np.where(np.isinf(les[b]), finite_top, les[b])
    lower = np.where(b > 0, les[np.maximum(b - 1, 0)], np.where(les[0] > 0, 0.0, les[0]))
    below = np.where(b > 0, c[np.maximum(b - 1, 0), np.arange(c.shape[1])], 0.0)
    inside = c[b, np.arange(c.shape[1])] - below
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(inside > 0, (rank - below) / inside, 1.0)
        out = np.where(np.isinf(les[b]), finite_top, lower + (upper - lower) * frac)
    return np.where(total > 0, out, np.nan)


def _window_starts(times: np.ndarray, window: float) -> np.ndarray:
    """For each scrape, the earliest scrape inside the trailing ``window`` seconds."""
    return np.searchsorted(times, times - window - 1e-9, side="left")


def _rate(m: np.ndarray, times: np.ndarray, window: float) -> np.ndarray:
    inc = counter_increase(m)
    j = _window_starts(times, window)
    i = np.arange(times.size)
    dt = times - times[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (inc[:, i] - inc[:, j]) / dt
    r[:, j >= i] = np.nan
    present = np.isfinite(m) & np.isfinite(m[:, j])
    return np.where(present, r, np.nan)


def _group(labels: list[dict[str, str]], by: tuple[str, ...]) -> dict[Labels, list[int]]:
    groups: dict[Labels, list[int]] = defaultdict(list)
    for idx, lab in enumerate(labels):
        groups[tuple((b, lab.get(b, "")) for b in by)].append(idx)
    return groups


def _aggregate(labels, m: np.ndarray, by, agg: str = "sum") -> dict[Labels, np.ndarray]:
    fn = {"sum": np.nansum, "max": np.nanmax, "min": np.nanmin}.get(agg)
    if fn is None:
        raise RnnstreamError(f"dashboard query: unknown aggregation {agg!r}")
    out = {}
    for key, rows in _group(labels, by).items():
        block = m[rows]
        allnan = np.isnan(block).all(axis=0)
        with np.errstate(all="ignore"):
            vals = fn(np.where(allnan[None, :], 0.0, block), axis=0) if block.size else np.zeros(m.shape[1])
        out[key] = np.where(allnan, np.nan, vals)
    return out


def evaluate(query: Query, scrapes: Scrapes, rate_window: float) -> list[Series]:
    """The query's series over the scrapes: (labels, times, values), one value per scrape."""
    times = np.asarray(scrapes.times)
    if query.kind == "quantile":
        grouped = _quantile(query, scrapes, times, rate_window)
    elif query.kind == "ratio":
        num = _aggregate(*_rated(scrapes, query.metric, times, rate_window), query.by)
        den = _aggregate(*_rated(scrapes, query.denom or "", times, rate_window), query.by)
        with np.errstate(invalid="ignore", divide="ignore"):
            grouped = {k: num[k] / den[k] for k in num if k in den}
    else:
        labels, m = scrapes.matrix(query.metric)
        if query.kind == "rate":
            grouped = _aggregate(labels, _rate(m, times, rate_window), query.by)
        elif query.kind == "increase":
            start = np.argmax(np.isfinite(m), axis=1) if m.size else np.zeros(0, int)
            inc = counter_increase(m)
            inc = inc - inc[np.arange(m.shape[0]), start][:, None]
            grouped = _aggregate(labels, np.where(np.isfinite(m), inc, np.nan), query.by)
        elif query.kind == "gauge":
            grouped = _aggregate(labels, m, query.by, query.agg)
        elif query.kind == "age":
            grouped = {k: times - v for k, v in _aggregate(labels, m, query.by, "max").items()}
        else:  # info: one series per label set
            grouped = _aggregate(labels, m, query.by, "max")
    return [(dict(k), times, v) for k, v in sorted(grouped.items())]


def _rated(scrapes: Scrapes, name: str, times: np.ndarray, window: float):
    labels, m = scrapes.matrix(name)
    return labels, _rate(m, times, window)


def _quantile(query: Query, scrapes: Scrapes, times, window) -> dict[Labels, np.ndarray]:
    labels, m = scrapes.matrix(query.metric + "_bucket")
    per = _aggregate(labels, _rate(m, times, window), (*query.by, "le"))
    by_group: dict[Labels, dict[float, np.ndarray]] = defaultdict(dict)
    for key, v in per.items():
        d = dict(key)
        le = float(d.pop("le"))
        by_group[tuple((b, d[b]) for b in query.by)][le] = v
    out = {}
    for key, buckets in by_group.items():
        les = np.array(sorted(buckets))
        if not math.isinf(les[-1]):
            continue  # no +Inf bucket: not a histogram PromQL would accept either
        counts = np.stack([buckets[le] for le in les])
        valid = np.isfinite(counts).all(axis=0)
        out[key] = np.where(valid, histogram_quantile(query.q or 0.5, les, counts), np.nan)
    return out
