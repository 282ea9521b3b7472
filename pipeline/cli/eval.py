"""``rnnstream eval forecast`` and ``eval anomaly``: benchmarks over a data directory; the ``eval``
command also registers ``eval asr`` (:mod:`rnnstream.cli.eval_asr`) and the text benchmarks.

Each runs the shipped (or a given) ONNX model through the runtime operators; no torch.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from rnnstream.cli.options import add_json_file
from rnnstream.errors import ConfigError

__all__ = ["register", "format_forecast_table", "nab_summary"]

log = logging.getLogger(__name__)

_PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="benchmark the forecaster (MASE) or the anomaly detector (NAB score)")
    kinds = p.add_subparsers(dest="eval_kind", metavar="KIND", required=True)

    f = kinds.add_parser(
        "forecast",
        help="MASE and 80%% interval coverage vs naive and seasonal-naive on held-out tails",
        description="Streams every series in --data through the forecaster and scores forecasts from "
        "the last --test-fraction of each series, with the naive and seasonal-naive baselines "
        "scored on the same origins in the same run.",
    )
    f.add_argument("--data", required=True, help="CSV/JSONL file or directory (NAB layout works)")
    f.add_argument("--model", default="builtin:forecast", help="model .onnx/.json (default %(default)s)")
    f.add_argument("--test-fraction", type=float, default=0.2, help="held-out tail per series (default 0.2)")
    f.add_argument("--season", type=int, default=None, help="seasonal period in steps (default: steps per day)")
    f.add_argument("--time-col", default=None)
    f.add_argument("--key-col", default=None)
    f.add_argument("--value-cols", default=None, help="comma-separated value columns")
    add_json_file(f, "write the summary and per-series scores here")
    f.set_defaults(func=_cmd_forecast)

    a = kinds.add_parser(
        "anomaly",
        help="NAB score (standard / reward_low_FP_rate / reward_low_FN_rate) over a NAB-layout directory",
        description="Streams every data/<category>/<file>.csv through the anomaly operator (each file is "
        "one key, no look-ahead) and scores the anomaly likelihoods by NAB's rules: probation, "
        "windows, scaled sigmoid, one swept threshold per profile, null/perfect normalisation.",
    )
    a.add_argument("--data", required=True, help="NAB data directory (<category>/<file>.csv)")
    a.add_argument("--labels", required=True, help="combined_windows.json, or combined_labels.json (points; "
                   "windows are then derived by NAB's 10%% rule)")
    a.add_argument("--model", default="builtin:anomaly", help="model .onnx/.json (default %(default)s)")
    a.add_argument("--profiles", default=None, help="NAB profiles.json (default: NAB v1.1's three profiles)")
    a.add_argument("--results-dir", default=None, help="write NAB results CSVs under OUT/<detector>/<category>/")
    a.add_argument("--detector", default="rnnstream", help="detector name in the results layout")
    add_json_file(a, "write {standard, reward_low_FP_rate, reward_low_FN_rate, files, windows}")
    for flag, dest, typ, what in (("--threshold", "threshold", float, "alert score (default: the model's)"),
                                  ("--warmup", "warmup", int, "events before a key is scored"),
                                  ("--hold", "hold", int, "events a key stays quiet after an alert")):
        a.add_argument(flag, dest=dest, type=typ, default=None, help=f"override the manifest's {what}")
    a.add_argument("--set", dest="detector_set", action="append", default=[], metavar="NAME=VALUE",
                   help="override any features.detector setting of the model (repeatable), e.g. --set w_ctx=2.5")
    a.set_defaults(func=_cmd_anomaly)

    from rnnstream.cli.eval_asr import register_asr
    from rnnstream.cli.eval_text import register_text

    register_asr(kinds)
    register_text(kinds)


def format_forecast_table(summary: dict) -> str:
    """The summary as a small aligned text table."""
    lines = [f"{'method':<16}{'MASE mean':>11}{'MASE median':>13}{'80% cover':>11}{'width':>8}"]
    for method in ("model", "naive", "seasonal_naive"):
        m = summary[method]
        lines.append(f"{method:<16}{m['mase']:>11.3f}{m['mase_median']:>13.3f}{m['coverage80']:>11.3f}{m['width']:>8.2f}")
    lines.append(
        f"series {summary['series']} (skipped {summary['skipped']}), horizon {summary['horizon']}; model beats "
        f"seasonal-naive on {summary['model_beats_seasonal_naive']}, naive on {summary['model_beats_naive']}"
    )
    return "\n".join(lines)


def _session(spec: str):
    from rnnstream.runtime.build import resolve_model
    from rnnstream.engine.session import load_session

    return load_session(resolve_model(spec), provider="cpu")


def _write_json(path: str, obj: dict) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _cmd_forecast(args: argparse.Namespace) -> int:
    from rnnstream.evaluation.forecast import evaluate_forecaster
    from rnnstream.models.data import load_series
    from rnnstream.operators.forecast import ForecastOperator

    cols = [c for c in args.value_cols.split(",") if c] if args.value_cols else None
    series = load_series(args.data, time_col=args.time_col, key_col=args.key_col, value_cols=cols)
    op = ForecastOperator(_session(args.model))
    if op.model.dim != series[0].values.shape[1]:
        raise ConfigError(f"the model takes {op.model.dim} value(s) per event, the data has {series[0].values.shape[1]}")
    result = evaluate_forecaster(
        op, [s.key for s in series], [s.timestamps for s in series], [s.values for s in series],
        test_fraction=args.test_fraction, season=args.season,
    )
    print(format_forecast_table(result.summary))
    if args.json:
        _write_json(args.json, {"summary": result.summary, "per_series": result.per_series, "skipped": result.skipped})
    return 0


def nab_summary(scores: dict) -> dict:
    """The ``--json`` object: the three profile scores, files and windows."""
    return {**{p: scores[p] for p in _PROFILES if p in scores}, "files": scores["files"], "windows": scores["windows"]}


def _detector_overrides(pairs: list[str]) -> dict:
    """``NAME=VALUE`` strings as a settings mapping; the operator validates names and values."""
    out: dict = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set: expected NAME=VALUE, got {pair!r}")
        try:
            out[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(f"--set {name}: {value!r} is not a number or a JSON list") from None
    return out


def _cmd_anomaly(args: argparse.Namespace) -> int:
    from rnnstream.evaluation.anomaly_run import parse_label_json, score_series, windows_from_points
    from rnnstream.evaluation.nab_io import list_data_files, read_data_csv, read_profiles, write_results
    from rnnstream.operators.anomaly import AnomalyOperator

    root = Path(args.data)
    names = list_data_files(root)
    if not names:
        raise ConfigError(f"no CSV files under {root}")
    timestamps, values = [], []
    for name in names:
        ts, v = read_data_csv(root / name)
        timestamps.append(ts)
        values.append(v)
    try:
        raw = json.loads(Path(args.labels).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read labels {args.labels}: {exc}") from None
    kind, labels = parse_label_json(raw)
    if kind == "points":
        log.warning("%s holds anomaly points; deriving windows by NAB's rule (a windows file is exact)", args.labels)
        windows = windows_from_points(names, timestamps, labels)
    else:
        windows = labels
    profiles = read_profiles(args.profiles) if args.profiles else None
    overrides = {k: getattr(args, k) for k in ("threshold", "warmup", "hold")}
    op = AnomalyOperator(_session(args.model), settings=_detector_overrides(args.detector_set), **overrides)
    result = score_series(op, names, timestamps, values, windows, profiles=profiles)
    s = result.scores
    for prof in (p for p in s if p in _PROFILES or p in (profiles or {})):
        print(f"{prof:<20} {s[prof]:7.2f}   (threshold {s['thresholds'][prof]:.10g}, "
              f"tp {s['counts'][prof]['tp']} fp {s['counts'][prof]['fp']} fn {s['counts'][prof]['fn']})")
    print(f"files {s['files']}, windows {s['windows']}, rows {result.rows}, "
          f"{result.rows / max(result.seconds, 1e-9):,.0f} rows/s")
    if args.results_dir:
        paths = write_results(args.results_dir, args.detector, result.results, windows)
        print(f"wrote {len(paths)} results files under {Path(args.results_dir) / args.detector}")
    if args.json:
        _write_json(args.json, nab_summary(s))
    return 0 if np.isfinite(s.get("standard", 0.0)) else 2
