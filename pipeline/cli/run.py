"""``rnnstream run``, ``validate`` and ``demo``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from importlib import resources
from pathlib import Path

from rnnstream.cli.configfile import load_config_file
from rnnstream.cli.options import add_max_seconds
from rnnstream.config import PipelineConfig, parse_config
from rnnstream.errors import ConfigError

__all__ = ["register", "demo_config", "run_pipeline"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a pipeline from a YAML config (no file: the embedded demo)",
        description="Run sources -> operators -> sinks until the sources end or SIGINT/SIGTERM, "
        "then drain, flush and commit.",
    )
    p.add_argument("config", nargs="?", help="pipeline YAML; omitted: the embedded demo")
    add_max_seconds(p, "stop after this long (drains first)")
    p.set_defaults(func=_cmd_run)

    v = sub.add_parser("validate", help="check a config file; exit 2 with one line naming the bad field")
    v.add_argument("config")
    v.add_argument("--load-models", action="store_true", help="also load and verify every model")
    v.set_defaults(func=_cmd_validate)

    d = sub.add_parser(
        "demo",
        help="replay the bundled multi-key sensor CSV through the shipped forecaster and anomaly model",
        description="Prints one JSON line per event (key, ts, value, forecast quantiles, anomaly score, "
        "alert), serves /metrics, writes a PNG plot per key, and exits when the replay ends.",
    )
    d.add_argument("--out", default="rnnstream-demo", help="folder for the per-key PNG plots (default %(default)s)")
    d.add_argument("--speed", type=float, default=0.0, help="replay pace: 0 = as fast as possible (default)")
    d.add_argument("--metrics-port", type=int, default=9464, help="0 picks a free port (default %(default)s)")
    d.add_argument("--quiet", action="store_true", help="do not print the JSON lines")
    d.set_defaults(func=_cmd_demo)


def demo_config(out: str | Path = "rnnstream-demo", *, speed: float = 0.0, port: int = 9464, quiet: bool = False) -> PipelineConfig:
    """The embedded default: bundled sensors, shipped models, JSON lines on stdout, PNGs in ``out``."""
    data = Path(str(resources.files("rnnstream") / "data" / "demo_sensors.csv"))
    sinks = [] if quiet else [{"type": "stdout"}]
    sinks.append({"type": "plot", "directory": str(out)})
    return parse_config(
        {
            "sources": [
                {"type": "csv", "name": "demo", "path": str(data), "speed": speed, "ts_field": "timestamp"}
            ],
            "operators": [
                {"type": "forecast", "name": "forecast", "model": "builtin:forecast"},
                {"type": "anomaly", "name": "anomaly", "model": "builtin:anomaly"},
            ],
            "sinks": sinks,
            "metrics": {"port": port},
        }
    )


def run_pipeline(cfg: PipelineConfig, *, max_seconds: float | None = None) -> int:
    from rnnstream.runtime.build import build_pipeline
    from rnnstream.runtime.heap import settle_heap
    from rnnstream.runtime.httpserver import MetricsServer

    pipeline = build_pipeline(cfg)
    server = None
    if cfg.metrics.enabled:
        # /healthz: the loop runs, and commits advance whenever a source lags (see Pipeline.health).
        server = MetricsServer(
            pipeline.registry, address=cfg.metrics.address, port=cfg.metrics.port,
            health=pipeline.health, ready=pipeline.is_ready,
        ).start()
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("received %s: draining and committing", signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    settle_heap()  # after the models and state are loaded: see rnnstream.runtime.heap
    try:
        stats = pipeline.run(stop, max_seconds=max_seconds)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        pipeline.close()
        if server is not None:
            server.stop()
    log.info(
        "done: %d in, %d out, %d dead-lettered %s, %d batches",
        stats.events_in, stats.events_out, stats.dead, stats.dead_by_reason or "", stats.batches,
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    cfg = load_config_file(args.config) if args.config else demo_config()
    return run_pipeline(cfg, max_seconds=args.max_seconds)


def _cmd_validate(args: argparse.Namespace) -> int:
    cfg = load_config_file(args.config)
    if args.load_models:
        from rnnstream.runtime.build import build_operator

        for op in cfg.operators:
            build_operator(op)
    print(f"{args.config}: ok ({len(cfg.sources)} sources, {len(cfg.operators)} operators, {len(cfg.sinks)} sinks)")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.speed < 0:
        raise ConfigError("--speed: must be >= 0")
    cfg = demo_config(args.out, speed=args.speed, port=args.metrics_port, quiet=args.quiet)
    code = run_pipeline(cfg)
    log.info("plots written to %s/", args.out)
    return code
