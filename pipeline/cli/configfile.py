"""Reading a config file: the only place a YAML file becomes a :class:`~rnnstream.config.PipelineConfig`."""

from __future__ import annotations

from pathlib import Path

from rnnstream.config import PipelineConfig, parse_config, resolve_paths
from rnnstream.errors import ConfigError

__all__ = ["load_config_file"]


def load_config_file(path: str | Path) -> PipelineConfig:
    """Read and validate a YAML config file; relative paths in it resolve against its folder."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config {path}{where}: not valid YAML") from None
    return resolve_paths(parse_config(data), path.parent)
