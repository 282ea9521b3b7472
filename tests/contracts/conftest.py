"""The contract suites' implementation lists, as parametrised fixtures.

River-style: ``operators.py`` and ``connectors.py`` each hold the lists of implementations;
every check in ``test_operators.py`` / ``test_connectors.py`` takes one of the arguments
below and so runs over every implementation. A check marked ``@pytest.mark.capability(X)``
runs over the implementations that declare ``X`` (a capability protocol named in their
``caps``, or a flag such as ``replays`` set on the entry). The helper modules are loaded by
path (pytest's importlib mode cannot import them by name) and handed to the tests as the
``ops`` and ``cn`` fixtures.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"rnnstream_contracts_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


OPS = _load("operators")
CN = _load("connectors")

IMPLEMENTATIONS = {"source_impl": CN.SOURCES, "sink_impl": CN.SINKS, "dead_impl": CN.DEAD_LETTERS}


def pytest_configure(config):
    config.addinivalue_line("markers", "capability(name): run the check over the implementations that declare it")


def declares(impl, capability: str) -> bool:
    return capability in impl.caps or getattr(impl, capability, None) not in (None, False)


def pytest_generate_tests(metafunc):
    for arg, impls in IMPLEMENTATIONS.items():
        if arg in metafunc.fixturenames:
            marker = metafunc.definition.get_closest_marker("capability")
            chosen = [i for i in impls if marker is None or declares(i, marker.args[0])]
            metafunc.parametrize(arg, chosen, ids=[i.id for i in chosen])


@pytest.fixture(scope="session")
def ops():
    """The operator contract helpers (workloads, driver, comparisons)."""
    return OPS


@pytest.fixture(scope="session")
def cn():
    """The connector contract helpers (entries, feeding, reading back)."""
    return CN


@pytest.fixture(scope="session", params=OPS.OPERATORS, ids=lambda impl: impl.id)
def operator(request):
    """Every operator implementation, built once per session on the small fixture models."""
    impl = request.param
    make, whole = impl.build(request.getfixturevalue)
    return OPS.Built(impl, make, whole)


@pytest.fixture
def env(tmp_path, request):
    """A connector's surroundings: a temporary folder, the brokers on demand, a key table;
    every client an entry opened is closed afterwards."""
    e = CN.Env(tmp_path, request.getfixturevalue)
    yield e
    e.close()
