from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rnnstream.models.corpus import voices as vmod
from rnnstream.models.corpus.voices import (
    ESPEAK_EVAL_VARIANTS,
    ESPEAK_TRAIN_VARIANTS,
    EVAL_VOICES,
    RESERVED_EVAL_VOICES,
    TRAIN_VOICES,
    Voice,
    available_voices,
    check_voices,
    is_reserved,
    parse_voice,
    voices_for_split,
)
from rnnstream.errors import ConfigError

REQUIRED_RESERVED = {
    ("flite", "kal"), ("flite", "kal16"), ("flite", "slt"), ("flite", "rms"),
    ("festival", "kal_diphone"), ("festival", "cmu_us_slt_arctic_hts"),
}


def test_reserved_list_is_as_specified() -> None:
    assert {(v.engine, v.name) for v in RESERVED_EVAL_VOICES} == REQUIRED_RESERVED
    assert len(ESPEAK_EVAL_VARIANTS) == 2 and not set(ESPEAK_EVAL_VARIANTS) & set(ESPEAK_TRAIN_VARIANTS)


def test_train_inventory_has_no_reserved_voice_and_eval_only_reserved() -> None:
    assert TRAIN_VOICES and EVAL_VOICES
    assert not any(is_reserved(v) for v in TRAIN_VOICES)
    assert all(is_reserved(v) for v in EVAL_VOICES)
    assert Voice("flite", "awb") in TRAIN_VOICES and Voice("festival", "ked_diphone") in TRAIN_VOICES
    assert not set(TRAIN_VOICES) & set(EVAL_VOICES)


def test_check_voices_refuses_reserved_for_train() -> None:
    for bad in (Voice("flite", "slt"), Voice("espeak-ng", "en-029+f4"), Voice("festival", "kal_diphone")):
        with pytest.raises(ConfigError):
            check_voices([Voice("espeak-ng", "en-us"), bad], "train")
        check_voices([bad], "eval")
    with pytest.raises(ConfigError):
        check_voices([], "dev")
    assert voices_for_split("eval") == EVAL_VOICES


def test_parse_voice() -> None:
    assert parse_voice("espeak-ng:en-us+m3") == Voice("espeak-ng", "en-us+m3")
    assert parse_voice("espeak-ng:en-us+m3").variant == "m3"
    for bad in ("en-us", "sapi:david", "flite:"):
        with pytest.raises(ConfigError):
            parse_voice(bad)


def test_missing_engines_are_skipped_with_a_log_line(monkeypatch, caplog) -> None:
    real_which = shutil.which
    monkeypatch.setattr(vmod.shutil, "which", lambda name: None if name == "text2wave" else real_which(name))
    caplog.set_level("INFO", logger="rnnstream.models.corpus.voices")
    got = available_voices([Voice("festival", "ked_diphone")])
    assert got == []
    assert "text2wave" in caplog.text and "ked_diphone" in caplog.text


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_every_espeak_variant_exists_in_the_installed_data() -> None:
    # espeak-ng ignores an unknown variant silently, so check the names against its data.
    roots = [Path("/usr/lib/x86_64-linux-gnu/espeak-ng-data"), Path("/usr/share/espeak-ng-data"),
             Path("/usr/lib/aarch64-linux-gnu/espeak-ng-data")]
    vdirs = [r / "voices" / "!v" for r in roots if (r / "voices" / "!v").is_dir()]
    if not vdirs:
        pytest.skip("espeak-ng data directory not found")
    for var in ESPEAK_TRAIN_VARIANTS + ESPEAK_EVAL_VARIANTS:
        assert any((d / var).exists() for d in vdirs), var
