"""Pipeline-level fixtures: small forecast/anomaly models and sensor CSVs."""

from __future__ import annotations

import numpy as np
import pytest

FEATURES = {"value_dim": 1, "horizon": 4, "quantiles": [0.1, 0.5, 0.9], "alpha_min": 0.01}


@pytest.fixture(scope="session")
def forecast_model(model_factory):
    _, path = model_factory(cell="gru", input_size=1, hidden=8, output_size=12, task="forecast", features=FEATURES)
    return path


@pytest.fixture(scope="session")
def anomaly_model(model_factory):
    feats = dict(FEATURES, horizon=1, likelihood={"warmup": 5})
    _, path = model_factory(cell="lstm", input_size=1, hidden=8, output_size=3, task="anomaly", features=feats)
    return path


@pytest.fixture
def sensor_csv(tmp_path):
    """Three keys, 200 steps each, interleaved, with ISO timestamps."""
    rng = np.random.default_rng(1)
    lines = ["timestamp,key,value"]
    for t in range(200):
        for k in range(3):
            v = 10 * k + np.sin(t / 10) + 0.1 * rng.standard_normal()
            lines.append(f"2024-01-01T00:{t // 60:02d}:{t % 60:02d},k{k},{v:.5f}")
    path = tmp_path / "sensors.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
