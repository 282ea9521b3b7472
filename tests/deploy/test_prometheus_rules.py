"""The Prometheus config and rules, checked and unit-tested by promtool itself."""

from __future__ import annotations

import shutil
import subprocess

import yaml


def promtool(tools, *args, cwd=None):
    return subprocess.run([tools.need_tool("promtool"), *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def test_promtool_check_config_and_rules(tools):
    r = promtool(tools, "check", "config", str(tools.DEPLOY / "prometheus/prometheus.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rule files found" in r.stdout  # the relative rules/ glob resolves
    r = promtool(tools, "check", "rules", str(tools.DEPLOY / "prometheus/rules/rnnstream.rules.yml"))
    assert r.returncode == 0 and "SUCCESS: 14 rules found" in r.stdout, r.stdout + r.stderr


def test_promtool_test_rules_pass(tools):
    r = promtool(tools, "test", "rules", "rnnstream.rules.test.yml", cwd=tools.DEPLOY / "prometheus/tests")
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_every_alert_has_a_firing_and_a_quiet_case(tools):
    rules = yaml.safe_load((tools.DEPLOY / "prometheus/rules/rnnstream.rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    required = {"RnnstreamTargetDown", "RnnstreamKafkaLagRising", "RnnstreamCommitsStalled",
                "RnnstreamLatencyP99OverObjective", "RnnstreamDeadLetterRate", "RnnstreamAudioOverflows"}
    assert required <= alerts
    tests = yaml.safe_load((tools.DEPLOY / "prometheus/tests/rnnstream.rules.test.yml").read_text())
    fires, quiet = set(), set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    assert fires == alerts and quiet == alerts, (alerts - fires, alerts - quiet)
    for r in (r for g in rules["groups"] for r in g["rules"] if "alert" in r):
        assert r["labels"]["severity"] in ("warning", "critical") and r["annotations"]["summary"]


def test_rule_tests_catch_a_broken_threshold(tools, tmp_path):
    """The unit tests are not vacuous: loosen one alert and they fail."""
    shutil.copytree(tools.DEPLOY / "prometheus", tmp_path / "prometheus")
    rules = tmp_path / "prometheus/rules/rnnstream.rules.yml"
    text = rules.read_text()
    for old, new in [("p99_5m > 0.25", "p99_5m > 0.5"), ("lag:sum > 1000", "lag:sum > 100000"),
                     ("== 0\n", "== 2\n")]:
        assert old in text
        rules.write_text(text.replace(old, new))
        r = promtool(tools, "test", "rules", "rnnstream.rules.test.yml", cwd=tmp_path / "prometheus/tests")
        assert r.returncode != 0, (old, r.stdout)
    rules.write_text(text)
