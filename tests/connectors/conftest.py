"""Broker-test helpers: daemon, topic and comparison helpers live in kafka_kit.py (the ``kit``
fixture). The brokers themselves (the ``tansu``, ``tansu_behind_proxy`` and ``mosquitto``
fixtures) are in the root conftest.py, shared with the contract suites."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

FEATURES = {"value_dim": 1, "horizon": 4, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01}


@pytest.fixture(scope="session")
def small_forecaster(model_factory):
    _, path = model_factory(cell="gru", input_size=1, hidden=8, output_size=12, task="forecast", features=FEATURES)
    return path


def _load_kit():
    spec = importlib.util.spec_from_file_location("rnnstream_tests_kafka_kit", Path(__file__).with_name("kafka_kit.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_KIT = _load_kit()


@pytest.fixture(scope="session")
def kit():
    """The helpers of kafka_kit.py (topic tools, Daemon, reference runs, comparisons)."""
    return _KIT


@pytest.fixture(autouse=True)
def _close_test_clients():
    yield
    while _KIT.OPEN:
        client = _KIT.OPEN.pop()
        try:
            client.close()
        except Exception:  # noqa: BLE001 - a client of a broker the test already stopped
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed broker test carries its daemons' log tails: CI keeps nothing else of them."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "setup":
        _KIT.STARTED.clear()
    elif report.failed and _KIT.STARTED:
        for d in _KIT.STARTED:
            report.sections.append((f"daemon log {d.log_path.name} (last 40 lines)", d.tail()))
        broker = item.funcargs.get("tansu")
        if broker is not None and broker.log.exists():
            lines = broker.log.read_text(errors="replace").splitlines()[-20:]
            report.sections.append(("tansu log (last 20 lines)", "\n".join(lines)))
