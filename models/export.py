"""Export a :class:`StreamingRNN` to ONNX with explicit state, and write its manifest.

The legacy TorchScript exporter (``dynamo=False``) with ``dynamic_axes`` is used on purpose:
torch 2.13's default dynamo exporter bakes the time length into the graph, while the legacy
one emits plain ONNX LSTM/GRU/RNN ops with dynamic batch and time axes.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnstream.errors import ModelError
from rnnstream.engine.manifest import IOSpec, Manifest, StateIOSpec, file_sha256, manifest_path_for
from rnnstream.models.network import RNNConfig, StreamingRNN

__all__ = ["export_model", "check_streaming_parity", "state_io_names", "OPSET"]

OPSET = 17


def state_io_names(config: RNNConfig) -> list[tuple[str, str]]:
    return [(f"{n}_in", f"{n}_out") for n in config.state_names]


class _Exportable(torch.nn.Module):
    """Flattens the state tuple into positional inputs/outputs for the exporter."""

    def __init__(self, net: StreamingRNN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, *state: torch.Tensor):
        y, new = self.net(x, tuple(state))
        return (y, *new)


def export_model(
    net: StreamingRNN,
    path: str | Path,
    *,
    name: str,
    task: str,
    features: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> Manifest:
    """Write ``path`` (.onnx) and its manifest (.json) beside it; return the manifest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = net.config
    net = net.eval()
    names = state_io_names(cfg)
    x = torch.zeros(2, 3, cfg.input_size)
    state = net.zero_state(2)
    dyn = {"x": {0: "batch", 1: "time"}, "y": {0: "batch", 1: "time"}}
    for i, o in names:
        dyn[i] = {0: "batch"}
        dyn[o] = {0: "batch"}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter warns about batch_first RNNs and deprecation; neither applies here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Exportable(net),
            (x, *state),
            buf,
            input_names=["x", *[i for i, _ in names]],
            output_names=["y", *[o for _, o in names]],
            dynamic_axes=dyn,
            opset_version=OPSET,
            dynamo=False,
        )
    path.write_bytes(buf.getvalue())
    per_key = ["batch", cfg.num_layers, cfg.hidden_size]
    manifest = Manifest(
        name=name,
        task=task,
        onnx_file=path.name,
        sha256=file_sha256(path),
        inputs=[IOSpec(name="x", shape=["batch", "time", cfg.input_size])]
        + [IOSpec(name=i, shape=per_key) for i, _ in names],
        outputs=[IOSpec(name="y", shape=["batch", "time", cfg.output_size])]
        + [IOSpec(name=o, shape=per_key) for _, o in names],
        state=[StateIOSpec(input=i, output=o, shape=per_key, batch_axis=0) for i, o in names],
        model={"arch": "StreamingRNN", **cfg.to_dict()},
        features=features or {},
        training=training or {},
    )
    manifest.write(manifest_path_for(path))
    return manifest


def check_streaming_parity(
    net: StreamingRNN,
    onnx_path: str | Path,
    *,
    batch: int = 3,
    steps: int = 20,
    chunks: tuple[int, ...] = (1, 7, 5, 7),
    tol: float = 1e-4,
    seed: int = 0,
) -> float:
    """Feed ORT in chunks and compare with torch on the whole sequence; return the max error.

    Raises :class:`ModelError` when the error exceeds ``tol``; exporters call this before
    shipping a model.
    """
    from rnnstream.engine.session import load_session

    sess = load_session(onnx_path, provider="cpu")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, net.config.input_size, generator=gen)
    with torch.no_grad():
        want, _ = net.eval()(x)
    state = sess.zero_state(batch)
    got, t0, i = [], 0, 0
    while t0 < steps:
        n = chunks[i % len(chunks)]
        out, state = sess.run(x[:, t0 : t0 + n].numpy(), state)
        got.append(out["y"])
        t0, i = t0 + n, i + 1
    err = float(np.max(np.abs(np.concatenate(got, axis=1) - want.numpy())))
    if err > tol:
        raise ModelError(f"streaming parity failed for {onnx_path}: max |onnx - torch| = {err:.2e} > {tol:.0e}")
    return err
