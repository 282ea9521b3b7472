"""Run the shipped anomaly operator over a NAB-layout corpus and score it by NAB's rules.

Every file is one key. The files are streamed together through the runtime's own
:class:`~rnnstream.engine.scheduler.Scheduler` and :class:`~rnnstream.operators.anomaly.AnomalyOperator`,
row by row in time order within each key, so the scores are exactly what the daemon would
emit: each one uses only the rows before it. Batching across files only changes how many
keys share an ONNX Runtime call, never a result.

>>> names = ["demo/a.csv"]
>>> ts = [np.arange(200).astype("datetime64[h]")]
>>> [str(t) for t in windows_from_points(names, ts, {"demo/a.csv": [str(ts[0][100])]})["demo/a.csv"][0]]
['1970-01-04T18', '1970-01-05T14']
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rnnstream.errors import ConfigError
from rnnstream.evaluation.nab import SeriesResult, score_corpus, to_datetime64
from rnnstream.operators.anomaly import AnomalyOperator
from rnnstream.engine.scheduler import Scheduler

__all__ = ["AnomalyEval", "stream_operator", "score_series", "windows_from_points", "parse_label_json",
           "NAB_WINDOW_FRACTION"]

NAB_WINDOW_FRACTION = 0.10  # NAB: all windows of a file together span 10% of its rows


@dataclass
class AnomalyEval:
    """Per-file results (for NAB's results layout) and the corpus scores."""

    results: list[SeriesResult]
    scores: dict
    seconds: float
    rows: int


def stream_operator(operator, values: Sequence[np.ndarray], *, steps_per_batch: int = 64) -> list[dict[str, np.ndarray]]:
    """Stream several series (one key each) through ``operator``; outputs per series.

    Each micro-batch holds ``steps_per_batch`` consecutive rows of every unfinished series,
    the way a live source interleaves keys.
    """
    sched = Scheduler(operator, max_batch=max(1, len(values)))
    arrays = [np.asarray(v, dtype=np.float32).reshape(len(v), -1) for v in values]
    lengths = np.array([a.shape[0] for a in arrays])
    outs: list[dict[str, list]] = [{} for _ in arrays]
    for t0 in range(0, int(lengths.max(initial=0)), steps_per_batch):
        live = np.flatnonzero(lengths > t0)
        parts = [(k, arrays[k][t0 : t0 + steps_per_batch]) for k in live]
        counts = np.array([p.shape[0] for _, p in parts])
        key_ids = np.repeat(live, counts)
        rows = np.concatenate([p for _, p in parts])
        step = np.concatenate([np.arange(c) for c in counts]).astype(np.float64) + t0
        result, _ = sched.process(key_ids, step, rows)
        bounds = np.r_[0, np.cumsum(counts)]
        for i, k in enumerate(live):
            for name, arr in result.items():
                outs[k].setdefault(name, []).append(arr[bounds[i] : bounds[i + 1]])
    return [{name: np.concatenate(chunks) for name, chunks in o.items()} for o in outs]


def windows_from_points(
    names: Sequence[str], timestamps: Sequence[np.ndarray], points: Mapping[str, Sequence[str]],
    *, fraction: float = NAB_WINDOW_FRACTION,
) -> dict[str, list[tuple[np.datetime64, np.datetime64]]]:
    """NAB's windows from anomaly points: width ``fraction * rows / n_points`` rows centred
    on each point, clipped to the file, overlapping windows merged.

    On nab-dev this reproduces ``combined_windows.json`` for 41 of 42 files (NAB edited one
    window by hand), so prefer the windows file where there is one.
    """
    out = {}
    for name, ts in zip(names, timestamps):
        stamps = points.get(name, [])
        n = ts.size
        if not stamps:
            out[name] = []
            continue
        half = int(fraction * n / len(stamps)) // 2
        idx = np.searchsorted(ts, to_datetime64(list(stamps)))
        spans: list[list[int]] = []
        for i in np.sort(idx):
            lo, hi = max(int(i) - half, 0), min(int(i) + half, n - 1)
            if spans and lo <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], hi)
            else:
                spans.append([lo, hi])
        out[name] = [(ts[lo], ts[hi]) for lo, hi in spans]
    return out


def parse_label_json(obj: object) -> tuple[str, dict]:
    """Tell a windows file (name -> [[start, end], ...]) from a points file (name -> [ts, ...]).

    >>> parse_label_json({"a.csv": [["2020-01-01", "2020-01-02"]]})[0], parse_label_json({"a.csv": ["2020-01-01"]})[0]
    ('windows', 'points')
    """
    if not isinstance(obj, dict):
        raise ConfigError("labels: expected a JSON object of file name -> windows or anomaly timestamps")
    entries = [e for v in obj.values() if isinstance(v, list) for e in v]
    if any(not isinstance(v, list) for v in obj.values()):
        raise ConfigError("labels: every file must map to a list")
    if all(isinstance(e, list) and len(e) == 2 for e in entries):
        return "windows", {k: [(str(a), str(b)) for a, b in v] for k, v in obj.items()}
    if all(isinstance(e, str) for e in entries):
        return "points", {k: [str(t) for t in v] for k, v in obj.items()}
    raise ConfigError("labels: entries must be all [start, end] pairs (windows) or all timestamps (points)")


def score_series(
    operator: AnomalyOperator,
    names: Sequence[str],
    timestamps: Sequence[np.ndarray],
    values: Sequence[np.ndarray],
    windows: Mapping[str, Sequence],
    *,
    profiles: Mapping | None = None,
    steps_per_batch: int = 64,
) -> AnomalyEval:
    """Score every series with ``operator`` and the corpus with NAB's rules.

    A series without windows is scored as all normal rows, as NAB does for its files
    without anomalies; windows naming a file that is not among ``names`` are an error.
    """
    missing = sorted(set(windows) - set(names))
    if missing:
        raise ConfigError(f"labels name {len(missing)} file(s) not in the data directory, e.g. {missing[0]}")
    t0 = time.perf_counter()
    outs = stream_operator(operator, values, steps_per_batch=steps_per_batch)
    seconds = time.perf_counter() - t0
    results = [
        SeriesResult(name, ts, np.asarray(v, dtype=np.float64), np.clip(o["score"], 0.0, 1.0))
        for name, ts, v, o in zip(names, timestamps, values, outs)
    ]
    scores = score_corpus(results, {n: windows.get(n, []) for n in names}, profiles)
    return AnomalyEval(results, scores, seconds, int(sum(len(v) for v in values)))
