"""``rnnstream train``: flags and YAML, the reproduce command, and a real kill -9 + --resume."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rnnstream.cli import train as commands_train
from rnnstream.errors import ConfigError

TINY = ["--synthetic-seed", "3", "--synthetic-keys", "3", "--synthetic-steps", "300", "--hidden", "6",
        "--window", "16", "--segment-windows", "2", "--burn-in", "4", "--batch-size", "4", "--horizon", "2",
        "--warmup-steps", "2", "--eval-every", "5", "--no-progress"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rnnstream")
    commands_train.register(p.add_subparsers(dest="command"))
    return p


def config_of(argv, file_obj=None):
    args = parser().parse_args(argv)
    overrides = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg:")}
    return commands_train.build_config(args.task, file_obj, overrides)


def test_flags_override_the_yaml_file_and_fill_defaults(tmp_path):
    yaml_obj = {"synthetic": {"seed": 1, "keys": 8}, "hidden": 40, "cell": "lstm", "out": str(tmp_path / "m.onnx")}
    cfg = config_of(["train", "forecast", "--hidden", "12", "--synthetic-keys", "5"], yaml_obj)
    assert (cfg.hidden, cfg.cell, cfg.synthetic.seed, cfg.synthetic.keys) == (12, "lstm", 1, 5)
    assert cfg.checkpoint_dir == str(tmp_path / "m.ckpt")
    # --data replaces the file's synthetic source instead of clashing with it.
    cfg = config_of(["train", "forecast", "--data", "x.csv"], yaml_obj)
    assert cfg.data == "x.csv" and cfg.synthetic is None


def test_bad_values_and_a_task_mismatch_are_config_errors():
    with pytest.raises(ConfigError, match="hidden"):
        config_of(["train", "forecast", "--synthetic-seed", "1", "--hidden", "0"])
    with pytest.raises(ConfigError, match="task"):
        config_of(["train", "forecast"], {"task": "anomaly", "synthetic": {}})
    with pytest.raises(ConfigError, match="exactly one"):
        config_of(["train", "forecast"])
    with pytest.raises(SystemExit):  # likelihood flags exist only for anomaly models
        config_of(["train", "forecast", "--synthetic-seed", "1", "--lik-warmup", "3"])


@settings(max_examples=25, deadline=None)
@given(
    task=st.sampled_from(["forecast", "anomaly"]),
    hidden=st.integers(1, 128),
    cell=st.sampled_from(["rnn", "lstm", "gru"]),
    lr=st.floats(1e-5, 1e-1),
    seed=st.integers(0, 2**31),
    quantiles=st.sampled_from([[0.1, 0.5, 0.9], [0.05, 0.25, 0.5, 0.75, 0.95]]),
    warmup=st.one_of(st.none(), st.integers(0, 500)),
)
def test_the_recorded_command_rebuilds_the_same_config(task, hidden, cell, lr, seed, quantiles, warmup):
    argv = ["train", task, "--synthetic-seed", str(seed), "--hidden", str(hidden), "--cell", cell, "--lr", repr(lr),
            "--quantiles", ",".join(map(str, quantiles))]
    if warmup is not None and task == "anomaly":
        argv += ["--lik-warmup", str(warmup)]
    cfg = config_of(argv)
    again = commands_train.config_to_argv(cfg)
    assert again[:3] == ["rnnstream", "train", task]
    assert config_of(again[1:]) == cfg


def test_train_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "f.onnx"
    args = parser().parse_args(["train", "forecast", *TINY, "--max-steps", "10", "--out", str(out)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "reproduce with: rnnstream train forecast" in printed
    manifest = json.loads(out.with_suffix(".json").read_text())
    command = manifest["training"]["command"]
    assert config_of(shlex.split(command)[1:]) == config_of(["train", "forecast", *TINY, "--max-steps", "10",
                                                              "--out", str(out)])
    assert (tmp_path / "f_loss.png").is_file() and (tmp_path / "f.ckpt" / "last.pt").is_file()


def _weights(path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return np.concatenate([numpy_helper.to_array(t).ravel() for t in model.graph.initializer])


def test_kill_minus_9_then_resume_matches_an_unkilled_run(tmp_path):
    torch = pytest.importorskip("torch")
    steps = "300"
    script = ("import sys, argparse; from rnnstream.cli import train as c; p = argparse.ArgumentParser(); "
              "c.register(p.add_subparsers(dest='command')); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))")
    killed_out, whole_out = tmp_path / "killed" / "m.onnx", tmp_path / "whole" / "m.onnx"
    common = ["train", "anomaly", *TINY, "--max-steps", steps, "--checkpoint-every", "7"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen([sys.executable, "-c", script, *common, "--out", str(killed_out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed_out.with_suffix(".ckpt") / "last.pt"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ckpt.is_file():
                try:
                    step = torch.load(ckpt, weights_only=False)["step"]
                except Exception:  # noqa: BLE001 - caught mid-rename on a slow disk; poll again
                    step = 0
                if step >= 14:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, "training ended before it could be killed; raise --max-steps"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = torch.load(ckpt, weights_only=False)["step"]
    assert 14 <= killed_at < int(steps) and not killed_out.exists()
    args = parser().parse_args([*common, "--out", str(killed_out), "--resume"])
    assert args.func(args) == 0
    args = parser().parse_args([*common, "--out", str(whole_out)])
    assert args.func(args) == 0
    a, b = _weights(killed_out), _weights(whole_out)
    assert np.max(np.abs(a - b)) < 1e-6
    ma = json.loads(killed_out.with_suffix(".json").read_text())["training"]
    mb = json.loads(whole_out.with_suffix(".json").read_text())["training"]
    assert ma["best_val_loss"] == pytest.approx(mb["best_val_loss"], rel=1e-6)
    assert ma["steps"] == mb["steps"] and ma["best_step"] == mb["best_step"]
