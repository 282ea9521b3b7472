"""The JSON manifest that sits beside every ``.onnx`` file and describes it completely.

A model is only loaded through its manifest: the sha256 must match the file, and the
graph's inputs and outputs must be the ones the manifest names. The manifest also carries
the model's config (the whole input that built it), the feature spec the operator needs,
and training metadata, so a checkpoint describes itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rnnstream.errors import ModelError
from rnnstream.engine.state import StateSpec, TensorSpec

__all__ = ["IOSpec", "StateIOSpec", "Manifest", "load_manifest", "file_sha256", "manifest_path_for"]

FORMAT_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IOSpec(_Frozen):
    """A graph input or output. Symbolic dims are strings such as ``"batch"``."""

    name: str
    shape: list[int | str]
    dtype: str = "float32"


class StateIOSpec(_Frozen):
    """A recurrent state tensor: fed as ``input``, returned as ``output``."""

    input: str
    output: str
    shape: list[int | str]
    dtype: str = "float32"
    batch_axis: int = 0


class Manifest(_Frozen):
    format_version: int = FORMAT_VERSION
    name: str
    task: Literal["forecast", "anomaly", "asr", "logkeys", "nextword", "generic"]
    onnx_file: str
    sha256: str
    inputs: list[IOSpec]
    outputs: list[IOSpec]
    state: list[StateIOSpec]
    model: dict[str, Any] = Field(default_factory=dict)
    features: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)

    def state_spec(self, extras: tuple = ()) -> StateSpec:
        tensors = []
        for s in self.state:
            shape = tuple(0 if isinstance(d, str) else int(d) for d in s.shape)
            tensors.append(TensorSpec(s.input, s.output, shape, s.batch_axis, s.dtype))
        return StateSpec(tuple(tensors), tuple(extras))

    @property
    def data_inputs(self) -> list[IOSpec]:
        """Graph inputs that are not state."""
        state_in = {s.input for s in self.state}
        return [i for i in self.inputs if i.name not in state_in]

    @property
    def data_outputs(self) -> list[IOSpec]:
        state_out = {s.output for s in self.state}
        return [o for o in self.outputs if o.name not in state_out]

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_path_for(onnx_path: Path) -> Path:
    """``model.onnx`` -> ``model.json``."""
    return onnx_path.with_suffix(".json")


def load_manifest(path: str | Path, *, verify_sha: bool = True) -> tuple[Manifest, Path]:
    """Read a manifest (or the manifest beside an ``.onnx`` path) and check the file's sha256.

    Returns the manifest and the resolved ``.onnx`` path.
    """
    path = Path(path)
    if path.suffix == ".onnx":
        path = manifest_path_for(path)
    if not path.is_file():
        raise ModelError(f"model manifest not found: {path}")
    try:
        manifest = Manifest.model_validate(json.loads(path.read_text()))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ModelError(f"model manifest {path} is invalid: {_first_error(exc)}") from None
    if manifest.format_version != FORMAT_VERSION:
        raise ModelError(f"model manifest {path}: unsupported format_version {manifest.format_version}")
    onnx_path = path.parent / manifest.onnx_file
    if not onnx_path.is_file():
        raise ModelError(f"model file not found: {onnx_path} (named by {path})")
    if verify_sha:
        actual = file_sha256(onnx_path)
        if actual != manifest.sha256:
            raise ModelError(
                f"model file {onnx_path} does not match its manifest: sha256 {actual[:12]}… != {manifest.sha256[:12]}…"
            )
    return manifest, onnx_path


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)
