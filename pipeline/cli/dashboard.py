"""``rnnstream dashboard``: a PNG snapshot of the main panels, or the Grafana dashboard JSON."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from rnnstream.errors import ConfigError

__all__ = ["register"]

log = logging.getLogger(__name__)

DEFAULT_METRICS = "http://127.0.0.1:9464/metrics"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dashboard",
        help="draw the main dashboard panels to a PNG, or write the Grafana dashboard JSON",
        description="With --prometheus, query a live Prometheus (query_range) over the last --window seconds. "
        "Otherwise scrape a daemon's own /metrics (default %s) every --interval seconds for --window "
        "seconds and compute the panels locally." % DEFAULT_METRICS,
    )
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--snapshot", metavar="OUT.png", help="write the main panels to this PNG")
    out.add_argument("--grafana-json", metavar="OUT.json", help="write the Grafana dashboard JSON ('-' = stdout)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--prometheus", metavar="URL", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    src.add_argument("--metrics", metavar="URL", help=f"a daemon's /metrics URL (default {DEFAULT_METRICS})")
    p.add_argument("--window", type=float, default=None,
                   help="seconds of history (Prometheus, default 900) or of sampling (/metrics, default 20)")
    p.add_argument("--end", type=float, default=None,
                   help="Prometheus: end of the window, Unix seconds (default now), to draw a past incident")
    p.add_argument("--interval", type=float, default=1.0, help="/metrics sampling interval (default %(default)s s)")
    p.add_argument("--rate-window", type=float, default=None,
                   help="rate() window in seconds (default 60 with Prometheus, 5 with /metrics)")
    p.add_argument("--job", default=".*", help="Prometheus job regex (default all)")
    p.add_argument("--instance", default=".*", help="Prometheus instance regex (default all)")
    p.add_argument("--title", default=None, help="figure title")
    p.set_defaults(func=_cmd_dashboard)


def _cmd_dashboard(args: argparse.Namespace) -> int:
    if args.grafana_json:
        from rnnstream.apps.dashboard.grafana import grafana_json

        text = grafana_json()
        if args.grafana_json == "-":
            sys.stdout.write(text)
        else:
            Path(args.grafana_json).write_text(text)
        return 0
    from rnnstream.apps.dashboard.snapshot import evaluate_panels, fetch_prometheus, render_snapshot, sample_metrics
    from rnnstream.apps.dashboard.spec import snapshot_panels

    for name in ("window", "interval", "rate_window"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ConfigError(f"--{name.replace('_', '-')}: must be > 0")
    if args.prometheus:
        window = args.window or 900.0
        data = fetch_prometheus(args.prometheus, window_s=window, rate_s=args.rate_window or 60.0,
                                job=args.job, instance=args.instance, end=args.end)
        where = f"Prometheus {args.prometheus}, last {window:g} s"
    else:
        url = args.metrics or DEFAULT_METRICS
        window = args.window or 20.0
        log.info("sampling %s every %g s for %g s", url, args.interval, window)
        scrapes = sample_metrics(url, seconds=window, interval_s=args.interval)
        data = evaluate_panels(scrapes, rate_s=args.rate_window or 5.0)
        where = f"{url}, {len(scrapes)} scrapes over {window:g} s"
    title = args.title or f"rnnstream  ·  {where}  ·  {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}"
    render_snapshot(data, args.snapshot, title=title)
    for panel in snapshot_panels():
        n = sum(1 for _, _, v in data.get(panel.title, []) if (v == v).any())
        print(f"{panel.title}: {n} series" if n else f"{panel.title}: no data")
    print(f"wrote {args.snapshot}")
    return 0
