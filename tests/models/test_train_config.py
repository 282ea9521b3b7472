"""Training config validation and the checkpoint identity it gives."""

from __future__ import annotations

import pytest

from rnnstream.errors import ConfigError
from rnnstream.models.train_config import config_digest, parse_train_config

BASE = {"task": "forecast", "out": "m.onnx", "synthetic": {"seed": 1}}


@pytest.mark.parametrize("change,match", [
    ({"quantiles": [0.9, 0.1]}, "quantiles"),
    ({"quantiles": [0.1, 0.1, 0.9]}, "quantiles"),
    ({"quantiles": [0.0, 0.5]}, "quantiles"),
    ({"cell": "transformer"}, "cell"),
    ({"dropout": 1.0}, "dropout"),
    ({"data": "x.csv"}, "exactly one"),
    ({"likelihood": {"warmup": 3}}, "likelihood"),
    ({"bogus": 1}, "bogus"),
    ({"synthetic": {"seed": 1, "recipe": "other"}}, "recipe"),
])
def test_invalid_configs_name_the_field(change, match):
    with pytest.raises(ConfigError, match=match):
        parse_train_config({**BASE, **change})


def test_anomaly_models_need_quantiles_around_the_median():
    with pytest.raises(ConfigError, match="both sides"):
        parse_train_config({**BASE, "task": "anomaly", "quantiles": [0.6, 0.9]})
    cfg = parse_train_config({**BASE, "task": "anomaly"})
    assert cfg.horizon_steps == 1 and cfg.model_name == "rnnstream-anomaly"
    assert parse_train_config(BASE).horizon_steps == 12


def test_digest_tracks_what_changes_the_weights_only():
    a = parse_train_config(BASE)
    assert config_digest(a) == config_digest(parse_train_config({**BASE, "out": "elsewhere.onnx", "checkpoint_every": 3}))
    assert config_digest(a) != config_digest(parse_train_config({**BASE, "hidden": 49}))
    assert config_digest(a) != config_digest(parse_train_config({**BASE, "synthetic": {"seed": 2}}))
