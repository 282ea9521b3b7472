from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import pytest

from rnnstream.models.corpus.build import MANIFEST_NAME, build_corpus, read_manifest
from rnnstream.asr.text import is_eval_text, normalize_text
from rnnstream.models.corpus.voices import Voice, is_reserved, parse_voice
from rnnstream.errors import ConfigError

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None, reason="espeak-ng/flite not installed"
)
HOURS = 0.005  # 18 seconds of audio


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    build_corpus(HOURS, root, seed=3, workers=2, split="train")
    build_corpus(HOURS, root, seed=3, workers=2, split="eval")
    return root


def test_manifest_and_wavs_are_valid(corpus: Path) -> None:
    entries = read_manifest(corpus / MANIFEST_NAME)
    for split in ("train", "eval"):
        part = [e for e in entries if e["split"] == split]
        assert part and sum(e["duration"] for e in part) >= HOURS * 3600
    for e in entries:
        assert {"path", "text", "voice", "duration", "split"} <= set(e)
        assert Path(e["path"]).is_absolute() and Path(e["path"]).exists()
        with wave.open(e["path"]) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
            assert abs(w.getnframes() / 16000 - e["duration"]) < 1e-3
            assert w.getnframes() > 8000
        assert e["text"] == normalize_text(e["text"]) and e["text"]
    raw = [json.loads(line) for line in (corpus / MANIFEST_NAME).read_text().splitlines()]
    assert all(not Path(r["path"]).is_absolute() for r in raw)  # portable: relative to the corpus


def test_split_rules_hold(corpus: Path) -> None:
    entries = read_manifest(corpus / MANIFEST_NAME)
    train = [e for e in entries if e["split"] == "train"]
    evals = [e for e in entries if e["split"] == "eval"]
    assert not any(is_reserved(parse_voice(e["voice"])) for e in train)
    assert all(is_reserved(parse_voice(e["voice"])) for e in evals)
    assert not {e["text"] for e in train} & {e["text"] for e in evals}
    assert all(is_eval_text(e["text"]) for e in evals) and not any(is_eval_text(e["text"]) for e in train)


def test_resume_does_no_work_twice(corpus: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in (corpus / "wavs").iterdir()}
    lines_before = (corpus / MANIFEST_NAME).read_text()
    s = build_corpus(HOURS, corpus, seed=3, workers=2, split="train")
    assert s.new == 0 and s.adopted == 0 and s.failed == 0
    assert {p: p.stat().st_mtime_ns for p in (corpus / "wavs").iterdir()} == before
    assert (corpus / MANIFEST_NAME).read_text() == lines_before


def test_wav_on_disk_but_missing_from_manifest_is_adopted(tmp_path: Path) -> None:
    first = build_corpus(0.002, tmp_path, seed=5, workers=1, split="train")
    manifest = tmp_path / MANIFEST_NAME
    lines = manifest.read_text().splitlines()
    victim = next(line for line in lines if json.loads(line)["id"] == "train-0000000")
    dropped = json.loads(victim)
    mtime = (tmp_path / dropped["path"]).stat().st_mtime_ns
    # Simulate a crash mid-append: the WAV is on disk, its manifest line is torn.
    manifest.write_text("\n".join(line for line in lines if line != victim) + "\n" + victim[:20])
    # Ask for exactly what the first build made, so the missing utterance is needed.
    again = build_corpus(first.hours - 1e-9, tmp_path, seed=5, workers=1, split="train")
    assert again.adopted == 1 and again.new == 0
    assert (tmp_path / dropped["path"]).stat().st_mtime_ns == mtime
    entries = read_manifest(manifest, resolve=False)
    assert len(entries) == first.utterances
    assert {e["id"] for e in entries} >= {dropped["id"]}
    # More hours extend the corpus with new utterances only.
    more = build_corpus(first.hours * 2, tmp_path, seed=5, workers=2, split="train")
    assert more.new >= 1 and more.adopted == 0
    assert more.utterances == len(read_manifest(manifest)) and more.hours >= first.hours * 2


def test_train_build_refuses_reserved_voices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        build_corpus(0.001, tmp_path, seed=0, voices=[Voice("espeak-ng", "en-us"), Voice("flite", "kal")])
    with pytest.raises(ConfigError):
        build_corpus(0.001, tmp_path, seed=0, split="train", voices=[Voice("espeak-ng", "en+m6")])
    with pytest.raises(ConfigError):
        build_corpus(0.001, tmp_path, seed=0, split="dev")
    with pytest.raises(ConfigError):
        build_corpus(-1, tmp_path)
    if shutil.which("text2wave") is None:
        with pytest.raises(ConfigError, match="installed"):
            build_corpus(0.001, tmp_path, seed=0, voices=[Voice("festival", "ked_diphone")])
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_engine_weights_pick_the_engine(tmp_path: Path) -> None:
    s = build_corpus(0.001, tmp_path, seed=1, workers=1, engine_weights={"flite": 1.0})
    voices = {e["voice"] for e in read_manifest(s.manifest)}
    assert voices == {"flite:awb"}  # the only flite voice allowed in training
    with pytest.raises(ConfigError):
        build_corpus(0.001, tmp_path / "x", seed=1, engine_weights={"sapi": 1.0})


def test_cli_engine_weights_and_speed_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rnnstream.cli.main import main

    assert main(["corpus", "speech", "--hours", "0.002", "--out", str(tmp_path), "--seed", "4", "--workers", "1",
                 "--engine-weight", "flite=1", "--speed", "1.2", "1.25"]) == 0
    entries = read_manifest(tmp_path / MANIFEST_NAME)
    assert {e["voice"] for e in entries} == {"flite:awb"}
    tempos = [e["augment"]["tempo"] for e in entries if "tempo" in e["augment"]]
    assert tempos and all(1.2 <= t <= 1.25 for t in tempos)
    assert main(["corpus", "speech", "--hours", "0.001", "--out", str(tmp_path / "x"),
                 "--engine-weight", "flite"]) == 2
    assert "--engine-weight" in capsys.readouterr().err


def test_cli_f0_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rnnstream.cli.main import main

    assert main(["corpus", "speech", "--hours", "0.002", "--out", str(tmp_path), "--seed", "5", "--workers", "1",
                 "--engine-weight", "flite=1", "--f0", "190", "230"]) == 0
    synth = [e["synth"] for e in read_manifest(tmp_path / MANIFEST_NAME)]
    assert synth and all(190 <= s["f0"] <= 230 and s["f0_std"] > 0 for s in synth)
    assert main(["corpus", "speech", "--hours", "0.001", "--out", str(tmp_path / "x"), "--f0", "300", "100"]) == 2
    assert "--f0" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="f0_range"):
        build_corpus(0.001, tmp_path / "y", f0_range=(10.0, 100.0))


def test_cli_corpus_text_is_training_split_only(tmp_path: Path) -> None:
    from rnnstream.cli.main import main

    out = tmp_path / "lm.txt"
    assert main(["corpus", "text", "--sentences", "300", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 300 and not any(is_eval_text(t) for t in lines)
    assert all(t == normalize_text(t) for t in lines)
