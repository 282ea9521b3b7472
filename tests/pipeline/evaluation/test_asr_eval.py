"""ASR evaluation: scoring arithmetic, speech bounds, and full runs on tiny synthetic corpora."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rnnstream.asr.endpoint import EndpointConfig
from rnnstream.evaluation.asr_eval import edit_distance, evaluate_asr, speech_bounds
from rnnstream.operators.asr import AsrOperator
from rnnstream.engine.session import load_session
from rnnstream.apps.transcribe import Transcriber


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("a b c".split(), "a c".split()) == 1
    assert edit_distance([], ["x", "y"]) == 2


def test_speech_bounds_find_the_loud_part():
    x = np.zeros(32000, np.float32)
    x[8000:24000] = 0.5 * np.sin(np.arange(16000) * 0.3)
    on, off = speech_bounds(x)
    assert on == pytest.approx(0.5, abs=0.03) and off == pytest.approx(1.5, abs=0.03)


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("flite") is None,
                    reason="needs espeak-ng and flite (tests/system-deps.sh installs them)")
def test_eval_runs_on_a_real_tiny_set(tmp_path, asr_model, monkeypatch):
    from rnnstream.models.corpus import evalset
    from rnnstream.models.corpus.voices import Voice

    monkeypatch.setattr(evalset, "EVAL_SET_VOICES", (Voice("flite", "slt"), Voice("espeak-ng", "en-us+f4")))
    manifest = evalset.build_eval_set(3, tmp_path / "eval", workers=1)
    entries = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert len(entries) == 6 and {e["voice"] for e in entries} == {"flite:slt", "espeak-ng:en-us+f4"}
    # A second build adds nothing (resumable).
    evalset.build_eval_set(3, tmp_path / "eval", workers=1)
    assert len(manifest.read_text().splitlines()) == 6

    tr = Transcriber(AsrOperator(load_session(asr_model, provider="cpu"),
                                 endpoint=EndpointConfig(trailing_silence=0.5)))
    result = evaluate_asr(tr, str(manifest), group=4, peer=False)
    ours = result["systems"]["ours"]
    assert ours["utterances"] == len(result["utterances"]) == 6 and result["group_by"] == "voice"
    assert set(ours["groups"]) == {"flite:slt", "espeak-ng:en-us+f4"} and result["peers"] == []
    assert result["rtf"] > 0 and result["wer"] == ours["wer"] >= 0
    # Random weights: WER is bad but streaming must still equal the whole-file decode.
    assert result["streamed_equals_whole"], result["streamed_equals_whole_count"]


@pytest.mark.skipif(shutil.which("flite") is None or shutil.which("text2wave") is None,
                    reason="needs flite and festival (tests/system-deps.sh installs them)")
def test_tuning_set_holds_no_reserved_voice_and_no_eval_sentence(tmp_path):
    from rnnstream.models.corpus.sentences import SentenceGenerator
    from rnnstream.models.corpus.voices import is_reserved, parse_voice
    from rnnstream.cli.main import main

    assert main(["corpus", "speech", "--split", "tune", "--sentences", "2", "--out", str(tmp_path / "t"),
                 "--workers", "1"]) == 0
    entries = [json.loads(x) for x in (tmp_path / "t" / "manifest.jsonl").read_text().splitlines()]
    assert {e["voice"] for e in entries} == {"flite:awb", "festival:ked_diphone"} and len(entries) == 4
    assert not any(is_reserved(parse_voice(e["voice"])) for e in entries)
    eval_texts = set(SentenceGenerator(seed=7).sample(10_000, split="eval"))
    assert not {e["text"] for e in entries} & eval_texts
    assert all(e["id"].startswith("tune-") for e in entries)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (tests/system-deps.sh installs it)")
def test_eval_cli_filters_voices_and_decodes_with_an_lm(tmp_path, asr_model, asr_companion_model, monkeypatch):
    from rnnstream.models.corpus import evalset
    from rnnstream.models.corpus.voices import Voice
    from rnnstream.cli.main import main
    from rnnstream.asr.beam import DEFAULT_BLANK_PENALTY, DEFAULT_WORD_BONUS
    from rnnstream.operators.asr_build import DEFAULT_BEAM

    monkeypatch.setattr(evalset, "EVAL_SET_VOICES", (Voice("espeak-ng", "en-us+f4"), Voice("espeak-ng", "en+m6")))
    manifest = evalset.build_eval_set(2, tmp_path / "eval", workers=1)
    lm = tmp_path / "lm.txt"
    lm.write_text("open the door\nturn on the light\n")
    out = tmp_path / "r.json"
    assert main(["eval", "asr", "--manifest", str(manifest), "--model", str(asr_model), "--no-peer",
                 "--voice", "espeak-ng:en+m6", "--general-lm", "none", "--lm", str(lm), "--lm-weight", "0.3",
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert len(r["utterances"]) == 2 and set(r["systems"]["ours"]["groups"]) == {"espeak-ng:en+m6"}
    assert r["decoding"] == {"general_lm": None, "finals": "beam", "beam": DEFAULT_BEAM, "lm": str(lm), "lm_order": 3,
                             "lm_weight": 0.3, "word_bonus": DEFAULT_WORD_BONUS, "blank_penalty": DEFAULT_BLANK_PENALTY,
                             "companion": None, "companion_weight": None}
    assert r["streamed_equals_whole"]
    assert main(["eval", "asr", "--manifest", str(manifest), "--model", str(asr_model), "--no-peer",
                 "--general-lm", "none", "--lm", str(lm), "--companion", str(asr_companion_model), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["decoding"]["companion"] == str(asr_companion_model) and r["decoding"]["companion_weight"] == 0.3
    assert r["streamed_equals_whole"] and len(r["utterances"]) == 4
