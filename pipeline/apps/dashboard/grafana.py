"""Render :data:`rnnstream.apps.dashboard.spec.ROWS` as a Grafana dashboard (JSON model).

The panels name the datasource by a fixed uid, ``prometheus``, which the provisioning file
in ``deploy/grafana/provisioning/datasources`` creates; ``$job`` and ``$instance`` are
dashboard variables filled from ``rnnstream_build_info``.

>>> d = grafana_dashboard()
>>> d["uid"], [p["title"] for p in d["panels"] if p["type"] == "row"][:3]
('rnnstream', ['Throughput', 'Stages', 'Latency'])
"""

from __future__ import annotations

import json
from typing import Any

from rnnstream.apps.dashboard.spec import ROWS, Panel, Query

__all__ = ["grafana_dashboard", "grafana_json", "DATASOURCE", "template_queries"]

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
_WIDTH, _HEIGHT, _PER_LINE = 8, 8, 3


def template_queries() -> dict[str, str]:
    """The variables' ``label_values`` queries (Grafana syntax, not PromQL)."""
    return {
        "job": "label_values(rnnstream_build_info, job)",
        "instance": 'label_values(rnnstream_build_info{job=~"$job"}, instance)',
    }


def _variable(name: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"var-{name}", "qryType": 1},
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "refresh": 2,
        "sort": 1,
        "hide": 0,
    }


def _target(query: Query, ref: str, panel: Panel) -> dict[str, Any]:
    target: dict[str, Any] = {
        "refId": ref,
        "datasource": DATASOURCE,
        "expr": query.promql(),
        "legendFormat": query.grafana_legend(),
        "range": panel.kind == "timeseries",
        "instant": panel.kind != "timeseries",
    }
    if panel.kind == "table":
        target["format"] = "table"
    return target


def _field_config(panel: Panel) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if panel.threshold is not None:
        steps.append({"color": "red", "value": panel.threshold})
    defaults: dict[str, Any] = {"unit": panel.unit, "thresholds": {"mode": "absolute", "steps": steps}}
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 30 if panel.stack else 10,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if panel.stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": "dashed" if panel.threshold is not None else "off"},
        }
        defaults["color"] = {"mode": "palette-classic"}
    return {"defaults": defaults, "overrides": []}


def _options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "timeseries":
        return {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if panel.kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": "value_and_name",
        }
    return {"showHeader": True, "cellHeight": "sm"}


def _panel(panel: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": _HEIGHT, "w": _WIDTH, "x": x, "y": y},
        "fieldConfig": _field_config(panel),
        "options": _options(panel),
        "targets": [_target(q, chr(ord("A") + i), panel) for i, q in enumerate(panel.queries)],
    }
    if panel.kind == "table":
        # One row per label set: hide the sample's time and value columns.
        out["transformations"] = [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True}}},
        ]
    return out


def grafana_dashboard(*, title: str = "rnnstream", uid: str = "rnnstream") -> dict[str, Any]:
    """The dashboard as a dict (Grafana's JSON model, schema version 39)."""
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for row in ROWS:
        panels.append({
            "id": pid, "type": "row", "title": row.title, "collapsed": False, "panels": [],
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        })
        pid, y = pid + 1, y + 1
        for i, panel in enumerate(row.panels):
            col = i % _PER_LINE
            if i and col == 0:
                y += _HEIGHT
            panels.append(_panel(panel, pid, col * _WIDTH, y))
            pid += 1
        y += _HEIGHT
    return {
        "uid": uid,
        "title": title,
        "description": "rnnstream daemon: throughput, latency, batching, state, Kafka, audio/ASR, anomalies.",
        "tags": ["rnnstream"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "timepicker": {},
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "templating": {"list": [_variable(n, q) for n, q in template_queries().items()]},
        "links": [],
        "panels": panels,
    }


def grafana_json(**kw: str) -> str:
    """:func:`grafana_dashboard` as the text written to ``deploy/grafana/dashboards``."""
    return json.dumps(grafana_dashboard(**kw), indent=2, sort_keys=False) + "\n"
