"""The typed config: operator fields belong to their type, and every path resolves against the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnstream.cli.configfile import load_config_file
from rnnstream.config import AsrOperatorConfig, ForecastOperatorConfig, parse_config
from rnnstream.errors import ConfigError

BASE = {"sources": [{"type": "stdin"}]}


def test_each_operator_type_has_its_own_model():
    cfg = parse_config({**BASE, "operators": [
        {"type": "forecast", "name": "f", "model": "builtin:forecast"},
        {"type": "asr", "name": "a", "model": "builtin:asr", "beam": 4, "companion": "builtin:asr-companion"}]})
    assert isinstance(cfg.operators[0], ForecastOperatorConfig) and isinstance(cfg.operators[1], AsrOperatorConfig)
    assert not hasattr(cfg.operators[0], "beam")


@pytest.mark.parametrize("field,value,owner", [("beam", 8, "asr"), ("threshold", 0.5, "anomaly"),
                                              ("lm", "lm.txt", "asr"), ("chunk_ms", 100, "asr")])
def test_a_field_of_another_type_is_one_error_naming_it(field, value, owner):
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "operators": [{"type": "forecast", "name": "f", "model": "m.onnx", field: value}]})
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"operators.0.forecast.{field}: not a field of a forecast operator")
    assert f"belongs to {owner}" in msg


def test_the_companion_rule_holds_for_configs_and_the_library_alike():
    with pytest.raises(ConfigError, match=r"operators\[a\]\.companion: needs beam-decoded finals"):
        AsrOperatorConfig(type="asr", name="a", model="builtin:asr", companion="builtin:asr-companion",
                          general_lm=None)
    # The general LM's beam finals are on by default, so a companion needs nothing more.
    assert AsrOperatorConfig(type="asr", name="a", model="builtin:asr", companion="builtin:asr-companion").companion
    assert AsrOperatorConfig(type="asr", name="a", model="builtin:asr", lm=Path("x.txt"),
                             companion="builtin:asr-companion").companion == "builtin:asr-companion"


def test_every_relative_path_resolves_against_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text("""
sources:
  - {type: csv, name: s, path: data/in.csv}
operators:
  - {type: asr, name: a, model: models/asr.onnx, lm: text/lm.txt, companion: models/second.onnx}
  - {type: forecast, name: f, model: builtin:forecast}
sinks:
  - {type: jsonl, name: o, path: out/o.jsonl}
  - {type: plot, name: p, directory: plots}
checkpoint: {path: state/ckpt.bin}
dead_letter: {type: jsonl, path: dead.jsonl}
""")
    monkeypatch.chdir(tmp_path)  # somewhere else than the file's folder
    cfg = load_config_file("conf/pipeline.yaml")
    base = Path("conf")
    asr = cfg.operators[0]
    assert cfg.sources[0].path == base / "data/in.csv"
    assert (asr.model, asr.companion, asr.lm) == (str(base / "models/asr.onnx"), str(base / "models/second.onnx"),
                                                  base / "text/lm.txt")
    assert cfg.operators[1].model == "builtin:forecast"
    assert cfg.sinks[0].path == base / "out/o.jsonl" and cfg.sinks[1].directory == base / "plots"
    assert cfg.checkpoint.path == base / "state/ckpt.bin" and cfg.dead_letter.path == base / "dead.jsonl"
