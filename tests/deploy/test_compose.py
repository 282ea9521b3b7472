"""The docker-compose stack and the daemon configs it mounts, checked by the real tools offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SERVICES = {"kafka", "kafka-init", "rnnstream", "feeder", "prometheus", "grafana"}


def compose_config(tools, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tools.need_tool("docker-compose"), "-f", str(path), "config"],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def resolved(tools):
    r = compose_config(tools, tools.DEPLOY / "docker-compose.yml")
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def test_compose_validates_with_every_service(resolved):
    assert SERVICES <= set(resolved["services"])


def test_compose_validation_rejects_a_broken_file(tools, tmp_path):
    text = (tools.DEPLOY / "docker-compose.yml").read_text().replace("    restart: unless-stopped", "    restrat: x", 1)
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(text)
    assert compose_config(tools, bad).returncode != 0


def test_kafka_is_a_single_kraft_node(resolved):
    kafka = resolved["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(env["KAFKA_NODE_ID"] + "@")
    assert not any("ZOOKEEPER" in k for k in env)
    assert "--create" in resolved["services"]["kafka-init"]["command"][0]


def test_bind_mounts_exist_and_configs_validate(tools, resolved):
    for name, svc in resolved["services"].items():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if source.startswith("/"):
                assert Path(source).exists(), (name, source)
    for name in ("rnnstream", "feeder"):
        svc = resolved["services"][name]
        config_in_container = svc["command"][-1]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}  # compose 1.29 prints SRC:DST:MODE
        r = subprocess.run([sys.executable, "-m", "rnnstream.cli", "validate", mounts[config_in_container]],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (name, r.stderr)


def test_prometheus_scrapes_the_daemon_port(tools, resolved):
    from rnnstream.cli.configfile import load_config_file

    prom = yaml.safe_load((tools.DEPLOY / "prometheus/prometheus.yml").read_text())
    cfg = load_config_file(tools.DEPLOY / "config/rnnstream.yaml")
    targets = [t for job in prom["scrape_configs"] if job["job_name"].startswith("rnnstream")
               for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"rnnstream:{cfg.metrics.port}"]
    assert cfg.metrics.address == "0.0.0.0"  # reachable from the prometheus container
    assert {"published": cfg.metrics.port, "target": cfg.metrics.port} in resolved["services"]["rnnstream"]["ports"]
    (source,) = cfg.sources
    assert all(s.startswith("kafka:") for s in source.bootstrap_servers)
