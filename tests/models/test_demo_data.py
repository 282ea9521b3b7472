"""The bundled demo sensors come from the project's generator, and the shipped anomaly model
describes its whole detector in its manifest."""

from __future__ import annotations

import dataclasses
from importlib import resources

from rnnstream.engine.session import load_session
from rnnstream.models.synthetic import DEMO_INCIDENTS, demo_set
from rnnstream.operators.anomaly_settings import DetectorSettings
from rnnstream.runtime.build import resolve_model


def test_the_bundled_demo_csv_is_the_generators_demo_set(tmp_path):
    bundled = (resources.files("rnnstream") / "data" / "demo_sensors.csv").read_text(encoding="utf-8")
    s = demo_set()
    assert s.to_csv(tmp_path / "demo.csv").read_text(encoding="utf-8") == bundled
    assert bundled.splitlines()[0] == "key,timestamp,value,label"
    assert [a.kind for a in s.anomalies] == [k for kinds in DEMO_INCIDENTS for k in kinds]


def test_the_shipped_anomaly_manifest_holds_every_detector_setting():
    features = load_session(resolve_model("builtin:anomaly"), provider="cpu").manifest.features
    names = {f.name for f in dataclasses.fields(DetectorSettings)}
    assert set(features["detector"]) == names
    assert DetectorSettings.from_features(features) == DetectorSettings.from_mapping(features["detector"])


def test_a_training_config_may_set_detector_settings_and_they_are_checked():
    import pytest

    from rnnstream.errors import ConfigError
    from rnnstream.models.train_config import parse_train_config

    base = {"task": "anomaly", "out": "a.onnx", "synthetic": {}}
    assert parse_train_config({**base, "detector": {"hold": 90}}).detector == {"hold": 90}
    with pytest.raises(ConfigError, match="unknown setting"):
        parse_train_config({**base, "detector": {"hodl": 90}})
    with pytest.raises(ConfigError, match="only apply to task anomaly"):
        parse_train_config({**base, "task": "forecast", "detector": {"hold": 90}})
