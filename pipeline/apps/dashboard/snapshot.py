"""Snapshot of the main dashboard panels as a PNG, from Prometheus or from ``/metrics`` itself.

:func:`fetch_prometheus` runs each panel's PromQL through Prometheus' ``query_range`` API;
:func:`sample_metrics` scrapes a daemon's ``/metrics`` for a short window and
:func:`evaluate_panels` computes the same queries locally. :func:`render_snapshot` draws
either result with matplotlib (Agg, no display needed).

>>> data = {"Live keys": [("forecast", np.array([0.0, 1.0]), np.array([3.0, 4.0]))]}
>>> [p.title for p in panels_with_data(data)]
['Live keys']
"""

from __future__ import annotations

import json
import math
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rnnstream.apps.dashboard.local import Scrapes, evaluate
from rnnstream.apps.dashboard.spec import PANELS, Panel, snapshot_panels
from rnnstream.errors import RnnstreamError

__all__ = [
    "PanelData",
    "fetch_prometheus",
    "sample_metrics",
    "evaluate_panels",
    "render_snapshot",
    "panels_with_data",
    "promql_for",
]

# panel title -> [(legend, unix times, values)]
PanelData = dict[str, list[tuple[str, np.ndarray, np.ndarray]]]


def _get(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - URL given by the user
            return resp.read()
    except (urllib.error.URLError, OSError) as exc:
        raise RnnstreamError(f"cannot fetch {url}: {getattr(exc, 'reason', exc)}") from None


def promql_for(query, *, job: str, instance: str, rate_s: float, span_s: float) -> str:
    """A panel query's PromQL with the dashboard variables filled in.

    >>> from rnnstream.apps.dashboard.spec import Query
    >>> promql_for(Query("gauge", "rnnstream_live_keys", ("operator",)), job="rnnstream", instance=".*",
    ...            rate_s=10, span_s=60)
    'sum by (operator) (rnnstream_live_keys{job=~"rnnstream",instance=~".*"})'
    """
    text = query.promql(rate=f"{int(rate_s)}s", span=f"{int(span_s)}s")
    return text.replace("$job", job.replace('"', '\\"')).replace("$instance", instance.replace('"', '\\"'))


def fetch_prometheus(
    base_url: str,
    panels: Sequence[Panel] | None = None,
    *,
    window_s: float = 900.0,
    end: float | None = None,
    step_s: float | None = None,
    rate_s: float = 60.0,
    job: str = ".*",
    instance: str = ".*",
    timeout: float = 10.0,
) -> PanelData:
    """Each panel's series over the last ``window_s`` seconds, from Prometheus ``query_range``."""
    panels = snapshot_panels() if panels is None else panels
    end = time.time() if end is None else end
    start = end - window_s
    step = step_s or max(1.0, window_s / 240.0)
    out: PanelData = {}
    for panel in panels:
        series = []
        for query in panel.queries:
            expr = promql_for(query, job=job, instance=instance, rate_s=rate_s, span_s=window_s)
            params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
            body = json.loads(_get(f"{base_url.rstrip('/')}/api/v1/query_range?{params}", timeout))
            if body.get("status") != "success":
                raise RnnstreamError(f"Prometheus rejected {expr!r}: {body.get('error', body)}")
            for item in body["data"]["result"]:
                values = np.array(item["values"], dtype=object)
                if values.size == 0:
                    continue
                t = values[:, 0].astype(np.float64)
                v = np.array([float(x) for x in values[:, 1]])
                series.append((query.label(item["metric"]), t, v))
        out[panel.title] = series
    return out


def sample_metrics(
    url: str,
    *,
    seconds: float = 20.0,
    interval_s: float = 1.0,
    timeout: float = 5.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Scrapes:
    """Scrape ``url`` (a daemon's ``/metrics``) every ``interval_s`` for ``seconds``."""
    if interval_s <= 0 or seconds < interval_s:
        raise RnnstreamError("sampling needs interval > 0 and a window of at least one interval")
    scrapes = Scrapes()
    deadline = clock() + seconds
    while True:
        t0 = clock()
        scrapes.add(t0, _get(url, timeout).decode("utf-8", "replace"))
        if t0 >= deadline:
            return scrapes
        sleep(max(0.0, interval_s - (clock() - t0)))


def evaluate_panels(scrapes: Scrapes, panels: Sequence[Panel] | None = None, *, rate_s: float = 5.0) -> PanelData:
    """Each panel's series computed from the scrapes (see :mod:`rnnstream.apps.dashboard.local`)."""
    panels = snapshot_panels() if panels is None else panels
    out: PanelData = {}
    for panel in panels:
        out[panel.title] = [
            (q.label(lab), t, v) for q in panel.queries for lab, t, v in evaluate(q, scrapes, rate_s)
        ]
    return out


def panels_with_data(data: PanelData) -> list[Panel]:
    """Panels (of all known ones) that have at least one finite value."""
    return [p for p in PANELS if any(np.isfinite(v).any() for _, _, v in data.get(p.title, []))]


_SCALES = {  # grafana unit -> (factor, axis label)
    "s": (1e3, "ms"),
    "bytes": (1.0 / 2**20, "MiB"),
    "Bps": (1.0 / 2**20, "MiB/s"),
    "percentunit": (100.0, "%"),
    "ops": (1.0, "per second"),
    "short": (1.0, ""),
}


def render_snapshot(
    data: PanelData,
    path: str | Path,
    *,
    panels: Sequence[Panel] | None = None,
    title: str = "rnnstream",
    columns: int = 3,
) -> Path:
    """Draw ``panels`` (default: the main ones) from ``data`` into a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    panels = list(snapshot_panels() if panels is None else panels)
    if not panels:
        raise RnnstreamError("nothing to draw: no panels")
    rows = math.ceil(len(panels) / columns)
    with plt.style.context("dark_background"):
        fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.1 * rows), squeeze=False)
        spans = [(t.min(), t.max()) for s in data.values() for _, t, _ in s if len(t)]
        # One time axis for every panel, even when a series starts late (a counter's first event).
        xlim = None
        if spans:
            lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
            xlim = tuple((np.array([lo, hi]) * 1e3).astype(np.int64).astype("datetime64[ms]"))
        for ax, panel in zip(axes.flat, panels):
            _draw(ax, panel, data.get(panel.title, []), mdates)
            if xlim is not None and ax.has_data():
                ax.set_xlim(*xlim)
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        lines = textwrap.wrap(title, width=int(52 * columns)) or [""]
        fig.suptitle("\n".join(lines), fontsize=13, x=0.01, ha="left")
        # Leave room for the title: about 0.25 inch per line of 13 pt text.
        fig.tight_layout(rect=(0, 0, 1, 1 - (0.15 + 0.25 * len(lines)) / fig.get_figheight()))
        path = Path(path)
        fig.savefig(path, dpi=110, facecolor=fig.get_facecolor())
        plt.close(fig)
    return path


def _draw(ax, panel: Panel, series, mdates) -> None:
    factor, unit = _SCALES.get(panel.unit, (1.0, ""))
    ax.set_title(panel.title, fontsize=10, loc="left")
    ax.set_facecolor("#181b1f")
    ax.grid(True, color="#2c3235", linewidth=0.6)
    drawn, top = 0, 0.0
    for legend, t, v in series:
        if not np.isfinite(v).any():
            continue
        top = max(top, float(np.nanmax(v)) * factor)
        when = (np.asarray(t, dtype=np.float64) * 1e3).astype(np.int64).astype("datetime64[ms]")
        ax.plot(when, v * factor, linewidth=1.3, label=legend[:40])
        drawn += 1
    if panel.threshold is not None and drawn:
        ax.axhline(panel.threshold * factor, color="#f2495c", linestyle="--", linewidth=1.0, label="objective")
    if not drawn:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", color="#8e8e8e", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.set_ylabel(unit, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))  # UTC
    ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], top * 1.15) if top > 0 else None)
    ax.legend(fontsize=7, loc="best", framealpha=0.5, ncol=2 if drawn > 4 else 1)
