"""The decoding flags build the same validated ASR config as a config file, and errors name the flag."""

from __future__ import annotations

import argparse

import pytest

from rnnstream.cli.options import add_asr_options, asr_config, build_asr
from rnnstream.errors import ConfigError

LM = ["turn the light on", "turn it off"]


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_asr_options(p)
    return p.parse_args(list(argv))


def test_decoder_flags(tmp_path, asr_model):
    assert asr_config(_args()).lm is None and asr_config(_args()).general_lm == "builtin:lm-en"
    assert asr_config(_args("--greedy")).general_lm is None
    assert asr_config(_args("--general-lm", "none")).general_lm is None
    lm = tmp_path / "lm.txt"
    lm.write_text("turn the light on\n\nturn it off\n")
    cfg = asr_config(_args("--lm", str(lm), "--lm-weight", "0.7", "--lm-order", "4", "--blank-penalty", "0.5"))
    assert (cfg.lm, cfg.lm_weight, cfg.lm_order, cfg.blank_penalty) == (lm, 0.7, 4, 0.5)
    # Alone, a domain LM's lexicon is its own words; beside the general LM, the union.
    op = build_asr(asr_config(_args("--model", str(asr_model), "--provider", "cpu", "--lm", str(lm), "--greedy")))
    assert op.rescore is not None and len(op.rescore.lexicon) == 6
    (tmp_path / "odd.txt").write_text("frobnicate the zorblax\n")
    op = build_asr(asr_config(_args("--model", str(asr_model), "--provider", "cpu", "--lm", str(tmp_path / "odd.txt"))))
    general = op.rescore.lm.general
    assert {"frobnicate", "zorblax", "light"} <= op.rescore.lexicon.words
    assert len(op.rescore.lexicon) == len(general.lexicon()) + 2
    assert build_asr(asr_config(_args("--model", str(asr_model), "--provider", "cpu", "--greedy"))).rescore is None
    with pytest.raises(ConfigError, match="^--general-lm: no word LM"):
        build_asr(asr_config(_args("--model", str(asr_model), "--general-lm", str(tmp_path / "no.npz"))))
    for argv, flag in [(("--beam", "0"), "--beam"), (("--lm-order", "7"), "--lm-order"),
                       (("--blank-penalty", "-1"), "--blank-penalty")]:
        with pytest.raises(ConfigError, match=f"^{flag}"):
            asr_config(_args(*argv))
    with pytest.raises(ConfigError, match="^--lm: cannot read"):
        build_asr(asr_config(_args("--model", str(asr_model), "--lm", str(tmp_path / "missing.txt"))))
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ConfigError, match="has no text"):
        build_asr(asr_config(_args("--model", str(asr_model), "--lm", str(tmp_path / "empty.txt"))))


def test_companion_flags(tmp_path):
    lm = tmp_path / "lm.txt"
    lm.write_text("\n".join(LM) + "\n")
    cfg = asr_config(_args("--lm", str(lm), "--companion", "builtin:asr-companion", "--companion-weight", "0.4"))
    assert cfg.companion == "builtin:asr-companion" and cfg.companion_weight == 0.4
    assert asr_config(_args()).companion is None
    assert asr_config(_args("--companion", "builtin:asr-companion")).companion  # the general LM's finals
    with pytest.raises(ConfigError, match="^--companion: needs"):
        asr_config(_args("--companion", "builtin:asr-companion", "--greedy"))
    for bad in ("1", "-0.1", "nan"):
        with pytest.raises(ConfigError, match="^--companion-weight"):
            asr_config(_args("--beam", "4", "--companion", "x.onnx", "--companion-weight", bad))
