"""The README is a manual of at most 30 KB, and its layout table matches the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MODULE = re.compile(r"^[a-z][a-z0-9_]*$")


def layout_rows() -> dict[str, set[str]]:
    section = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith("/`"):
            rows[cells[0].strip("`")] = {t for t in re.findall(r"`([^`]+)`", cells[2]) if MODULE.match(t)}
    return rows


def test_readme_is_at_most_30_kb():
    assert len(README.encode()) <= 30_000


def test_layout_table_names_every_module_and_package():
    rows = layout_rows()
    packages = [d for d in ("pipeline", "connectors", "models") for d in [ROOT / d, *(ROOT / d).rglob("*")]
                if d.is_dir() and (d / "__init__.py").exists()]
    for pkg in packages:
        folder = pkg.relative_to(ROOT).as_posix() + "/"
        assert folder in rows, f"README layout has no row for {folder}"
        modules = {p.stem for p in pkg.glob("*.py") if not p.stem.startswith("__")}
        named = rows[folder]
        assert modules <= named, f"{folder}: README does not name {sorted(modules - named)}"
        assert named <= modules, f"{folder}: README names {sorted(named - modules)}, which are not there"
    for folder in ("deploy/", "tests/"):
        assert folder in rows and (ROOT / folder).is_dir()
