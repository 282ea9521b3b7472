"""Manifests from LibriSpeech, AN4 and ARCTIC layouts: texts normalised, paths relative, gaps skipped."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from rnnstream.cli import main
from rnnstream.errors import ConfigError
from rnnstream.models.corpus.manifests import scan, write_manifest


def _tone(path, seconds=0.5, rate=16000, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * rate), np.float32), rate, format=fmt)


def test_librispeech_layout_with_a_missing_file_and_digits(tmp_path):
    d = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121"
    _tone(d / "84-121-0000.flac", 1.0)
    (d / "84-121.trans.txt").write_text("84-121-0000 HE PAID 3 DOLLARS\n84-121-0001 NO AUDIO FOR THIS ONE\n")
    rows = scan("librispeech", tmp_path / "LibriSpeech", source="dev-clean")
    assert [(r["id"], r["text"], r["speaker"], r["source"], r["seconds"]) for r in rows] == [
        ("84-121-0000", "he paid three dollars", "84", "dev-clean", 1.0)]
    summary = write_manifest(rows, tmp_path / "out" / "dev.jsonl")
    line = json.loads((tmp_path / "out" / "dev.jsonl").read_text())
    assert line["path"] == "../LibriSpeech/dev-clean/84/121/84-121-0000.flac"
    assert summary["utterances"] == 1 and summary["speakers"] == 1


def test_an4_and_arctic_layouts(tmp_path):
    an4 = tmp_path / "an4"
    (an4 / "etc").mkdir(parents=True)
    (an4 / "etc" / "an4_train.transcription").write_text(
        "<s> YES </s> (an251-fash-b)\n<s> ENTER SIX TWO </s> (cen1-fash-b)\n")
    _tone(an4 / "wav" / "an4_clstk" / "fash" / "an251-fash-b.sph", fmt="NIST")
    _tone(an4 / "wav" / "an4_clstk" / "fash" / "cen1-fash-b.wav")
    assert [(r["text"], r["speaker"]) for r in scan("an4", an4)] == [("yes", "fash"), ("enter six two", "fash")]
    voice = tmp_path / "cmu_us_slt_arctic"
    (voice / "etc").mkdir(parents=True)
    (voice / "etc" / "txt.done.data").write_text('( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )\n')
    _tone(voice / "wav" / "arctic_a0001.wav")
    rows = scan("arctic", voice)
    assert rows[0]["text"] == "author of the danger trail philip steels etc" and rows[0]["speaker"] == voice.name


def test_an_empty_or_wrong_folder_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(ConfigError, match="no transcribed audio"):
        scan("librispeech", tmp_path)
    with pytest.raises(ConfigError, match="an4_train.transcription"):
        scan("an4", tmp_path)
    assert main(["corpus", "manifest", "--layout", "arctic", "--root", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "m.jsonl")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"rnnstream: error: root: no folder {tmp_path / 'nope'}"]


def test_audio_text_pairs_layout(tmp_path):
    d = tmp_path / "cathy" / "data"
    _tone(d / "arctic_a0001_159.wav")
    (d / "arctic_a0001_159.txt").write_text("Author of the danger trail, Philip Steels, etc.\n")
    (d / "orphan.txt").write_text("no audio here")
    rows = scan("pairs", d, source="kathleen")
    assert [(r["id"], r["text"], r["source"]) for r in rows] == [
        ("arctic_a0001_159", "author of the danger trail philip steels etc", "kathleen")]
