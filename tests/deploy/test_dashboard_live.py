"""End to end: real daemons, a real Prometheus scraping them, every query evaluated through its API.

Every dashboard query and every rule expression belongs to one workload, by the metric
families it needs, and is proven where that workload runs:
- core: a daemon replaying a keyed sensor CSV (dead letters, TTL evictions, anomaly alerts,
  checkpoints) -- ``test_core_workload``;
- kafka (lag, partitions, rebalances, changelog): a daemon consuming a Tansu broker that a
  producer keeps feeding -- ``test_kafka_workload``;
- audio (overflows, ASR real-time factor) and faults (dropped records, recoveries, offsets out
  of retention): no daemon here produces them on demand, so they are evaluated against a
  second target serving a registry from :func:`rnnstream.metrics.get_metrics` with those
  families set. That proves the expressions match the exported names and labels, not that a
  connector feeds them; their alerts' firing is proven by ``promtool test rules``.
Each expression must return at least one series with a finite value from its workload's job.
Alert expressions are evaluated in ``bool`` form (``x > bool y``), so they return their 0/1
signal for every target instead of only when firing.
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

pytestmark = pytest.mark.slow

NON_CORE = {
    "kafka": ("rnnstream_kafka_", "rnnstream:kafka_", "rnnstream_rebalances", "rnnstream_partitions_assigned",
              "rnnstream_changelog_bytes"),
    "audio": ("rnnstream_audio_", "rnnstream_asr_"),
    "faults": ("rnnstream_events_dropped", "rnnstream_recoveries", "rnnstream_offset_out_of_range"),
}
# Commits-stalled covers checkpointing sources and Kafka; its checkpoint branch runs in core.
WORKLOAD_OVERRIDE = {"RnnstreamCommitsStalled": "core"}
GRAFANA_VARS = {"$__rate_interval": "10s", "$__range": "60s", "$instance": ".*"}
SCHEMA_JOB = "rnnstream-schema"


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
        c, two = expr[i], expr[i:i + 2]
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
        elif depth == 0 and (two in ("==", "!=", ">=", "<=") or c in "<>"):
            op = two if two in ("==", "!=", ">=", "<=") else c
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


def all_queries(deploy):
    """(name, expr, workload) for every dashboard target and every rule (alerts in bool form)."""
    dash = json.loads((deploy / "grafana/dashboards/rnnstream.json").read_text())
    row = None
    for panel in dash["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
            continue
        for target in panel["targets"]:
            name = f"{row} / {panel['title']} / {target['refId']}"
            yield name, target["expr"], workload_of(name, target["expr"])
    doc = yaml.safe_load((deploy / "prometheus/rules/rnnstream.rules.yml").read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            expr = as_bool(rule["expr"]) if "alert" in rule else rule["expr"]
            yield name, expr, workload_of(name, expr)


def test_every_query_belongs_to_a_proven_workload(tools):
    counts = {}
    for _, _, workload in all_queries(tools.DEPLOY):
        counts[workload] = counts.get(workload, 0) + 1
    assert set(counts) == {"core", "kafka", "audio", "faults"} and counts["core"] >= 30, counts


def check(prom, name: str, expr: str, workload: str, job: str) -> list[str]:
    text = expr.replace("$job", job)
    for var, value in GRAFANA_VARS.items():
        text = text.replace(var, value)
    body = prom.query(text)
    if body.get("status") != "success":
        return [f"{name} [{workload}]: Prometheus rejected {text!r}: {body.get('error')}"]
    result = body["data"]["result"]
    if not result:
        return [f"{name} [{workload}]: no series for {text!r}"]
    jobs = {s["metric"].get("job") for s in result}
    if jobs != {None} and job not in jobs:
        return [f"{name} [{workload}]: series only from {jobs}, expected {job}: {text!r}"]
    if not any(math.isfinite(float(s["value"][1])) for s in result):
        return [f"{name} [{workload}]: only NaN/Inf for {text!r}"]
    return []


def check_workloads(tools, prom, jobs: dict[str, str]) -> int:
    """Evaluate the queries of the workloads in ``jobs`` against their job; returns how many."""
    failures, n = [], 0
    for name, expr, workload in all_queries(tools.DEPLOY):
        if workload in jobs:
            failures += check(prom, name, expr, workload, jobs[workload])
            n += 1
    assert not failures, "\n".join(failures)
    return n


def check_rules_healthy_and_quiet(prom, job: str) -> None:
    groups = prom.api("rules")["data"]["groups"]
    bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"]
    assert not bad and sum(len(g["rules"]) for g in groups) == 14, bad
    alerts = [a for a in prom.api("alerts")["data"]["alerts"] if a["labels"].get("job") == job]
    assert alerts == [], alerts


def prometheus_config(tools, targets: dict[str, int]) -> str:
    jobs = "".join(f"  - job_name: {job}\n    static_configs: [{{targets: [\"127.0.0.1:{port}\"]}}]\n"
                   for job, port in targets.items())
    return (f"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n"
            f"rule_files: [\"{tools.DEPLOY / 'prometheus/rules/rnnstream.rules.yml'}\"]\n"
            f"scrape_configs:\n{jobs}")


def serve_schema_families(stop: threading.Event):
    """A target exporting the audio and fault families, updated the way their producers would."""
    from prometheus_client import CollectorRegistry

    from rnnstream.runtime.httpserver import MetricsServer
    from rnnstream.metrics import get_metrics

    m = get_metrics(CollectorRegistry())
    server = MetricsServer(m.registry, port=0).start()

    def tick() -> None:
        n = 0
        while not stop.wait(0.25):
            n += 1
            m.audio_overflows.labels("default").inc(n % 7 == 0)
            m.asr_rtf.labels("asr").set(0.4)
            m.events_dropped.labels("sink", "unreachable").inc(n % 5 == 0)
            m.recoveries.labels("sensors").inc(n == 6)
            m.offset_resets.labels("sensors").inc(n == 4)

    threading.Thread(target=tick, daemon=True).start()
    return server


def stop_daemon(daemon, log) -> None:
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(timeout=60)
    assert code == 0, log.read_text()[-2000:]


def test_core_workload(tools, tmp_path, small_models, start_prometheus):
    csv = tmp_path / "sensors.csv"
    tools.write_workload(csv, steps=720)  # 36 s at speed 20: the checks end well before the replay
    port, job = tools.free_port(), "rnnstream"
    log = tmp_path / "daemon.log"
    daemon = tools.start_daemon(tools.daemon_config(tmp_path, csv, small_models, port, speed=20), log)
    stop = threading.Event()
    schema = serve_schema_families(stop)
    try:
        tools.wait_for(lambda: tools.http_get(f"http://127.0.0.1:{port}/readyz"), 60, "daemon ready")
        prom = start_prometheus(prometheus_config(tools, {job: port, SCHEMA_JOB: schema.port}))

        def seen(expr: str) -> bool:
            return bool(prom.query(expr)["data"]["result"])

        # Let the replay reach its evictions and anomaly spikes, with enough scrapes for rates.
        tools.wait_for(lambda: seen(f'rnnstream_anomaly_alerts_total{{job="{job}"}} > 0')
                       and seen(f'rnnstream_evictions_total{{job="{job}"}} > 0')
                       and seen(f'count_over_time(up{{job="{job}"}}[1m]) >= 10')
                       and seen(f'rnnstream_recoveries_total{{job="{SCHEMA_JOB}"}}'), 60, "workload", 0.5)
        assert daemon.poll() is None, log.read_text()[-2000:]
        n = check_workloads(tools, prom, {"core": job, "audio": SCHEMA_JOB, "faults": SCHEMA_JOB})
        assert n >= 40
        jobs = prom.api("label/job/values", **{"match[]": "rnnstream_build_info"})["data"]
        assert job in jobs  # Grafana's $job variable: label_values(rnnstream_build_info, job)
        check_rules_healthy_and_quiet(prom, job)
        check_snapshots(prom, port, job, tmp_path)
    finally:
        stop.set()
        schema.stop()
    stop_daemon(daemon, log)


def check_snapshots(prom, port, job, tmp_path):
    """The snapshot command's two data paths agree with each other on the live daemon."""
    from rnnstream.apps.dashboard.snapshot import evaluate_panels, fetch_prometheus, panels_with_data, render_snapshot, sample_metrics

    from_prom = fetch_prometheus(prom.url, window_s=30, rate_s=5, job=job)
    scrapes = sample_metrics(f"http://127.0.0.1:{port}/metrics", seconds=3, interval_s=0.5)
    from_metrics = evaluate_panels(scrapes, rate_s=2)
    for data in (from_prom, from_metrics):
        titles = {p.title for p in panels_with_data(data)}
        for title in ("Events in and out per second", "End-to-end latency p50 / p99", "Live keys",
                      "Keys per ONNX Runtime call (mean)", "Age of the last commit", "Queue depth"):
            assert title in titles, (title, sorted(titles))
        assert "Consumer lag per partition" not in titles  # no Kafka in this workload

    def last(data, title, legend):
        values = [v[v == v] for lab, _, v in data[title] if lab == legend]
        return float(values[0][-1])

    assert last(from_prom, "Live keys", "forecast") == last(from_metrics, "Live keys", "forecast") == 24
    rate_p = last(from_prom, "Events in and out per second", "in sensors")
    rate_m = last(from_metrics, "Events in and out per second", "in sensors")
    assert 0.5 < rate_m / rate_p < 2.0, (rate_p, rate_m)  # 24 keys x 20 steps/s = 480/s either way
    png = render_snapshot(from_prom, tmp_path / "snap.png")
    assert png.stat().st_size > 20_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def kafka_daemon_config(tmp_path, bootstrap, model, port, topic) -> str:
    return yaml.safe_dump({
        "sources": [{"type": "kafka", "name": "sensors", "topics": [topic], "bootstrap_servers": [bootstrap],
                     "group_id": "rnnstream-live", "batch_records": 200,
                     "client": {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500,
                                "max_poll_interval_ms": 60000}}],
        "operators": [{"type": "forecast", "name": "forecast", "model": str(model), "provider": "cpu"}],
        "sinks": [{"type": "kafka", "name": "forecasts", "topic": topic + "-out", "bootstrap_servers": [bootstrap]}],
        "dead_letter": {"type": "kafka", "topic": topic + "-dead", "bootstrap_servers": [bootstrap]},
        "metrics": {"port": port},
        "checkpoint": {"interval_s": 0.5},
    })


def test_kafka_workload(tools, tmp_path, small_models, start_prometheus, tansu):
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = "sensors"
    admin = KafkaAdminClient(bootstrap_servers=tansu)
    admin.create_topics([NewTopic(topic, 3, 1), NewTopic(topic + "-out", 3, 1), NewTopic(topic + "-dead", 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=tansu, linger_ms=5)
    stop = threading.Event()

    def feed() -> None:  # 30 sensors, 10 readings/s each, for as long as the test runs
        t = 0
        while not stop.wait(0.1):
            for k in range(30):
                body = json.dumps({"ts": 1_700_000_000 + t, "value": math.sin(t / 10 + k)}).encode()
                producer.send(topic, key=f"s{k:02d}".encode(), value=body)
            t += 1

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    port, job = tools.free_port(), "rnnstream-kafka"
    cfg = tmp_path / "kafka.yaml"
    cfg.write_text(kafka_daemon_config(tmp_path, tansu, small_models[0], port, topic))
    log = tmp_path / "daemon.log"
    daemon = tools.start_daemon(cfg, log)
    try:
        tools.wait_for(lambda: tools.http_get(f"http://127.0.0.1:{port}/readyz"), 60, "daemon ready")
        prom = start_prometheus(prometheus_config(tools, {job: port}))

        def seen(expr: str) -> bool:
            return bool(prom.query(expr)["data"]["result"])

        tools.wait_for(lambda: seen(f'rnnstream_partitions_assigned{{job="{job}"}} == 3')
                       and seen(f'count(rnnstream_kafka_consumer_lag{{job="{job}"}}) == 3')
                       and seen(f'rate(rnnstream_changelog_bytes_total{{job="{job}"}}[5s]) > 0')
                       and seen(f'count_over_time(up{{job="{job}"}}[1m]) >= 8'), 90, "consumer running", 0.5)
        assert daemon.poll() is None, log.read_text()[-2000:]
        assert check_workloads(tools, prom, {"kafka": job}) >= 7
        check_rules_healthy_and_quiet(prom, job)
        from rnnstream.apps.dashboard.snapshot import fetch_prometheus

        lag = fetch_prometheus(prom.url, window_s=20, rate_s=5, job=job)["Consumer lag per partition"]
        assert sorted(legend for legend, _, _ in lag) == [f"{topic}/{p}" for p in range(3)]
    finally:
        stop.set()
        feeder.join(5)
        producer.close()
    stop_daemon(daemon, log)
