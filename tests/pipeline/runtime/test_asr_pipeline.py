"""An ASR operator inside a pipeline: audio chunks keyed by stream in, transcripts out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnstream.runtime.build import build_pipeline, load_general_lm
from rnnstream.config import parse_config
from rnnstream.errors import ConfigError
from rnnstream.engine.session import load_session
from rnnstream.apps.transcribe import Transcriber
from rnnstream.operators.asr_build import asr_operator

LM_TEXT = ["open the door", "close the window please", "the door is open"]


@pytest.mark.parametrize("decoding", ["greedy", "lm", "companion"])
def test_asr_pipeline_matches_the_transcriber_and_finalises_on_end(tmp_path, asr_model, asr_companion_model, decoding):
    rng = np.random.default_rng(5)
    streams = {f"mic-{k}": (0.3 * rng.standard_normal(1600 * 12)).astype(np.float32) for k in range(3)}
    lines = []
    for c in range(12):  # interleaved, one 100 ms chunk per stream per step
        for key, x in streams.items():
            lines.append(json.dumps({"key": key, "ts": c * 0.1, "value": x[c * 1600 : (c + 1) * 1600].tolist()}))
    lines += [json.dumps({"key": key, "control": "end"}) for key in streams]
    src = tmp_path / "audio.jsonl"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    op_cfg = {"type": "asr", "name": "asr", "model": str(asr_model), "provider": "cpu"}
    lm = {}
    if decoding == "greedy":
        op_cfg |= {"general_lm": None}
    else:  # the general LM (the default) with a domain LM interpolated
        (tmp_path / "lm.txt").write_text("\n".join(LM_TEXT) + "\n")
        op_cfg |= {"beam": 4, "lm": str(tmp_path / "lm.txt")}
        lm = {"beam": 4, "lm_sentences": LM_TEXT, "general_lm": load_general_lm("builtin:lm-en")}
    if decoding == "companion":
        op_cfg |= {"companion": str(asr_companion_model), "companion_weight": 0.4}
        lm |= {"companion": load_session(asr_companion_model, provider="cpu"), "companion_weight": 0.4}
    cfg = parse_config({
        "sources": [{"type": "jsonl", "name": "a", "path": str(src), "max_record_bytes": 200000}],
        "operators": [op_cfg],
        "sinks": [{"type": "jsonl", "name": "out", "path": str(out)}],
        "metrics": {"enabled": False},
    })
    p = build_pipeline(cfg)
    p.run()
    p.close()
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    finals = {r["key"]: r["asr"]["text"] for r in rows if r["asr"]["final"]}
    tr = Transcriber(asr_operator(load_session(asr_model, provider="cpu"), **lm))
    assert (p.schedulers["asr"].operator.rescore is None) == (decoding == "greedy")
    assert (p.schedulers["asr"].operator.companion is None) == (decoding != "companion")
    for k, (key, x) in enumerate(streams.items()):
        want = [e["text"] for e in tr.stream(x, key=k) if e["type"] == "final"]
        assert [finals.get(key)] == want[-1:], key
    assert p.schedulers["asr"].store.live_keys == 0  # every stream ended


def test_unreadable_lm_is_one_error_naming_the_operator(tmp_path, asr_model):
    cfg = parse_config({
        "sources": [{"type": "stdin", "name": "in"}],
        "operators": [{"type": "asr", "name": "asr", "model": str(asr_model), "lm": str(tmp_path / "nope.txt")}],
        "metrics": {"enabled": False},
    })
    with pytest.raises(ConfigError, match=r"operators\[asr\]\.lm: cannot read"):
        build_pipeline(cfg)


def test_negative_blank_penalty_is_one_error_naming_the_field(asr_model):
    with pytest.raises(ConfigError, match="blank_penalty"):
        parse_config({
            "sources": [{"type": "stdin", "name": "in"}],
            "operators": [{"type": "asr", "name": "asr", "model": str(asr_model), "blank_penalty": -1}],
            "metrics": {"enabled": False},
        })


def test_companion_without_beam_is_one_error_naming_the_operator(asr_model, asr_companion_model):
    # Checked when the config is validated, before any model is loaded.
    with pytest.raises(ConfigError, match=r"operators\[asr\]\.companion: needs beam-decoded finals"):
        parse_config({
            "sources": [{"type": "stdin", "name": "in"}],
            "operators": [{"type": "asr", "name": "asr", "model": str(asr_model), "general_lm": None,
                           "companion": str(asr_companion_model)}],
            "metrics": {"enabled": False},
        })
    with pytest.raises(ConfigError, match="companion_weight"):
        parse_config({"sources": [{"type": "stdin", "name": "in"}], "operators": [
            {"type": "asr", "name": "asr", "model": str(asr_model), "beam": 4, "companion": "x.onnx",
             "companion_weight": 1.0}]})


def test_a_snapshot_is_only_restored_for_the_same_pair_of_models(tmp_path, asr_model, asr_companion_model):
    rng = np.random.default_rng(9)
    src = tmp_path / "audio.jsonl"
    src.write_text("".join(json.dumps({"key": f"k{k}", "ts": c * 0.1, "value": (0.3 * rng.standard_normal(1600)).tolist()})
                           + "\n" for c in range(4) for k in range(2)))
    (tmp_path / "lm.txt").write_text("\n".join(LM_TEXT) + "\n")

    def pipeline(companion):
        op = {"type": "asr", "name": "asr", "model": str(asr_model), "provider": "cpu", "beam": 4,
              "lm": str(tmp_path / "lm.txt")} | ({"companion": str(companion)} if companion else {})
        return build_pipeline(parse_config({
            "sources": [{"type": "jsonl", "name": "a", "path": str(src), "max_record_bytes": 200000}],
            "operators": [op], "sinks": [{"type": "jsonl", "name": "out", "path": str(tmp_path / "o.jsonl")}],
            "metrics": {"enabled": False}, "checkpoint": {"path": str(tmp_path / "state.ckpt")},
        }))

    p = pipeline(asr_companion_model)
    assert "+" in p.schedulers["asr"].operator.describe()["sha256"]
    p.run()
    p.close()
    for companion, outcome, live in ((asr_companion_model, "restored", 2), (asr_model, "model_changed", 0),
                                     (None, "model_changed", 0)):
        q = pipeline(companion)
        assert q.restore() == {"asr": outcome}
        assert q.schedulers["asr"].store.live_keys == live
        q.close()
