"""The bundled demo sensors through the shipped anomaly operator: alerts mark what a person sees.

Every labelled incident raises an alert inside its window, each sensor has at most one alert
outside its incidents, and between incidents the plotted score stays low.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from rnnstream.engine.session import load_session
from rnnstream.evaluation.anomaly_run import stream_operator
from rnnstream.operators.anomaly import AnomalyOperator
from rnnstream.runtime.build import resolve_model


def _bundled() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    path = resources.files("rnnstream") / "data" / "demo_sensors.csv"
    rows = np.loadtxt(str(path), delimiter=",", skiprows=1, dtype=str)
    return {k: (rows[rows[:, 0] == k, 2].astype(np.float64), rows[rows[:, 0] == k, 3].astype(int))
            for k in sorted(set(rows[:, 0]))}


def _incidents(labels: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.r_[0, labels, 0]))
    return list(zip(edges[::2].tolist(), (edges[1::2] - 1).tolist()))


@pytest.fixture(scope="module")
def demo():
    sensors = _bundled()
    op = AnomalyOperator(load_session(resolve_model("builtin:anomaly"), provider="cpu"))
    outs = stream_operator(op, [v for v, _ in sensors.values()])
    return op, {k: (lab, out) for (k, (_, lab)), out in zip(sensors.items(), outs)}


def test_every_incident_raises_an_alert_inside_its_window(demo):
    _, runs = demo
    total = 0
    for key, (labels, out) in runs.items():
        for lo, hi in _incidents(labels):
            assert out["alert"][lo : hi + 1].any(), f"{key}: incident at rows {lo}-{hi} raised no alert"
            total += 1
    assert total >= 10  # the demo carries a dozen incidents of five kinds


def test_at_most_one_false_alert_per_sensor(demo):
    _, runs = demo
    for key, (labels, out) in runs.items():
        false = np.flatnonzero(out["alert"] & (labels == 0))
        assert false.size <= 1, f"{key}: false alerts at rows {false.tolist()}"


def test_between_incidents_the_score_stays_low(demo):
    op, runs = demo
    for key, (labels, out) in runs.items():
        quiet = out["score"][op.settings.warmup :][labels[op.settings.warmup :] == 0]
        assert np.quantile(quiet, 0.95) < 0.1, key
        assert np.mean(quiet > 0.2) < 0.02, key
        assert np.sum(quiet >= op.threshold) <= 1, key  # at most the one tolerated false alert
