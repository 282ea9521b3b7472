"""Export a :class:`TokenLM`'s streaming step to ONNX with its manifest, and prove it streams.

The legacy TorchScript exporter is used for the same reason as :mod:`rnnstream.models.export`:
it emits plain ONNX LSTM/GRU ops with a dynamic batch axis.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnstream.engine.manifest import IOSpec, Manifest, StateIOSpec, file_sha256, manifest_path_for
from rnnstream.errors import ModelError
from rnnstream.models.export import OPSET
from rnnstream.models.token_network import TokenLM, TokenStep

__all__ = ["export_token_model", "check_token_parity", "TOKEN_OUTPUTS"]

TOKEN_OUTPUTS = ("logp", "rank", "top_logp", "top_ids")
"""The data outputs of every token model, in graph order."""


def export_token_model(net: TokenLM, path: str | Path, *, name: str, task: str, top_k: int,
                       features: dict[str, Any], training: dict[str, Any] | None = None) -> Manifest:
    """Write ``path`` (.onnx) and its manifest beside it; return the manifest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = net.config
    step = TokenStep(net.eval(), top_k=top_k)
    names = [(f"{n}_in", f"{n}_out") for n in cfg.state_names]
    dyn = {"x": {0: "batch"}, **{o: {0: "batch"} for o in TOKEN_OUTPUTS}}
    for i, o in names:
        dyn[i] = dyn[o] = {0: "batch"}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # batch_first RNN and deprecation notices; neither applies
        torch.onnx.export(step, (torch.zeros(2, 1, 1), *net.zero_state(2)), buf,
                          input_names=["x", *[i for i, _ in names]],
                          output_names=[*TOKEN_OUTPUTS, *[o for _, o in names]],
                          dynamic_axes=dyn, opset_version=OPSET, dynamo=False)
    path.write_bytes(buf.getvalue())
    per_key = ["batch", cfg.layers, cfg.hidden]
    k = step.top_k
    manifest = Manifest(
        name=name, task=task, onnx_file=path.name, sha256=file_sha256(path),
        inputs=[IOSpec(name="x", shape=["batch", 1, 1])] + [IOSpec(name=i, shape=per_key) for i, _ in names],
        outputs=[IOSpec(name="logp", shape=["batch", 1]), IOSpec(name="rank", shape=["batch", 1]),
                 IOSpec(name="top_logp", shape=["batch", k]), IOSpec(name="top_ids", shape=["batch", k])]
        + [IOSpec(name=o, shape=per_key) for _, o in names],
        state=[StateIOSpec(input=i, output=o, shape=per_key, batch_axis=0) for i, o in names],
        model={"arch": "TokenLM", "top_k": k, **cfg.to_dict()},
        features=features, training=training or {},
    )
    manifest.write(manifest_path_for(path))
    return manifest


def check_token_parity(net: TokenLM, onnx_path: str | Path, *, batch: int = 3, steps: int = 12,
                       tol: float = 1e-4, seed: int = 0) -> float:
    """Step the ONNX model one token at a time and compare with torch on whole sequences.

    Returns the largest log-probability error; raises :class:`ModelError` above ``tol``.
    """
    from rnnstream.engine.session import load_session

    sess = load_session(onnx_path, provider="cpu")
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, net.config.vocab, (batch, steps), generator=gen)
    with torch.no_grad():
        want = torch.log_softmax(net.eval()(ids), dim=-1).gather(2, ids[..., None])[..., 0].numpy()
    state = sess.zero_state(batch)
    got = []
    for t in range(steps):
        out, state = sess.run(ids[:, t, None, None].float().numpy(), state)
        got.append(out["logp"][:, 0])
    err = float(np.max(np.abs(np.stack(got, axis=1) - want)))
    if err > tol:
        raise ModelError(f"streaming parity failed for {onnx_path}: max |onnx - torch| = {err:.2e} > {tol:.0e}")
    return err
