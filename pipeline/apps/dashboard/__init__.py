"""The dashboard as data (:mod:`.spec`), rendered for Grafana, evaluated without Prometheus, or drawn as a PNG."""

from __future__ import annotations

from rnnstream.apps.dashboard.grafana import grafana_dashboard, grafana_json
from rnnstream.apps.dashboard.spec import PANELS, ROWS

__all__ = ["ROWS", "PANELS", "grafana_dashboard", "grafana_json"]
