"""End to end: the daemon on a replay workload, a real Prometheus scraping it, every query evaluated.

What is proven where:
- core (every expression that needs no Kafka, audio or fault-only family): evaluated against
  the live daemon's job; each must return at least one series with a finite value.
- kafka / audio / faults (``rnnstream_kafka_*``, ``rnnstream_offset_out_of_range_*``,
  ``rnnstream_audio_*``, ``rnnstream_asr_*``, ``rnnstream_events_dropped_*``): the daemon on a
  CSV replay cannot produce them, so they are evaluated against a second target that serves a
  registry from :func:`rnnstream.metrics.get_metrics` with those families set. That proves the
  expressions match the exported names and labels, not that a connector feeds them; the
  firing behaviour of their alerts is proven by ``promtool test rules``.
Alert expressions are evaluated in ``bool`` form (every comparison ``x > bool y``), so they
return their 0/1 signal for every target instead of only when firing.
"""

from __future__ import annotations

import json
import math
import re
import signal
import threading
import time

import pytest
import yaml

DAEMON_JOB, SCHEMA_JOB = "rnnstream", "rnnstream-schema"
NON_CORE = {
    "kafka": ("rnnstream_kafka_", "rnnstream:kafka_", "rnnstream_offset_out_of_range"),
    "audio": ("rnnstream_audio_", "rnnstream_asr_"),
    "faults": ("rnnstream_events_dropped",),
}
# Commits-stalled covers checkpointing sources and Kafka; its checkpoint branch runs live.
WORKLOAD_OVERRIDE = {"RnnstreamCommitsStalled": "core"}
GRAFANA_VARS = {"$__rate_interval": "10s", "$__range": "60s", "$instance": ".*"}


def workload_of(name: str, expr: str) -> str:
    if name in WORKLOAD_OVERRIDE:
        return WORKLOAD_OVERRIDE[name]
    for workload, prefixes in NON_CORE.items():
        if any(p in expr for p in prefixes):
            return workload
    return "core"


def as_bool(expr: str) -> str:
    """Turn every comparison outside label matchers and strings into a ``bool`` comparison."""
    out, i, depth, quote = [], 0, 0, None
    while i < len(expr):
        c = expr[i]
        if quote:
            out.append(c)
            if c == "\\":
                out.append(expr[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
            out.append(c)
        elif c in "{}":
            depth += 1 if c == "{" else -1
            out.append(c)
        elif depth == 0 and expr[i:i + 2] in ("==", "!=", ">=", "<=") or depth == 0 and c in "<>":
            op = expr[i:i + 2] if expr[i:i + 2] in ("==", "!=", ">=", "<=") else c
            out.append(op + " bool")
            i += len(op)
            continue
        else:
            out.append(c)
        i += 1
    return re.sub(r"bool\s+bool", "bool", "".join(out))


def test_as_bool_leaves_matchers_alone():
    assert as_bool('up{job=~"a.*",x!="1"} == 0') == 'up{job=~"a.*",x!="1"} == bool 0'
    assert as_bool("a > 0.25 and b <= 3") == "a > bool 0.25 and b <= bool 3"


def dashboard_queries(deploy):
    dash = json.loads((deploy / "grafana/dashboards/rnnstream.json").read_text())
    row = None
    for panel in dash["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
            continue
        for target in panel["targets"]:
            yield f"{row} / {panel['title']} / {target['refId']}", target["expr"]


def rule_queries(deploy):
    doc = yaml.safe_load((deploy / "prometheus/rules/rnnstream.rules.yml").read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            yield name, (as_bool(rule["expr"]) if "alert" in rule else rule["expr"]), "alert" in rule


def serve_schema_families(tools, stop: threading.Event):
    """A target exporting the Kafka, audio and fault families, updated like connectors would."""
    from prometheus_client import CollectorRegistry

    from rnnstream.httpserver import MetricsServer
    from rnnstream.metrics import get_metrics

    m = get_metrics(CollectorRegistry())
    server = MetricsServer(m.registry, port=0).start()

    def tick() -> None:
        n = 0
        while not stop.wait(0.25):
            n += 1
            for p in range(3):
                m.kafka_lag.labels("sensors", str(p)).set(1500 + 40 * n + p)
            m.offset_resets.labels("sensors").inc(n == 4)
            m.audio_overflows.labels("default").inc(n % 7 == 0)
            m.asr_rtf.labels("asr").set(0.4)
            m.events_dropped.labels("sink", "unreachable").inc(n % 5 == 0)

    threading.Thread(target=tick, daemon=True).start()
    return server


def finite(result) -> bool:
    return any(math.isfinite(float(s["value"][1])) for s in result)


@pytest.mark.slow
def test_every_dashboard_and_rule_expression_returns_series(tools, tmp_path, small_models, start_prometheus):
    csv = tmp_path / "sensors.csv"
    tools.write_workload(csv, steps=480)
    port = tools.free_port()
    daemon = tools.start_daemon(tools.daemon_config(tmp_path, csv, small_models, port, speed=20),
                                tmp_path / "daemon.log")
    stop = threading.Event()
    schema = serve_schema_families(tools, stop)
    try:
        tools.wait_for(lambda: tools.http_get(f"http://127.0.0.1:{port}/readyz"), 60, "daemon ready")
        prom = start_prometheus(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{tools.DEPLOY / 'prometheus/rules/rnnstream.rules.yml'}"]
scrape_configs:
  - job_name: {DAEMON_JOB}
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
  - job_name: {SCHEMA_JOB}
    static_configs: [{{targets: ["127.0.0.1:{schema.port}"]}}]
""")

        def seen(expr: str) -> bool:
            return bool(prom.query(expr)["data"]["result"])

        # Let the workload reach its evictions and anomaly spikes, with enough scrapes for rates.
        tools.wait_for(lambda: seen(f'rnnstream_anomaly_alerts_total{{job="{DAEMON_JOB}"}} > 0')
                       and seen(f'rnnstream_evictions_total{{job="{DAEMON_JOB}"}} > 0')
                       and seen(f'count_over_time(up{{job="{DAEMON_JOB}"}}[1m]) >= 10')
                       and seen(f'rnnstream_kafka_consumer_lag{{job="{SCHEMA_JOB}"}}'), 60, "workload", 0.5)
        assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-2000:]

        failures, counts = [], {}
        for name, expr in dashboard_queries(tools.DEPLOY):
            workload = workload_of(name, expr)
            job = DAEMON_JOB if workload == "core" else SCHEMA_JOB
            text = expr.replace("$job", job)
            for var, value in GRAFANA_VARS.items():
                text = text.replace(var, value)
            failures += check(prom, name, text, workload, job)
            counts[workload] = counts.get(workload, 0) + 1
        for name, expr, _ in rule_queries(tools.DEPLOY):
            workload = workload_of(name, expr)
            failures += check(prom, name, expr, workload, DAEMON_JOB if workload == "core" else SCHEMA_JOB)
            counts[workload] = counts.get(workload, 0) + 1
        assert not failures, "\n".join(failures)
        assert counts["core"] >= 30 and all(counts.get(w) for w in NON_CORE), counts

        # Grafana's variables: label_values(rnnstream_build_info, job) must list the daemon.
        jobs = prom.api("label/job/values", **{"match[]": "rnnstream_build_info"})["data"]
        assert DAEMON_JOB in jobs

        # Every rule evaluates without error, and a healthy daemon raises no alert.
        groups = prom.api("rules")["data"]["groups"]
        bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"]
        assert not bad and sum(len(g["rules"]) for g in groups) == 14, bad
        alerts = [a for a in prom.api("alerts")["data"]["alerts"] if a["labels"].get("job") == DAEMON_JOB]
        assert alerts == [], alerts

        check_snapshots(tools, prom, port, tmp_path)
    finally:
        stop.set()
        schema.stop()
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
    assert code == 0, (tmp_path / "daemon.log").read_text()[-2000:]


def check(prom, name: str, expr: str, workload: str, job: str) -> list[str]:
    body = prom.query(expr)
    if body.get("status") != "success":
        return [f"{name} [{workload}]: Prometheus rejected {expr!r}: {body.get('error')}"]
    result = body["data"]["result"]
    if not result:
        return [f"{name} [{workload}]: no series for {expr!r}"]
    jobs = {s["metric"].get("job") for s in result}
    if jobs != {None} and job not in jobs:
        return [f"{name} [{workload}]: series only from {jobs}, expected {job}: {expr!r}"]
    if not finite(result):
        return [f"{name} [{workload}]: only NaN/Inf for {expr!r}"]
    return []


def check_snapshots(tools, prom, port, tmp_path):
    """The snapshot command's two data paths agree with each other on the live daemon."""
    from rnnstream.dashboard import evaluate_panels, fetch_prometheus, panels_with_data, render_snapshot, sample_metrics

    from_prom = fetch_prometheus(prom.url, window_s=30, rate_s=5, job=DAEMON_JOB)
    scrapes = sample_metrics(f"http://127.0.0.1:{port}/metrics", seconds=3, interval_s=0.5)
    from_metrics = evaluate_panels(scrapes, rate_s=2)
    for data in (from_prom, from_metrics):
        titles = {p.title for p in panels_with_data(data)}
        for title in ("Events in and out per second", "End-to-end latency p50 / p99", "Live keys",
                      "Keys per ONNX Runtime call (mean)", "Age of the last commit", "Queue depth"):
            assert title in titles, (title, sorted(titles))
        assert "Consumer lag per partition" not in titles  # no Kafka in this workload

    def last(data, title, legend):
        values = [v[~(v != v)] for lab, _, v in data[title] if lab == legend]
        return float(values[0][-1])

    keys_p, keys_m = last(from_prom, "Live keys", "forecast"), last(from_metrics, "Live keys", "forecast")
    assert keys_p == keys_m == 24  # the steady keys; the short-lived ones were evicted
    rate_p = last(from_prom, "Events in and out per second", "in sensors")
    rate_m = last(from_metrics, "Events in and out per second", "in sensors")
    assert 0.5 < rate_m / rate_p < 2.0, (rate_p, rate_m)  # 24 keys x 20 steps/s = 480/s either way
    png = render_snapshot(from_prom, tmp_path / "snap.png")
    assert png.stat().st_size > 20_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
