"""Shared options: one default per flag across commands, errors that name the flag, argparse only in the CLI."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from rnnstream.cli import build_parser, main
from rnnstream.config import AsrOperatorConfig

ROOT = Path(__file__).resolve().parents[3]
DECODING = ("--beam", "--general-lm", "--lm", "--domain-weight", "--lm-order", "--lm-weight",
            "--word-bonus", "--blank-penalty", "--companion", "--companion-weight")
MIC = ("--capture-rate", "--channels", "--latency", "--buffer-s")
SHARED = ("--provider", "--chunk-ms", *DECODING, *MIC, "--bootstrap-servers", "--max-seconds")


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, {flag: action}) for every leaf command of the parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, {s: a for a in parser._actions for s in a.option_strings}
        return
    for name, child in subs[0].choices.items():
        yield from commands(child, (*path, name))


ALL = dict(commands(build_parser()))


def with_flag(flag: str) -> dict[tuple[str, ...], object]:
    return {path: flags[flag].default for path, flags in ALL.items() if flag in flags}


@pytest.mark.parametrize("flag", SHARED)
def test_every_command_that_takes_a_shared_flag_has_the_same_default(flag):
    defaults = with_flag(flag)
    assert defaults, f"no command has {flag}"
    assert len({repr(d) for d in defaults.values()}) == 1, defaults


def test_the_asr_commands_share_model_provider_chunk_and_decoding():
    asr = set(with_flag("--provider"))
    assert {("transcribe",), ("eval", "asr"), ("bench", "asr"), ("bench", "mic")} <= asr
    assert set(with_flag("--beam")) == {("transcribe",), ("eval", "asr"), ("bench", "asr")}
    assert set(with_flag("--beam")) <= asr
    assert set(with_flag("--provider").values()) == {"auto"}
    # --model means other models elsewhere (eval forecast, bench kafka); the ASR commands agree.
    assert {ALL[p]["--model"].default for p in asr} == {"builtin:asr"}
    fields = AsrOperatorConfig.model_fields
    for flag in ("--chunk-ms", *DECODING):
        field = flag[2:].replace("-", "_")
        assert set(with_flag(flag).values()) == {fields[field].default}, flag
    assert set(with_flag("--greedy")) == set(with_flag("--general-lm"))  # --greedy is --general-lm none


def test_the_microphone_commands_share_the_capture_options():
    mic = set(with_flag("--capture-rate"))
    assert mic == {("transcribe",), ("mic-to-kafka",), ("bench", "mic")}
    for path in mic:
        assert {"--device", *MIC} <= set(ALL[path])
        assert ALL[path]["--device"].default is None


BAD_FLAGS = [
    (["--beam", "0"], "--beam"),
    (["--lm-order", "7"], "--lm-order"),
    (["--lm-weight", "-1"], "--lm-weight"),
    (["--blank-penalty", "-1"], "--blank-penalty"),
    (["--blank-penalty", "inf"], "--blank-penalty"),
    (["--beam", "4", "--companion", "x.onnx", "--companion-weight", "1"], "--companion-weight"),
    (["--companion", "builtin:asr-companion", "--greedy"], "--companion: needs"),
    (["--domain-weight", "1"], "--domain-weight"),
    (["--chunk-ms", "0"], "--chunk-ms"),
]
# The ASR commands with the decoding flags, with their other required arguments.
COMMANDS = {("transcribe",): ["missing.wav"], ("eval", "asr"): ["--manifest", "missing.jsonl"], ("bench", "asr"): []}


def one_error_line(capsys, argv: list[str]) -> str:
    assert main(["--log-level", "ERROR", *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# Only the pairs where the command has the flag (eval asr has no --chunk-ms).
CASES = [pytest.param(command, bad, flag, id=f"{' '.join(command)}: {' '.join(bad)}")
         for command in COMMANDS for bad, flag in BAD_FLAGS if bad[0] in ALL[command]]


@pytest.mark.parametrize("command,bad,flag", CASES)
def test_a_bad_decoding_flag_is_one_line_naming_it(capsys, command, bad, flag):
    line = one_error_line(capsys, [*command, *COMMANDS[command], *bad])
    assert line.startswith(f"rnnstream: error: {flag}"), line


@pytest.mark.parametrize("bad,flag", [
    (["--lm", "no-such-lm.txt"], "--lm: cannot read"),
    (["--chunk-ms", "30"], "--chunk-ms: must be a positive multiple of 20 ms"),
    (["--model", "builtin:nope"], "--model: unknown builtin"),
    (["--general-lm", "builtin:nope"], "--general-lm: unknown builtin"),
    (["--general-lm", "no-such-lm.npz"], "--general-lm: no word LM"),
    (["--beam", "4", "--companion", "builtin:nope"], "--companion: unknown builtin"),
])
def test_errors_found_while_building_the_operator_name_the_flag(capsys, tmp_path, bad, flag):
    """These pass the config's checks and fail when the runtime builds the operator."""
    line = one_error_line(capsys, ["transcribe", str(tmp_path / "missing.wav"), *bad])
    assert line.startswith(f"rnnstream: error: {flag}"), line


def test_no_module_outside_the_cli_uses_argparse():
    offenders = []
    for folder in ("pipeline", "connectors", "models"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("pipeline/cli/"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                elif isinstance(node, (ast.Name, ast.Attribute)):
                    names = [getattr(node, "id", None) or getattr(node, "attr", "")]
                if any(n.split(".")[0] == "argparse" or n == "Namespace" for n in names):
                    offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders
