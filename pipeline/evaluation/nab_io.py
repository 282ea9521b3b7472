"""Reading NAB data and label files, and writing NAB's results layout.

NAB stores one series per ``data/<category>/<file>.csv`` (columns ``timestamp,value``),
windows in ``combined_windows.json`` and a detector's output in
``results/<detector>/<category>/<detector>_<file>.csv`` with columns
``timestamp,value,anomaly_score,label``. Library functions take paths as arguments.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> ts = np.arange(3).astype("datetime64[h]")
>>> p = write_data_csv(root / "data" / "demo" / "a.csv", ts, np.array([1.0, 2.5, 3.0]))
>>> list_data_files(root / "data")
['demo/a.csv']
>>> read_data_csv(p)[1].tolist()
[1.0, 2.5, 3.0]
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from rnnstream.errors import ConfigError
from rnnstream.evaluation.nab import (
    CostProfile,
    SeriesResult,
    profiles_from_mapping,
    to_datetime64,
    window_bounds,
    window_labels,
)

__all__ = [
    "format_timestamps",
    "list_data_files",
    "read_data_csv",
    "read_labels",
    "read_profiles",
    "read_results",
    "read_windows",
    "results_path",
    "write_data_csv",
    "write_results",
    "write_windows_json",
]

_RESULT_COLUMNS = ("timestamp", "value", "anomaly_score", "label")


def format_timestamps(timestamps: np.ndarray, *, fraction: bool = False) -> np.ndarray:
    """NAB's text form ``YYYY-MM-DD HH:MM:SS`` (``.ffffff`` appended when ``fraction``).

    >>> format_timestamps(np.array(["2014-04-10T07:15"], dtype="datetime64[m]")).tolist()
    ['2014-04-10 07:15:00']
    """
    ts = to_datetime64(timestamps)
    whole = ts.astype("datetime64[s]")
    # Sub-second timestamps keep their fraction so that they read back unchanged.
    unit = "us" if fraction or np.any(whole != ts) else "s"
    return np.char.replace(np.datetime_as_string(ts, unit=unit), "T", " ")


def _read_table(path: Path, required: Sequence[str]) -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as fh:
            header = [h.strip() for h in fh.readline().strip().split(",")]
            with warnings.catch_warnings():
                # An empty body is a valid (empty) series, not worth a warning.
                warnings.simplefilter("ignore", UserWarning)
                body = np.loadtxt(fh, delimiter=",", dtype=str, ndmin=2)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: malformed CSV ({exc})") from exc
    missing = [c for c in required if c not in header]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {missing}; header is {header}")
    if body.size and body.shape[1] != len(header):
        raise ConfigError(f"{path}: rows have {body.shape[1]} fields, header has {len(header)}")
    return {name: body[:, i] if body.size else np.zeros(0, str) for i, name in enumerate(header)}


def _floats(column: np.ndarray, path: Path, name: str) -> np.ndarray:
    try:
        return column.astype(np.float64)
    except ValueError as exc:
        raise ConfigError(f"{path}: column {name!r} is not numeric ({exc})") from exc


def read_data_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps datetime64[us], values float64) of a NAB data file."""
    table = _read_table(Path(path), ("timestamp", "value"))
    return to_datetime64(table["timestamp"]), _floats(table["value"], Path(path), "value")


def list_data_files(data_dir: str | Path) -> list[str]:
    """Relative names (``category/file.csv``) of every CSV under ``data_dir``, sorted."""
    root = Path(data_dir)
    if not root.is_dir():
        raise ConfigError(f"NAB data directory {root} does not exist")
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.csv"))


def _read_json(path: str | Path) -> object:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read JSON {path}: {exc}") from exc


def read_windows(path: str | Path) -> dict[str, list[tuple[str, str]]]:
    """``combined_windows.json``: file name -> list of inclusive (start, end) timestamps."""
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected an object of file name -> windows")
    out: dict[str, list[tuple[str, str]]] = {}
    for name, pairs in raw.items():
        if not isinstance(pairs, list) or any(not isinstance(p, list) or len(p) != 2 for p in pairs):
            raise ConfigError(f"{path}: windows of {name!r} must be a list of [start, end] pairs")
        out[name] = [(str(a), str(b)) for a, b in pairs]
    return out


def read_labels(path: str | Path) -> dict[str, list[str]]:
    """``combined_labels.json``: file name -> anomaly timestamps the windows centre on."""
    raw = _read_json(path)
    if not isinstance(raw, dict) or any(not isinstance(v, list) for v in raw.values()):
        raise ConfigError(f"{path}: expected an object of file name -> list of timestamps")
    return {name: [str(t) for t in stamps] for name, stamps in raw.items()}


def read_profiles(path: str | Path) -> dict[str, CostProfile]:
    """NAB's ``profiles.json`` as CostProfile values."""
    raw = _read_json(path)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected an object of profile name -> CostMatrix")
    return profiles_from_mapping(raw)


def _format_numbers(values: np.ndarray) -> list[str]:
    # float32 data written with 9 digits and float64 with 17 both read back bit-exactly.
    digits = 9 if values.dtype == np.float32 else 17
    return [f"{v:.{digits}g}" for v in values.tolist()]


def write_data_csv(path: str | Path, timestamps: np.ndarray, values: np.ndarray) -> Path:
    """Write a ``timestamp,value`` file as NAB's data files are; returns the path."""
    path = Path(path)
    values = np.asarray(values)
    if values.ndim != 1 or values.size != np.asarray(timestamps).size:
        raise ConfigError("a NAB data file holds one value per timestamp")
    stamps = format_timestamps(timestamps).tolist()
    lines = [f"{t},{v}" for t, v in zip(stamps, _format_numbers(values))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("timestamp,value\n" + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_windows_json(path: str | Path, windows: Mapping[str, Sequence]) -> Path:
    """Write windows in ``combined_windows.json`` form (timestamps with microseconds)."""
    out = {}
    for name, pairs in windows.items():
        if not pairs:  # a file without anomalies has an empty window list in NAB's layout
            out[name] = []
            continue
        stamps = format_timestamps([t for pair in pairs for t in pair], fraction=True).tolist()
        out[name] = [[stamps[i], stamps[i + 1]] for i in range(0, len(stamps), 2)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def results_path(out_dir: str | Path, detector: str, name: str) -> Path:
    """``out_dir/<detector>/<category>/<detector>_<file>.csv`` for data file ``name``.

    >>> results_path("res", "lstm", "realKnownCause/nyc_taxi.csv").as_posix()
    'res/lstm/realKnownCause/lstm_nyc_taxi.csv'
    """
    if not detector or "/" in detector:
        raise ConfigError(f"detector name {detector!r} must be non-empty and contain no '/'")
    rel = Path(name)
    return Path(out_dir) / detector / rel.parent / f"{detector}_{rel.name}"


def write_results(
    out_dir: str | Path,
    detector: str,
    series: Sequence[SeriesResult],
    windows: Mapping[str, Sequence],
) -> list[Path]:
    """Write each result in NAB's results layout; ``label`` is 1 inside a window."""
    written = []
    for result in series:
        if result.values is None:
            raise ConfigError(f"{result.name}: writing NAB results needs the series values")
        values = np.asarray(result.values, dtype=np.float64).reshape(-1)
        bounds = window_bounds(result.timestamps, windows.get(result.name, []))
        labels = window_labels(result.scores.size, bounds).tolist()
        stamps = format_timestamps(result.timestamps).tolist()
        rows = zip(stamps, _format_numbers(values), _format_numbers(result.scores), labels)
        path = results_path(out_dir, detector, result.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = ",".join(_RESULT_COLUMNS) + "\n" + "".join(f"{t},{v},{s},{lab}\n" for t, v, s, lab in rows)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def read_results(out_dir: str | Path, detector: str, names: Sequence[str] | None = None) -> list[SeriesResult]:
    """Read a detector's results back; ``names`` defaults to every file found for it."""
    base = Path(out_dir) / detector
    if names is None:
        if not base.is_dir():
            raise ConfigError(f"no results directory {base}")
        prefix = f"{detector}_"
        names = sorted(
            (p.parent.relative_to(base) / p.name[len(prefix):]).as_posix()
            for p in base.rglob(f"{prefix}*.csv")
        )
    out = []
    for name in names:
        path = results_path(out_dir, detector, name)
        table = _read_table(path, ("timestamp", "value", "anomaly_score"))
        out.append(
            SeriesResult(
                name=name,
                timestamps=to_datetime64(table["timestamp"]),
                values=_floats(table["value"], path, "value"),
                scores=_floats(table["anomaly_score"], path, "anomaly_score"),
            )
        )
    return out
