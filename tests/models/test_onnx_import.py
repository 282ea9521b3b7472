"""Reading an exported model back into torch: every cell type, exact weights, clear errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra")

from rnnstream.errors import ModelError  # noqa: E402
from rnnstream.models.export import export_model  # noqa: E402
from rnnstream.models.network import RNNConfig, StreamingRNN  # noqa: E402
from rnnstream.models.onnx_import import load_exported  # noqa: E402


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("proj", [0, 6])
def test_exported_weights_come_back_exactly(tmp_path, cell, proj):
    torch.manual_seed(1)
    net = StreamingRNN(RNNConfig(cell=cell, input_size=5, hidden_size=7, num_layers=2, output_size=3,
                                 proj_size=proj))
    export_model(net, tmp_path / "m.onnx", name="m", task="generic")
    back, _ = load_exported(tmp_path / "m.onnx")
    assert back.config == net.config
    want, got = net.state_dict(), back.state_dict()
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), k


def test_a_missing_manifest_is_a_model_error(tmp_path):
    net = StreamingRNN(RNNConfig(cell="gru", input_size=2, hidden_size=4, output_size=1))
    export_model(net, tmp_path / "m.onnx", name="m", task="generic")
    (tmp_path / "m.json").unlink()
    with pytest.raises(ModelError, match="manifest not found"):
        load_exported(tmp_path / "m.onnx")
