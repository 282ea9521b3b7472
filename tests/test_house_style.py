"""House rules the code base keeps: packaging, module size, __all__, no runtime asserts, doctests."""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"pipeline": "rnnstream", "connectors": "rnnstream.connectors", "models": "rnnstream.models"}


def modules():
    for folder, pkg in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            yield path, ".".join([pkg, *parts])


def test_every_subpackage_is_packaged():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, pkg in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([pkg, *rel.parts]))
    assert found == listed


@pytest.mark.parametrize("path,name", list(modules()), ids=lambda v: str(v) if isinstance(v, str) else "")
def test_module_rules(path, name):
    text = path.read_text()
    tree = ast.parse(text)
    assert len(text.splitlines()) <= 400, f"{path} has more than 400 lines"
    assert any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
               or isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "__all__"
               for n in tree.body), f"{path} lacks __all__"
    asserts = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    assert not asserts, f"{path}: assert used for runtime checks at lines {asserts}"


@pytest.mark.parametrize("path,name", list(modules()), ids=lambda v: str(v) if isinstance(v, str) else "")
def test_docstring_examples_run(path, name):
    if "torch" in path.read_text() and importlib.util.find_spec("torch") is None:
        pytest.skip("module needs torch (the train extra)")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_no_generic_top_level_names_installed(tmp_path):
    """Outside the checkout, only rnnstream is importable; pipeline/models/connectors are not."""
    import subprocess
    import sys

    code = (
        "import importlib.util as u, rnnstream; "
        "print(rnnstream.__name__, [n for n in ('pipeline', 'models', 'connectors') if u.find_spec(n)])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "rnnstream []"
