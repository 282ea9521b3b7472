"""Shared fixtures: small exported models, built with the real trainer-side export path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("dev", max_examples=15, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

CELLS = [(c, n) for c in ("rnn", "lstm", "gru") for n in (1, 2)]


@pytest.fixture(scope="session")
def model_factory(tmp_path_factory):
    """Build (torch net, onnx path) for a cell/layers combination, cached per session."""
    torch = pytest.importorskip("torch", reason="the export tests need the train extra (torch)")
    from rnnstream.models.export import export_model
    from rnnstream.models.network import RNNConfig, StreamingRNN

    cache: dict[tuple, tuple] = {}
    root = tmp_path_factory.mktemp("models")

    def make(cell="gru", layers=1, input_size=3, hidden=8, output_size=2, seed=0, task="generic", features=None):
        key = (cell, layers, input_size, hidden, output_size, seed, task, repr(features))
        if key not in cache:
            torch.manual_seed(seed)
            cfg = RNNConfig(cell=cell, input_size=input_size, hidden_size=hidden, num_layers=layers,
                            output_size=output_size)
            net = StreamingRNN(cfg).eval()
            path = Path(root) / f"{cell}{layers}_{input_size}_{hidden}_{output_size}_{seed}_{task}_{len(cache)}.onnx"
            export_model(net, path, name=f"test-{cell}{layers}", task=task, features=features)
            cache[key] = (net, path)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def asr_model(model_factory):
    """A small random-weight ASR model with the real front-end spec (text is gibberish)."""
    from rnnstream.asr.ctc import DEFAULT_VOCAB
    from rnnstream.operators.asr_frontend import FRONTEND_DEFAULTS

    feats = {**FRONTEND_DEFAULTS, "vocab": list(DEFAULT_VOCAB.symbols), "blank": 0, "frame_shift": 0.02}
    _, path = model_factory(cell="gru", layers=2, input_size=160, hidden=32, output_size=len(DEFAULT_VOCAB),
                            task="asr", features=feats, seed=3)
    return path


@pytest.fixture(scope="session")
def asr_companion_model(model_factory):
    """A second small ASR model (other size and weights): a companion for finals."""
    from rnnstream.asr.ctc import DEFAULT_VOCAB
    from rnnstream.operators.asr_frontend import FRONTEND_DEFAULTS

    feats = {**FRONTEND_DEFAULTS, "vocab": list(DEFAULT_VOCAB.symbols), "blank": 0, "frame_shift": 0.02,
             "mean": [0.5] * 80, "std": [2.0] * 80}
    _, path = model_factory(cell="lstm", layers=1, input_size=160, hidden=24, output_size=len(DEFAULT_VOCAB),
                            task="asr", features=feats, seed=11)
    return path


# Forecast/anomaly models and sensor CSVs, used by runtime, operator, CLI and contract tests.
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
