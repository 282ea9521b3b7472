"""Read an exported model back into torch: the inverse of :func:`~rnnstream.models.export.export_model`.

A shipped artefact carries everything needed to fine-tune it: the manifest holds the
network's config and the graph holds the weights. So ``train asr --init asr.onnx`` starts
from the shipped model without the checkpoint of the run that made it. The rebuilt network is
checked against the ONNX graph itself before it is returned.

>>> import tempfile, torch
>>> from rnnstream.models.export import export_model
>>> from rnnstream.models.network import RNNConfig, StreamingRNN
>>> net = StreamingRNN(RNNConfig(cell="lstm", input_size=3, hidden_size=8, num_layers=2, output_size=2))
>>> path = tempfile.mkdtemp() + "/m.onnx"
>>> _ = export_model(net, path, name="m", task="generic")
>>> back, manifest = load_exported(path)
>>> all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), back.state_dict().values()))
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnstream.errors import ModelError
from rnnstream.engine.manifest import Manifest, load_manifest
from rnnstream.models.export import check_streaming_parity
from rnnstream.models.network import RNNConfig, StreamingRNN

__all__ = ["load_exported"]

# ONNX and torch order the gates of one weight block differently; each tuple lists, in torch's
# order, where that gate sits in ONNX's (GRU: z r h -> r z n; LSTM: i o f c -> i f g o).
_GATE_ORDER = {"GRU": (1, 0, 2), "LSTM": (0, 2, 3, 1), "RNN": (0,)}
_RNN_OPS = {"gru": "GRU", "lstm": "LSTM", "rnn": "RNN"}


def _reorder(block: np.ndarray, order: tuple[int, ...]) -> torch.Tensor:
    gates = np.split(block, len(order), axis=0)
    return torch.from_numpy(np.concatenate([gates[i] for i in order], axis=0).copy())


def load_exported(path: str | Path) -> tuple[StreamingRNN, Manifest]:
    """Rebuild the :class:`StreamingRNN` that ``path`` (.onnx, manifest beside it) was exported from.

    Returns the network and the manifest (whose ``features`` a fine-tune keeps).

    Raises :class:`ModelError` when the graph does not have the layout the exporter writes, or
    when the rebuilt network does not reproduce the graph's outputs.
    """
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    manifest, _ = load_manifest(path)
    if manifest.model.get("arch") != "StreamingRNN":
        raise ModelError(f"{path}: manifest arch is {manifest.model.get('arch')!r}, not StreamingRNN")
    config = RNNConfig(**{k: v for k, v in manifest.model.items() if k != "arch"})
    graph = onnx.load(str(path)).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def affine(matmul) -> tuple[torch.Tensor, torch.Tensor]:
        # MatMul by W^T, then Add of the bias: nn.Linear as the exporter writes it.
        add = next((n for n in consumers.get(matmul.output[0], []) if n.op_type == "Add"), None)
        bias = next((init[i] for i in (add.input if add else []) if i in init), None)
        if bias is None:
            raise ModelError(f"{path}: a MatMul without its bias; not a StreamingRNN export")
        return torch.from_numpy(init[matmul.input[1]].T.copy()), torch.from_numpy(bias.copy())

    matmuls = [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in init]
    rnns = [n for n in graph.node if n.op_type == _RNN_OPS[config.cell]]
    if len(matmuls) != 2 or len(rnns) != config.num_layers:
        raise ModelError(f"{path}: expected 2 MatMul and {config.num_layers} {_RNN_OPS[config.cell]} nodes, "
                         f"found {len(matmuls)} and {len(rnns)}")
    net = StreamingRNN(config)
    state = net.state_dict()
    state["proj.0.weight"], state["proj.0.bias"] = affine(matmuls[0])
    state["head.weight"], state["head.bias"] = affine(matmuls[1])
    order = _GATE_ORDER[_RNN_OPS[config.cell]]
    width = len(order) * config.hidden_size
    for layer, node in enumerate(rnns):
        w, r, b = (init[name][0] for name in node.input[1:4])
        state[f"rnn.weight_ih_l{layer}"] = _reorder(w, order)
        state[f"rnn.weight_hh_l{layer}"] = _reorder(r, order)
        state[f"rnn.bias_ih_l{layer}"] = _reorder(b[:width], order)
        state[f"rnn.bias_hh_l{layer}"] = _reorder(b[width:], order)
    net.load_state_dict(state)
    check_streaming_parity(net, path)  # the rebuilt network must compute what the graph computes
    return net.eval(), manifest
