"""Seeded synthetic sensor series with injected, labelled anomalies.

Each key is level + trend + seasonality (daily and weekly by default) + AR(1) noise,
with anomalies injected after NAB's probation period. Every anomaly gets a labelled
window (its span widened by a margin) in the form the NAB scorer takes, so the set can
be scored by :mod:`rnnstream.evaluation.nab` directly or through files.

>>> s = generate(3, 2000, seed=1, n_dims=2)
>>> s.keys.shape, s.values.shape, s.values.dtype.name
((6000,), (6000, 2), 'float32')
>>> one = generate_series(2000, seed=1, n_anomalies=2, kinds=("spike",))
>>> [a.kind for a in one.anomalies], int(one.labels.sum()) > 0
(['spike', 'spike'], True)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnstream.errors import ConfigError
from rnnstream.evaluation.nab import SeriesResult, probation_rows, to_datetime64
from rnnstream.evaluation.nab_io import format_timestamps, write_data_csv, write_windows_json

__all__ = [
    "ANOMALY_KINDS",
    "DEMO_INCIDENTS",
    "InjectedAnomaly",
    "SyntheticSeries",
    "SyntheticSet",
    "demo_set",
    "generate",
    "generate_series",
]

ANOMALY_KINDS = ("spike", "level_shift", "variance_change", "flatline", "pattern_change", "drift")
_DAY, _WEEK = 86_400.0, 604_800.0


@dataclass(frozen=True)
class InjectedAnomaly:
    """One injected anomaly: steps ``start`` to ``stop - 1`` were altered; ``window`` is the
    inclusive labelled step range around them; ``dims`` the altered value dimensions."""

    key: str
    kind: str
    start: int
    stop: int
    window: tuple[int, int]
    dims: tuple[int, ...]


def _windows_of(ts: np.ndarray, anomalies: Sequence[InjectedAnomaly]) -> list[tuple]:
    stamps = to_datetime64(ts)
    return [(stamps[a.window[0]], stamps[a.window[1]]) for a in anomalies]


@dataclass(frozen=True, eq=False)
class SyntheticSeries:
    """One key: ``ts`` float64 epoch seconds [T], ``values`` float32 [T] or [T, D], ``labels`` int8 [T]."""

    key: str
    ts: np.ndarray
    values: np.ndarray
    labels: np.ndarray
    anomalies: tuple[InjectedAnomaly, ...]

    @property
    def timestamps(self) -> np.ndarray:
        """``ts`` as datetime64[us]."""
        return to_datetime64(self.ts)

    @property
    def windows(self) -> list[tuple[np.datetime64, np.datetime64]]:
        """Labelled windows as inclusive (start, end) datetime64 pairs, the NAB scorer's form."""
        return _windows_of(self.ts, self.anomalies)


@dataclass(frozen=True, eq=False)
class SyntheticSet:
    """Many keys in columnar, time-major order: row ``step * n_keys + k`` is key ``k`` at ``step``.

    ``keys`` str [N], ``ts`` float64 epoch seconds [N], ``values`` float32 [N] or [N, D],
    ``labels`` int8 [N] (1 inside a labelled window).
    """

    keys: np.ndarray
    ts: np.ndarray
    values: np.ndarray
    labels: np.ndarray
    anomalies: tuple[InjectedAnomaly, ...]
    key_names: tuple[str, ...]

    @property
    def n_steps(self) -> int:
        return self.ts.size // len(self.key_names)

    def series(self, key: str) -> SyntheticSeries:
        """The rows of one key, in time order."""
        try:
            k = self.key_names.index(key)
        except ValueError:
            raise ConfigError(f"unknown key {key!r}") from None
        rows = slice(k, None, len(self.key_names))
        own = tuple(a for a in self.anomalies if a.key == key)
        return SyntheticSeries(key, self.ts[rows], self.values[rows], self.labels[rows], own)

    @property
    def windows(self) -> dict[str, list[tuple[np.datetime64, np.datetime64]]]:
        """Labelled windows per key (inclusive datetime64 pairs)."""
        per_step = self.ts[:: len(self.key_names)]
        return {k: _windows_of(per_step, [a for a in self.anomalies if a.key == k]) for k in self.key_names}

    def nab_windows(self, category: str = "synthetic") -> dict[str, list[tuple]]:
        """Windows keyed by NAB file name ``<category>/<key>.csv``."""
        return {f"{category}/{k}.csv": w for k, w in self.windows.items()}

    def nab_results(
        self, scores: np.ndarray, *, category: str = "synthetic", dim: int = 0
    ) -> tuple[list[SeriesResult], dict[str, list]]:
        """(results, windows) for :func:`rnnstream.evaluation.nab.score_corpus` from
        anomaly scores aligned with this set's rows."""
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.size != self.ts.size:
            raise ConfigError(f"expected {self.ts.size} anomaly scores (one per row), got {scores.size}")
        n_keys = len(self.key_names)
        results = []
        for k, key in enumerate(self.key_names):
            values = self.values[k::n_keys]
            values = values[:, dim] if values.ndim == 2 else values
            results.append(SeriesResult(f"{category}/{key}.csv", self.ts[k::n_keys], values, scores[k::n_keys]))
        return results, self.nab_windows(category)

    def to_csv(self, path: str | Path, *, epoch: bool = False) -> Path:
        """One CSV of all rows: ``key,timestamp,value[...],label`` (``ts`` epoch seconds if ``epoch``)."""
        values = self.values.reshape(self.ts.size, -1)
        names = ["value"] if self.values.ndim == 1 else [f"value_{d}" for d in range(values.shape[1])]
        stamps = [f"{t:.3f}" for t in self.ts.tolist()] if epoch else format_timestamps(self.ts).tolist()
        cells = [[f"{v:.9g}" for v in values[:, d].tolist()] for d in range(values.shape[1])]
        header = ",".join(["key", "ts" if epoch else "timestamp", *names, "label"])
        rows = (
            ",".join([key, stamp, *(col[i] for col in cells), str(lab)])
            for i, (key, stamp, lab) in enumerate(zip(self.keys.tolist(), stamps, self.labels.tolist()))
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
        return path

    def write_nab_layout(
        self, root: str | Path, *, category: str = "synthetic", dim: int = 0
    ) -> tuple[Path, Path]:
        """NAB corpus under ``root``: ``data/<category>/<key>.csv``, ``combined_windows.json``
        and ``combined_labels.json`` (anomaly onsets). NAB files are univariate, so only
        value dimension ``dim`` is written. Returns (data directory, windows JSON path)."""
        root = Path(root)
        per_step = self.ts[:: len(self.key_names)]
        for k, key in enumerate(self.key_names):
            values = self.values[k :: len(self.key_names)]
            column = values[:, dim] if values.ndim == 2 else values
            write_data_csv(root / "data" / category / f"{key}.csv", per_step, column)
        windows_path = write_windows_json(root / "combined_windows.json", self.nab_windows(category))
        stamps = format_timestamps(per_step)
        onsets = {
            f"{category}/{key}.csv": [str(stamps[a.start]) for a in self.anomalies if a.key == key]
            for key in self.key_names
        }
        text = json.dumps(onsets, indent=2, sort_keys=True) + "\n"
        (root / "combined_labels.json").write_text(text, encoding="utf-8")
        return root / "data", windows_path


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = sorted(set(kinds) - set(ANOMALY_KINDS))
    if unknown or not kinds:
        raise ConfigError(f"kinds must be a non-empty subset of {ANOMALY_KINDS}, got {kinds!r}")
    return kinds


def _ar1_noise(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    # AR(1) as a truncated convolution with phi**k: vectorised, no per-step Python loop.
    taps = max(1, int(math.ceil(math.log(1e-6) / math.log(phi))))
    white = rng.normal(0.0, sigma, n + taps)
    return np.convolve(white, phi ** np.arange(taps), mode="full")[taps : taps + n]


def _baseline(rng: np.random.Generator, ts: np.ndarray, n_dims: int, periods_s: Sequence[float]):
    """Clean signal [T, D], its first seasonal fundamental [T, D], noise std [D], scale [D]."""
    n = ts.size
    t = ts - ts[0]
    span = max(float(t[-1]), 1.0)
    signal = np.empty((n, n_dims))
    fundamental = np.zeros((n, n_dims))
    noise_std = np.empty(n_dims)
    scale = np.empty(n_dims)
    for d in range(n_dims):
        level = rng.uniform(10.0, 100.0)
        trend = level * rng.uniform(-0.1, 0.1) * t / span
        seasonal = np.zeros(n)
        amp_total = 0.0
        for p, period in enumerate(periods_s):
            amp = level * (rng.uniform(0.1, 0.3) if p == 0 else rng.uniform(0.02, 0.12))
            phase, phase2, harmonic = rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.4)
            base = amp * np.sin(2 * math.pi * t / period + phase)
            if p == 0:
                fundamental[:, d] = base
            seasonal += base + amp * harmonic * np.sin(4 * math.pi * t / period + phase2)
            amp_total += amp * (1 + harmonic)
        phi, sigma = rng.uniform(0.3, 0.8), level * rng.uniform(0.005, 0.03)
        noise_std[d] = sigma / math.sqrt(1 - phi * phi)
        signal[:, d] = level + trend + seasonal + _ar1_noise(rng, n, phi, sigma)
        scale[d] = amp_total + 3.0 * noise_std[d]
    return signal, fundamental, noise_std, scale


def _lengths(kind: str, rng: np.random.Generator, period_steps: int, room: int) -> int:
    if kind == "spike":
        length = int(rng.integers(1, 4))
    elif kind == "pattern_change":
        length = int(rng.integers(max(4, period_steps // 4), max(5, period_steps) + 1))
    else:
        length = int(rng.integers(max(3, period_steps // 12), max(4, period_steps // 3) + 1))
    return max(1, min(length, room))


def generate_series(
    n_steps: int,
    *,
    seed: int | np.random.SeedSequence,
    key: str = "series_0",
    n_dims: int = 1,
    start: str | np.datetime64 = "2024-01-01T00:00:00",
    step_s: float = 300.0,
    periods_s: Sequence[float] = (_DAY, _WEEK),
    anomaly_rate: float = 0.001,
    n_anomalies: int | None = None,
    kinds: Sequence[str] = ANOMALY_KINDS,
    severity: float = 1.0,
    window_margin: int | None = None,
    plan: Sequence[str] | None = None,
) -> SyntheticSeries:
    """One synthetic series; deterministic for a ``seed``.

    ``anomaly_rate`` is the expected number of anomalies per step (Poisson, capped at what
    fits); ``n_anomalies`` sets the count exactly; ``plan`` sets the count and the kinds, in
    order (``kinds`` is then ignored). Anomalies start after NAB's probation
    period and are spread one per equal slot, so windows never overlap. A window is the
    anomaly's span widened by ``window_margin`` steps each side (default max(2, T // 200)).
    ``severity`` scales every anomaly's size (flatlines excepted; 1 is clearly visible).
    The baseline does not depend on the anomaly settings: the same seed with
    ``n_anomalies=0`` gives the clean series.
    """
    if n_steps < 20 or n_dims < 1 or not step_s > 0 or anomaly_rate < 0 or not severity > 0:
        raise ConfigError("need n_steps >= 20, n_dims >= 1, step_s > 0, anomaly_rate >= 0, severity > 0")
    if plan is not None:
        kinds, n_anomalies = _check_kinds(plan), len(plan)
    kinds = _check_kinds(kinds)
    if "pattern_change" in kinds and not periods_s:
        raise ConfigError("pattern_change anomalies need at least one seasonal period")
    root_seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # Separate streams keep the clean baseline independent of the anomaly settings.
    base_seq, anomaly_seq = root_seq.spawn(2)
    start_s = to_datetime64([start]).astype(np.int64)[0] / 1e6
    ts = start_s + step_s * np.arange(n_steps, dtype=np.float64)
    signal, fundamental, noise_std, scale = _baseline(np.random.default_rng(base_seq), ts, n_dims, periods_s)

    rng = np.random.default_rng(anomaly_seq)
    margin = max(2, n_steps // 200) if window_margin is None else int(window_margin)
    if margin < 0:
        raise ConfigError("window_margin must be >= 0")
    first = probation_rows(n_steps) + margin
    usable = n_steps - first - margin
    fits = max(0, usable // (2 * margin + 2))
    count = int(rng.poisson(anomaly_rate * n_steps)) if n_anomalies is None else int(n_anomalies)
    if n_anomalies is not None and not 0 <= count <= fits:
        raise ConfigError(f"{count} anomalies do not fit in {n_steps} steps (at most {fits} with margin {margin})")
    count = min(count, fits)
    period_steps = max(4, int(round(periods_s[0] / step_s))) if periods_s else 48
    anomalies = []
    slot = usable // count if count else 0
    for s in range(count):
        kind = str(rng.choice(kinds)) if plan is None else kinds[s]
        length = _lengths(kind, rng, period_steps, slot - 2 * margin - 1)
        begin = first + s * slot + int(rng.integers(0, slot - 2 * margin - length + 1))
        dims = (0, *(d for d in range(1, n_dims) if rng.random() < 0.5))
        window = (begin - margin, begin + length - 1 + margin)
        anomalies.append(InjectedAnomaly(key, kind, begin, begin + length, window, dims))

    values = signal.copy()
    for a in anomalies:
        span, cols = slice(a.start, a.stop), list(a.dims)
        n = a.stop - a.start
        size = severity * rng.choice([-1.0, 1.0]) * scale[cols]
        if a.kind == "spike":
            values[span, cols] += rng.uniform(1.5, 3.0) * size
        elif a.kind == "level_shift":
            values[span, cols] += rng.uniform(0.6, 1.2) * size
        elif a.kind == "drift":
            ramp = np.linspace(0.0, 1.0, n + 1)[1:, None]
            values[span, cols] += rng.uniform(0.6, 1.2) * size * ramp
        elif a.kind == "variance_change":
            spread = severity * rng.uniform(3.0, 6.0) * noise_std[cols]
            values[span, cols] += rng.normal(0.0, 1.0, (n, len(cols))) * spread
        elif a.kind == "pattern_change":
            # Inverting the main cycle is a half-period phase shift: same range, wrong shape.
            # The trapezoid fade keeps the onset free of a jump that would give it away.
            x = (np.arange(n) + 0.5) / n
            fade = np.clip(4.0 * np.minimum(x, 1.0 - x), 0.0, 1.0)[:, None]
            values[span, cols] -= 2.0 * severity * fade * fundamental[span, cols]
        else:  # flatline: a stuck sensor repeats its last good reading
            values[span, cols] = signal[a.start - 1, cols]

    labels = np.zeros(n_steps, dtype=np.int8)
    for a in anomalies:
        labels[a.window[0] : a.window[1] + 1] = 1
    out = values.astype(np.float32)
    return SyntheticSeries(key, ts, out[:, 0] if n_dims == 1 else out, labels, tuple(anomalies))


def generate(
    n_keys: int,
    n_steps: int,
    *,
    seed: int,
    key_prefix: str = "sensor_",
    n_dims: int = 1,
    start: str | np.datetime64 = "2024-01-01T00:00:00",
    step_s: float = 300.0,
    periods_s: Sequence[float] = (_DAY, _WEEK),
    anomaly_rate: float = 0.001,
    kinds: Sequence[str] = ANOMALY_KINDS,
    severity: float = 1.0,
    window_margin: int | None = None,
) -> SyntheticSet:
    """``n_keys`` series of ``n_steps`` aligned steps; key ``k`` depends only on (seed, k)."""
    if n_keys < 1:
        raise ConfigError("n_keys must be >= 1")
    width = max(4, len(str(n_keys - 1)))
    names = tuple(f"{key_prefix}{k:0{width}d}" for k in range(n_keys))
    parts = [
        generate_series(
            n_steps, seed=child, key=name, n_dims=n_dims, start=start, step_s=step_s, periods_s=periods_s,
            anomaly_rate=anomaly_rate, kinds=kinds, severity=severity, window_margin=window_margin,
        )
        for name, child in zip(names, np.random.SeedSequence(seed).spawn(n_keys))
    ]
    return _join(parts)


def _join(parts: Sequence[SyntheticSeries]) -> SyntheticSet:
    """Aligned series as one time-major set (row ``step * n_keys + k``)."""
    n_keys, n_steps = len(parts), parts[0].ts.size
    values = np.stack([p.values for p in parts], axis=1)
    return SyntheticSet(
        keys=np.tile(np.array([p.key for p in parts]), n_steps),
        ts=np.repeat(parts[0].ts, n_keys),
        values=values.reshape(n_steps * n_keys, *values.shape[2:]),
        labels=np.stack([p.labels for p in parts], axis=1).reshape(-1),
        anomalies=tuple(a for p in parts for a in p.anomalies),
        key_names=tuple(p.key for p in parts),
    )


# The bundled demo (pipeline/data/demo_sensors.csv): incidents a person sees on a plot.
DEMO_INCIDENTS = (
    ("spike", "flatline", "level_shift"),
    ("level_shift", "drift", "spike"),
    ("variance_change", "spike", "drift"),
    ("level_shift", "flatline", "variance_change"),
)


def demo_set(
    *, seed: int = 3, n_steps: int = 1500, severity: float = 2.0,
    incidents: Sequence[Sequence[str]] = DEMO_INCIDENTS,
) -> SyntheticSet:
    """The demo sensors: key ``sensor-000k`` carries the incident kinds ``incidents[k]``.

    >>> s = demo_set(n_steps=600, incidents=(("spike",), ("flatline", "drift")))
    >>> s.key_names, [a.kind for a in s.anomalies]
    (('sensor-0000', 'sensor-0001'), ['spike', 'flatline', 'drift'])
    """
    names = [f"sensor-{k:04d}" for k in range(len(incidents))]
    children = np.random.SeedSequence(seed).spawn(len(incidents))
    return _join([
        generate_series(n_steps, seed=child, key=name, plan=tuple(kinds), severity=severity)
        for name, kinds, child in zip(names, incidents, children)
    ])
