"""Training data: sensor files in, normalised TBPTT segments out.

A sensor file is CSV or JSONL with a time column, an optional key column and one or more
value columns; a directory is every such file under it (a file without a key column is one
key, named by its relative path, which is how NAB-style corpora are laid out). Each key's
series is normalised with the runtime's own online statistics
(:func:`rnnstream.engine.features.normalize_sequence`), so the network trains on exactly the
inputs it will see in production, and its targets are the future values in the units of
the statistics the operator will use to map them back.

>>> import numpy as np
>>> z, target, valid = make_targets(np.arange(6.0)[:, None], alpha_min=0.01, horizon=2)
>>> z.shape, target.shape, valid[:, :].sum(axis=0).tolist()
((6, 1), (6, 2, 1), [5, 4])
"""

from __future__ import annotations

import csv
import json
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnstream.errors import ConfigError
from rnnstream.engine.features import normalize_sequence

if TYPE_CHECKING:
    from rnnstream.models.train_config import TrainConfig

__all__ = [
    "Series",
    "Segments",
    "PreparedData",
    "prepare_data",
    "load_series",
    "read_table",
    "make_targets",
    "build_segments",
    "time_features",
    "seconds_of",
    "TIME_FEATURES",
    "TIME_COLUMNS",
    "TARGET_CLIP",
]

TIME_COLUMNS = ("timestamp", "ts", "time")
# Non-value columns a sensor file may carry (synthetic files carry their anomaly labels).
_IGNORED = {"label", "labels", "anomaly", "is_anomaly"}
# Pinball gradients are bounded whatever the error, so this only keeps inf/nan out.
TARGET_CLIP = 1e3


@dataclass(frozen=True, eq=False)
class Series:
    """One key: ``timestamps`` (datetime64[us] or float64) [T] and ``values`` float64 [T, D]."""

    key: str
    timestamps: np.ndarray
    values: np.ndarray


def read_table(path: str | Path) -> dict[str, list]:
    """Columns of a CSV (header row) or JSONL file (one object per line), as lists."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}:{n}: not JSON: {exc.msg}") from None
        names = list(dict.fromkeys(k for r in rows for k in r))
        return {k: [r.get(k) for r in rows] for k in names}
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise ConfigError(f"{path}: empty file")
    cols = [h.strip() for h in header]
    body = [r for r in reader if r]
    if any(len(r) != len(cols) for r in body):
        raise ConfigError(f"{path}: rows do not all have {len(cols)} fields")
    return {c: [r[i] for r in body] for i, c in enumerate(cols)}


def _parse_times(raw: list, path: Path, col: str) -> np.ndarray:
    try:
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    try:
        return np.array([str(v).strip().replace(" ", "T") for v in raw], dtype="datetime64[us]")
    except ValueError as exc:
        raise ConfigError(f"{path}: column {col!r} holds neither numbers nor ISO timestamps ({exc})") from None


def _floats(raw: list, path: Path, col: str) -> np.ndarray:
    try:
        out = np.asarray([np.nan if v in (None, "") else v for v in raw], dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: value column {col!r} is not numeric") from None
    return out


def _series_of_file(
    path: Path, name: str, time_col: str | None, key_col: str | None, value_cols: list[str] | None
) -> list[Series]:
    table = read_table(path)
    tcol = time_col or next((c for c in TIME_COLUMNS if c in table), None)
    if tcol is None or tcol not in table:
        raise ConfigError(f"{path}: no time column (looked for {time_col or ', '.join(TIME_COLUMNS)})")
    kcol = key_col if key_col is not None else ("key" if "key" in table else None)
    if kcol is not None and kcol not in table:
        raise ConfigError(f"{path}: no key column {kcol!r}")
    vcols = value_cols or [c for c in table if c not in (tcol, kcol) and c.lower() not in _IGNORED]
    missing = [c for c in vcols if c not in table]
    if missing or not vcols:
        raise ConfigError(f"{path}: value columns {missing or vcols} not found")
    times = _parse_times(table[tcol], path, tcol)
    values = np.stack([_floats(table[c], path, c) for c in vcols], axis=1)
    keys = np.array([str(k) for k in table[kcol]]) if kcol else np.full(times.shape[0], name)
    out = []
    for key in dict.fromkeys(keys.tolist()):
        rows = np.flatnonzero(keys == key)
        rows = rows[np.argsort(times[rows], kind="stable")]
        vals = values[rows]
        # Gaps are filled with the last reading: the runtime would simply not see the event,
        # and a forward fill is the closest causal stand-in for training.
        if np.isnan(vals).any():
            vals = _ffill(vals)
        out.append(Series(key, times[rows], vals))
    return out


def _ffill(values: np.ndarray) -> np.ndarray:
    idx = np.where(np.isnan(values), 0, np.arange(values.shape[0])[:, None])
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = values[idx, np.arange(values.shape[1])]
    return np.nan_to_num(filled, nan=0.0)


def load_series(
    path: str | Path,
    *,
    time_col: str | None = None,
    key_col: str | None = None,
    value_cols: list[str] | None = None,
) -> list[Series]:
    """Every key's series from a CSV/JSONL file or a directory of them (sorted by name)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".csv", ".jsonl", ".ndjson"))
        if not files:
            raise ConfigError(f"{path}: no .csv or .jsonl files")
        named = [(p, p.relative_to(path).as_posix()) for p in files]
    elif path.is_file():
        named = [(path, path.stem)]
    else:
        raise ConfigError(f"data path {path} does not exist")
    out: list[Series] = []
    for p, name in named:
        out.extend(_series_of_file(p, name, time_col, key_col, value_cols))
    dims = {s.values.shape[1] for s in out}
    if len(dims) != 1:
        raise ConfigError(f"{path}: series disagree on the number of value columns: {sorted(dims)}")
    return out


def make_targets(values: np.ndarray, *, alpha_min: float, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model inputs and targets for one series ``[T, D]``.

    Returns ``z`` [T, D] (the runtime's normalised input), ``target`` [T, H, D] where
    ``target[t, h] = (x[t+h+1] - mean_t) / std_t`` with the statistics after step ``t``,
    and ``valid`` [T, H] (False where ``t+h+1`` is past the end).
    """
    values = np.asarray(values, dtype=np.float64)
    z, means, stds = normalize_sequence(values, alpha_min)
    t_len, d = values.shape
    target = np.zeros((t_len, horizon, d))
    valid = np.zeros((t_len, horizon), dtype=bool)
    for h in range(horizon):
        n = t_len - h - 1
        if n > 0:
            target[:n, h] = (values[h + 1 :] - means[:n]) / stds[:n]
            valid[:n, h] = True
    np.clip(target, -TARGET_CLIP, TARGET_CLIP, out=target)
    return z, target, valid


TIME_FEATURES = {"day": 86_400.0, "week": 604_800.0}


def seconds_of(timestamps: np.ndarray) -> np.ndarray:
    """Event times as float seconds since the epoch (datetime64 or numbers already in seconds)."""
    ts = np.asarray(timestamps)
    if np.issubdtype(ts.dtype, np.datetime64):
        return ts.astype("datetime64[us]").astype(np.int64) / 1e6
    return ts.astype(np.float64)


def time_features(seconds: np.ndarray, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Phase of each named cycle as (sin, cos) pairs, ``[T, 2 * len(names)]``.

    Cycles are measured from the Unix epoch in the timestamps' own clock (no time zone), so
    a model learns "same time of day" wherever its data comes from.

    >>> (time_features(np.array([0.0, 21_600.0]), ["day"]).round(6) + 0.0).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    cols = []
    for name in names:
        if name not in TIME_FEATURES:
            raise ConfigError(f"time feature {name!r}: must be one of {sorted(TIME_FEATURES)}")
        phase = 2.0 * np.pi * np.mod(seconds, TIME_FEATURES[name]) / TIME_FEATURES[name]
        cols += [np.sin(phase), np.cos(phase)]
    return np.stack(cols, axis=1) if cols else np.zeros((np.asarray(seconds).shape[0], 0))


@dataclass(frozen=True, eq=False)
class Segments:
    """Equal-length training lanes: ``z`` [N, L, D], ``target`` [N, L, H, D], ``weight`` [N, L, H].

    ``weight`` is 0 on padding, on burn-in steps and on targets outside the training part.
    """

    z: np.ndarray
    target: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return int(self.z.shape[0])


def build_segments(
    prepared: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]],
    *,
    segment_len: int,
    burn_in: int,
    norm_warmup: int = 8,
) -> Segments:
    """Cut each series' training part into lanes of ``burn_in + segment_len`` steps.

    ``prepared`` holds ``(z, target, valid, n_train)`` per series. A lane that starts
    mid-series begins ``burn_in`` steps early with its loss masked there, because its
    recurrent state starts from zero while the runtime's would carry history. The first
    ``norm_warmup`` steps of a series are masked too: its statistics are still settling.
    """
    if segment_len < 1 or burn_in < 0:
        raise ConfigError("segment_len must be >= 1 and burn_in >= 0")
    length = burn_in + segment_len
    lanes = []
    for z, target, valid, n_train in prepared:
        h = target.shape[1]
        # Only targets inside the training part count: the rest is the validation split.
        t_idx = np.arange(z.shape[0])[:, None] + np.arange(1, h + 1)[None, :]
        weight = (valid & (t_idx < n_train)).astype(np.float32)
        weight[:norm_warmup] = 0.0
        for start in range(0, n_train, segment_len):
            lo = max(0, start - burn_in)
            hi = min(start + segment_len, n_train)
            if hi - lo < 2:
                continue
            w = weight[lo:hi].copy()
            w[: start - lo] = 0.0
            if w.sum() == 0:
                continue
            lanes.append((z[lo:hi], target[lo:hi], w))
    if not lanes:
        raise ConfigError("no training segments: the series are too short for the chosen split")
    width, (h, d) = lanes[0][0].shape[1], lanes[0][1].shape[1:]
    n = len(lanes)
    zs = np.zeros((n, length, width), np.float32)
    ts = np.zeros((n, length, h, d), np.float32)
    ws = np.zeros((n, length, h), np.float32)
    for i, (z, t, w) in enumerate(lanes):
        zs[i, : z.shape[0]] = z
        ts[i, : z.shape[0]] = t
        ws[i, : z.shape[0]] = w
    return Segments(zs, ts, ws)


@dataclass
class PreparedData:
    """A run's data: training lanes plus whole series for validation, and where it came from."""

    segments: Segments
    val_z: np.ndarray  # [S, T, D] whole series, zero-padded
    val_target: np.ndarray  # [S, T, H, D]
    val_weight: np.ndarray  # [S, T, H], 1 only on held-out targets
    value_dim: int
    description: dict[str, Any]


def _load(cfg: TrainConfig) -> tuple[list[Series], dict[str, Any]]:
    if cfg.data is not None:
        series = load_series(cfg.data, time_col=cfg.time_col, key_col=cfg.key_col, value_cols=cfg.value_cols)
        root = Path(cfg.data)
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        h = hashlib.sha256()
        for p in (p for p in files if p.is_file()):
            h.update(p.read_bytes())
        desc = {"source": "files", "path": str(cfg.data), "sha256": h.hexdigest()}
    else:
        from rnnstream.models.synthdata import synthetic_series

        spec = cfg.synthetic
        series = synthetic_series(
            seed=spec.seed, keys=spec.keys, steps=spec.steps, step_s=spec.step_s,
            anomaly_rate=spec.anomaly_rate, recipe=spec.recipe,
        )
        desc = {"source": "synthetic", "generator": "rnnstream.models.synthdata.synthetic_series "
                "(families over rnnstream.models.synthetic.generate_series)", **spec.model_dump(mode="json")}
    desc.update(keys=len(series), rows=int(sum(s.values.shape[0] for s in series)))
    return series, desc


def prepare_data(cfg: TrainConfig) -> PreparedData:
    """Load the config's data, normalise it as the runtime does, split and segment it."""
    series, desc = _load(cfg)
    horizon = cfg.horizon_steps
    prepared, val_parts = [], []
    for s in series:
        t_len = s.values.shape[0]
        n_train = int(round(t_len * (1.0 - cfg.val_fraction)))
        if n_train < 2:
            continue
        z, target, valid = make_targets(s.values, alpha_min=cfg.alpha_min, horizon=horizon)
        if cfg.time_features:
            z = np.concatenate([z, time_features(seconds_of(s.timestamps), cfg.time_features)], axis=1)
        prepared.append((z, target, valid, n_train))
        t_idx = np.arange(t_len)[:, None] + np.arange(1, horizon + 1)[None, :]
        val_parts.append((z, target, (valid & (t_idx >= n_train)).astype(np.float32)))
    if not prepared:
        raise ConfigError("every series is too short to train on")
    segments = build_segments(prepared, segment_len=cfg.window * cfg.segment_windows, burn_in=cfg.burn_in)
    t_max = max(v[0].shape[0] for v in val_parts)
    d = prepared[0][1].shape[2]
    vz = np.zeros((len(val_parts), t_max, prepared[0][0].shape[1]), np.float32)
    vt = np.zeros((len(val_parts), t_max, horizon, d), np.float32)
    vw = np.zeros((len(val_parts), t_max, horizon), np.float32)
    for i, (z, t, w) in enumerate(val_parts):
        vz[i, : z.shape[0]], vt[i, : z.shape[0]], vw[i, : z.shape[0]] = z, t, w
    desc["train_lanes"] = len(segments)
    return PreparedData(segments, vz, vt, vw, d, desc)
