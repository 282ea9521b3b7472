"""The Grafana dashboard and its file provisioning: in sync with the code, consistent, complete."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import CollectorRegistry

from rnnstream.apps.dashboard.grafana import DATASOURCE, grafana_json
from rnnstream.metrics import get_metrics

ROWS = ("Throughput", "Latency", "Batching efficiency", "State", "Kafka and commits", "Audio and ASR", "Anomalies")


def load(tools):
    return json.loads((tools.DEPLOY / "grafana/dashboards/rnnstream.json").read_text())


def test_committed_dashboard_is_the_generated_one(tools):
    """deploy/ holds exactly what `rnnstream dashboard --grafana-json` writes."""
    assert (tools.DEPLOY / "grafana/dashboards/rnnstream.json").read_text() == grafana_json()


def test_rows_and_layout(tools):
    dash = load(tools)
    rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
    assert all(r in rows for r in ROWS), rows
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
    for p in dash["panels"]:
        if p["type"] != "row":
            assert p["targets"] and p["datasource"] == DATASOURCE
            assert all(t["datasource"] == DATASOURCE and t["expr"] for t in p["targets"])


def test_provisioning_matches_dashboard_and_compose(tools):
    ds = yaml.safe_load((tools.DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["uid"] == DATASOURCE["uid"] and source["type"] == DATASOURCE["type"]
    compose = yaml.safe_load((tools.DEPLOY / "docker-compose.yml").read_text())
    assert source["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
    prov = yaml.safe_load((tools.DEPLOY / "grafana/provisioning/dashboards/rnnstream.yml").read_text())
    (provider,) = prov["providers"]
    assert provider["type"] == "file"
    mounts = dict(v.split(":")[:2][::-1] for v in compose["services"]["grafana"]["volumes"])
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"


def exported_families() -> dict[str, set[str]]:
    """Each family of the daemon's registry with the sample names it exports."""
    out = {}
    for fam in get_metrics(CollectorRegistry()).registry.collect():
        base = fam.name
        if fam.type == "counter":
            out[base] = {base + "_total"}
        elif fam.type == "histogram":
            out[base] = {base + "_bucket", base + "_sum", base + "_count"}
        else:
            out[base] = {base}
    return out


def referenced_names(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return {w for w in words if w.startswith(("rnnstream", "process_")) or w == "up"}


def test_every_metric_name_is_exported(tools):
    """A typo in a metric name would give an empty panel that no live test of one workload sees."""
    families = exported_families()
    exported = set().union(*families.values()) | {"up"}
    rules = yaml.safe_load((tools.DEPLOY / "prometheus/rules/rnnstream.rules.yml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    exprs = [t["expr"] for p in load(tools)["panels"] for t in p.get("targets", [])]
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    unknown = {n for e in exprs for n in referenced_names(e)} - exported - recorded
    assert not unknown, unknown
    used = {n for e in exprs for n in referenced_names(e)}
    # Every rnnstream family appears somewhere on the dashboard or in the rules.
    missing = {f for f, samples in families.items() if f.startswith("rnnstream_") and not samples & used}
    assert not missing, missing
