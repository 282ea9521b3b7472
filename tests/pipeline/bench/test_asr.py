"""``rnnstream bench asr``: batched against one stream per call, finals inside the measurement."""

from __future__ import annotations

import json
import shutil

import pytest

from rnnstream.asr.beam import DEFAULT_BEAM
from rnnstream.cli.main import main


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (tests/system-deps.sh installs it)")
def test_bench_asr_with_an_lm_measures_beam_finals_in_both_modes(tmp_path, capsys):
    lm = tmp_path / "lm.txt"
    lm.write_text("please turn on the kitchen lights\nset the alarm for seven thirty tomorrow morning\n")
    out = tmp_path / "rows.json"
    # 7 s per stream: the default speech has a 1 s pause after each sentence, so streams end utterances.
    assert main(["bench", "asr", "--seconds", "7", "--streams", "1,3", "--lm", str(lm), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"70 chunks per stream, finals: beam {DEFAULT_BEAM} + builtin:lm-en + --lm" in printed
    rows = json.loads(out.read_text())
    assert [(r["mode"], r["streams"]) for r in rows] == [("batched", 1), ("batched", 3), ("single", 1), ("single", 3)]
    for r in rows:
        assert r["finals"] >= r["streams"], r  # every stream closed at least one utterance while timed
        assert 0 < r["p50_ms"] <= r["p95_ms"]


@pytest.mark.parametrize("argv, field", [(["--streams", "0,5"], "--streams"), (["--streams", "a"], "--streams"),
                                         (["--seconds", "0.1"], "--seconds")])
def test_bench_asr_rejects_bad_arguments_by_name(argv, field, capsys):
    assert main(["bench", "asr", *argv]) == 2
    assert field in capsys.readouterr().err
