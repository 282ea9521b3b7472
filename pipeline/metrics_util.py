"""Bulk updates for prometheus_client metrics, so a batch costs one call, not one per event.

>>> from prometheus_client import CollectorRegistry, Histogram
>>> import numpy as np
>>> reg = CollectorRegistry()
>>> h = Histogram("lat_seconds", "x", buckets=(0.1, 1.0), registry=reg)
>>> observe_many(h, np.array([0.05, 0.5, 2.0]))
>>> reg.get_sample_value("lat_seconds_bucket", {"le": "1.0"}), reg.get_sample_value("lat_seconds_count")
(2.0, 3.0)
"""

from __future__ import annotations

import numpy as np

__all__ = ["observe_many"]


def observe_many(hist, values: np.ndarray) -> None:
    """Add many observations to a (labelled) Histogram child."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return
    bounds = getattr(hist, "_upper_bounds", None)
    buckets = getattr(hist, "_buckets", None)
    total = getattr(hist, "_sum", None)
    if bounds is None or buckets is None or total is None:  # a client that changed its internals
        for v in values.tolist():
            hist.observe(v)
        return
    # prometheus_client stores per-bucket (not cumulative) counts; an observation goes to the
    # first bucket whose upper bound is >= the value.
    idx = np.searchsorted(np.asarray(bounds, dtype=np.float64), values, side="left")
    counts = np.bincount(idx, minlength=len(bounds))
    for i in np.flatnonzero(counts).tolist():
        buckets[i].inc(float(counts[i]))
    total.inc(float(values.sum()))
