"""Kubernetes manifests: schema-valid offline (kubernetes-validate), and wired to each other."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from rnnstream.config import parse_config

VERSIONS = ("1.29.0", "1.37.0")  # the oldest and newest schemas kubernetes-validate ships here


def docs(tools):
    out = []
    for path in sorted((tools.DEPLOY / "kubernetes").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            out += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def by_kind(tools, kind):
    return [d for _, d in docs(tools) if d["kind"] == kind]


def test_core_resources_validate_strictly(tools):
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is missing: pip install kubernetes-validate (dev extra)")
    checked = 0
    for name, doc in docs(tools):
        if doc["apiVersion"].startswith("monitoring.coreos.com"):
            continue  # CRDs: no schema in kubernetes-validate; checked below
        for version in VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)  # raises on any error
            checked += 1
    assert checked >= 2 * 6
    bad = dict(by_kind(tools, "Deployment")[0])
    bad["spec"] = dict(bad["spec"], replica=2)  # a typo strict validation must reject
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def test_a_deployment_per_consumer_group_with_a_valid_config(tools, tmp_path):
    (cm,) = by_kind(tools, "ConfigMap")
    deployments = by_kind(tools, "Deployment")
    groups = set()
    for dep in deployments:
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        config_path = container["args"][-1]
        mount = next(m for m in container["volumeMounts"] if config_path.startswith(m["mountPath"]))
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        assert volume["configMap"]["name"] == cm["metadata"]["name"]
        text = cm["data"][config_path.rsplit("/", 1)[1]]
        cfg = parse_config(yaml.safe_load(text))
        (source,) = cfg.sources
        groups.add(source.group_id)
        assert dep["metadata"]["name"] == source.group_id  # one Deployment (and job) per group
        port = next(p for p in container["ports"] if p["name"] == "metrics")
        assert cfg.metrics.port == port["containerPort"] and cfg.metrics.address == "0.0.0.0"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["terminationGracePeriodSeconds"] >= 60
        # The CLI accepts the same file the pod will run.
        f = tmp_path / f"{source.group_id}.yaml"
        f.write_text(text)
        r = subprocess.run([sys.executable, "-m", "rnnstream.cli", "validate", str(f)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    assert len(groups) == len(deployments) >= 2


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_services_and_service_monitor_select_the_pods(tools):
    deployments, services = by_kind(tools, "Deployment"), by_kind(tools, "Service")
    (monitor,) = by_kind(tools, "ServiceMonitor")
    assert len(services) == len(deployments)
    for svc in services:
        pods = [d for d in deployments if matches(svc["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        assert len(pods) == 1, svc["metadata"]["name"]  # one Service (Prometheus job) per group
        (port,) = svc["spec"]["ports"]
        container_ports = {p["name"] for p in pods[0]["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert port["targetPort"] in container_ports
        assert matches(monitor["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
        assert {e["port"] for e in monitor["spec"]["endpoints"]} == {port["name"]}
        assert svc["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"]
        assert svc["metadata"]["name"].startswith("rnnstream")  # the rules' up{job=~"rnnstream.*"}


SERVICE_MONITOR_ENDPOINT_KEYS = {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels",
                                 "relabelings", "metricRelabelings"}
DURATION = r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"


def test_service_monitor_shape(tools):
    """No CRD schema offline: check the fields rnnstream uses, and their formats."""
    import re

    (monitor,) = by_kind(tools, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) <= {"selector", "namespaceSelector", "endpoints", "jobLabel", "podTargetLabels"}
    for ep in monitor["spec"]["endpoints"]:
        assert set(ep) <= SERVICE_MONITOR_ENDPOINT_KEYS, set(ep) - SERVICE_MONITOR_ENDPOINT_KEYS
        assert ep["path"] == "/metrics"
        assert re.match(DURATION, ep["interval"]) and re.match(DURATION, ep["scrapeTimeout"])


def test_prometheus_rule_is_the_rules_file(tools, tmp_path):
    (rule,) = by_kind(tools, "PrometheusRule")
    rules = yaml.safe_load((tools.DEPLOY / "prometheus/rules/rnnstream.rules.yml").read_text())
    assert rule["spec"] == rules
    f = tmp_path / "rules.yml"
    f.write_text(yaml.safe_dump(rule["spec"]))
    r = subprocess.run([tools.need_tool("promtool"), "check", "rules", str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_kustomization_lists_every_manifest(tools):
    kust = yaml.safe_load((tools.DEPLOY / "kubernetes/kustomization.yaml").read_text())
    files = {p.name for p in (tools.DEPLOY / "kubernetes").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files
    images = {i["name"] for i in kust["images"]}
    for dep in by_kind(tools, "Deployment"):
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.split(":")[0] in images
