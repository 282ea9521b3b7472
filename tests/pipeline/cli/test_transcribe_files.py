"""``rnnstream transcribe FILE`` with audio files as users have them: any format, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnstream.asr.wav import load_mono_16k, resample, write_wav
from rnnstream.cli import main

SPEECH = Path(__file__).resolve().parents[2] / "data" / "speech"
FIXTURE = SPEECH / "118-47824-0030.flac"  # LibriSpeech, CC BY 4.0: see tests/data/speech/README.md
FIXTURE_SECONDS = 2.745  # manifest.jsonl


def transcribe_json(capfd, path: Path) -> list[dict]:
    assert main(["--log-level", "ERROR", "transcribe", str(path), "--json", "--provider", "cpu"]) == 0
    out, err = capfd.readouterr()
    assert err == "", err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_flac_gives_the_same_events_as_the_same_audio_as_wav(capfd, tmp_path):
    """The shipped model on a real recording: FLAC in, the events of the identical WAV out."""
    x = load_mono_16k(FIXTURE)
    write_wav(tmp_path / "same.wav", x, 16000)  # exact: the FLAC holds 16-bit samples
    from_flac = transcribe_json(capfd, FIXTURE)
    assert from_flac and from_flac[-1]["type"] == "final" and from_flac[-1]["text"].strip()
    assert from_flac == transcribe_json(capfd, tmp_path / "same.wav")


def test_a_48k_stereo_opus_file_is_downmixed_and_resampled(capfd, tmp_path):
    soundfile = pytest.importorskip("soundfile")
    x48 = resample(load_mono_16k(FIXTURE), 16000, 48000)
    soundfile.write(tmp_path / "take.opus", np.stack([x48, x48], axis=1), 48000, format="OGG", subtype="OPUS")
    events = transcribe_json(capfd, tmp_path / "take.opus")
    assert events and events[-1]["type"] == "final"
    assert events[-1]["end"] == pytest.approx(FIXTURE_SECONDS, abs=0.2)  # whole 100 ms chunks


@pytest.mark.parametrize("name,content,why", [
    ("missing.flac", None, "No such file or directory"),
    ("notes.flac", "graham on the other hand was ill at ease\n" * 20, "not an audio format this reads"),
    ("notes.mp3", "not an mp3\n", "not an audio format this reads"),
    ("empty.wav", "", "the file is empty"),
], ids=["missing", "text-as-flac", "text-as-mp3", "empty"])
def test_an_unreadable_file_is_one_error_line_naming_it(capfd, tmp_path, name, content, why):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["--log-level", "ERROR", "transcribe", str(path), "--provider", "cpu"]) == 2
    out, err = capfd.readouterr()
    # capfd reads file descriptor 2: a C decoder's own stderr lines would show here too.
    lines = err.splitlines()
    assert out == "" and len(lines) == 1, err
    assert lines[0].startswith(f"rnnstream: error: cannot read audio {path}: ") and why in lines[0], lines[0]
