"""The systemd unit (systemd-analyze, offline) and the Dockerfiles (static checks; no engine here)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib

import pytest
import yaml

from rnnstream.cli.main import build_parser

UNIT = "systemd/rnnstream.service"


def unit_for_this_machine(tools, tmp_path, text=None):
    """The unit with ExecStart pointing at this machine's rnnstream, which verify requires to exist."""
    exe = shutil.which("rnnstream")
    if exe is None:
        pytest.fail("the rnnstream command is not installed (pip install -e .)")
    text = (text or (tools.DEPLOY / UNIT).read_text()).replace("/usr/local/bin/rnnstream", exe)
    path = tmp_path / "rnnstream.service"
    path.write_text(text)
    return path


def analyze(tools, *args):
    return subprocess.run([tools.need_tool("systemd-analyze"), *args], capture_output=True, text=True, timeout=60)


def test_unit_verifies_cleanly(tools, tmp_path):
    r = analyze(tools, "verify", str(unit_for_this_machine(tools, tmp_path)))
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    broken = (tools.DEPLOY / UNIT).read_text().replace("ProtectSystem=strict", "ProtectSystem=banana")
    r = analyze(tools, "verify", str(unit_for_this_machine(tools, tmp_path, broken)))
    assert "banana" in r.stderr  # verify does report a bad value, so the clean run means something


def test_unit_hardening_exposure_is_low(tools, tmp_path):
    r = analyze(tools, "security", "--offline=yes", str(unit_for_this_machine(tools, tmp_path)))
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert m, r.stdout[-2000:] + r.stderr
    assert float(m.group(1)) <= 2.0, r.stdout  # systemd rates 0-10; a default unit scores 9.6


def test_unit_runs_the_daemon_command_line(tools):
    text = (tools.DEPLOY / UNIT).read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("ExecStart=")]
    argv = shlex.split(line.split("=", 1)[1])
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.log_format == "json" and args.config == "/etc/rnnstream/rnnstream.yaml"
    assert "KillSignal=SIGTERM" in text and "DynamicUser=yes" in text


def instructions(path):
    """(INSTRUCTION, arguments) per Dockerfile line, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", ["Dockerfile.cpu", "Dockerfile.cuda"])
def test_dockerfile(tools, name):
    ins = instructions(tools.DEPLOY / "docker" / name)
    extras = set(tomllib.loads((tools.ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for word, rest in ins:
        if word == "FROM":
            image = rest.split()[0]
            assert ":" in image and not image.endswith(":latest"), image  # pinned base images
        if word == "COPY" and not rest.startswith("--from"):
            for src in rest.split()[:-1]:
                assert (tools.ROOT / src).exists(), src  # build context is the repository root
        if word == "RUN" and "rnnstream[" in rest:
            asked = set(re.search(r"rnnstream\[([a-z,]+)\]", rest).group(1).split(","))
            assert asked <= extras, asked - extras
    users = [rest for word, rest in ins if word == "USER"]
    assert users and not users[-1].startswith(("0", "root"))
    entry = next(rest for word, rest in ins if word == "ENTRYPOINT")
    cmd = next(rest for word, rest in ins if word == "CMD")
    argv = yaml.safe_load(entry) + yaml.safe_load(cmd)  # exec form is a JSON list
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run"
    copied = {rest.split()[-1] for word, rest in ins if word == "COPY"}
    assert args.config in copied  # the default config is in the image
    health = next(rest for word, rest in ins if word == "HEALTHCHECK")
    assert "/healthz" in health and "9464" in health
    assert ("EXPOSE", "9464") in ins
    if name.endswith("cuda"):
        base = next(rest for word, rest in ins if word == "FROM")
        assert base.startswith("nvidia/cuda:12.") and "cudnn" in base  # onnxruntime-gpu: CUDA 12 + cuDNN 9
