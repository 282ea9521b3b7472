"""Export parity: ONNX Runtime equals torch for T=1 and T=7 at several batch sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="export needs the train extra")

from rnnstream.errors import ModelError  # noqa: E402
from rnnstream.engine.manifest import load_manifest  # noqa: E402
from rnnstream.engine.session import load_session  # noqa: E402

CELLS = [(c, n) for c in ("rnn", "lstm", "gru") for n in (1, 2)]


@pytest.mark.parametrize("cell,layers", CELLS)
@pytest.mark.parametrize("steps", [1, 7])
def test_onnx_matches_torch(model_factory, cell, layers, steps):
    net, path = model_factory(cell=cell, layers=layers, input_size=4, hidden=16, output_size=3)
    sess = load_session(path, provider="cpu")
    for batch in (1, 3, 17):
        gen = torch.Generator().manual_seed(batch)
        x = torch.randn(batch, steps, 4, generator=gen)
        state_t = tuple(torch.randn(batch, layers, 16, generator=gen) for _ in net.config.state_names)
        with torch.no_grad():
            want_y, want_state = net(x, state_t)
        state = {f"{n}_in": s.numpy() for n, s in zip(net.config.state_names, state_t)}
        got, got_state = sess.run(x.numpy(), state)
        np.testing.assert_allclose(got["y"], want_y.numpy(), atol=1e-5)
        for n, s in zip(net.config.state_names, want_state):
            np.testing.assert_allclose(got_state[f"{n}_in"], s.numpy(), atol=1e-5)


def test_manifest_describes_the_graph(model_factory):
    net, path = model_factory(cell="lstm", layers=2, input_size=4, hidden=16, output_size=3)
    manifest, onnx_path = load_manifest(path)
    assert manifest.model["cell"] == "lstm" and manifest.model["num_layers"] == 2
    assert [s.input for s in manifest.state] == ["h_in", "c_in"]
    assert all(s.batch_axis == 0 for s in manifest.state)
    assert manifest.inputs[0].shape == ["batch", "time", 4]


def test_tampered_model_is_one_clear_error(model_factory, tmp_path):
    _, path = model_factory(cell="gru")
    bad = tmp_path / "m.onnx"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / "m.json").write_text(path.with_suffix(".json").read_text().replace(path.name, "m.onnx"))
    with pytest.raises(ModelError, match="does not match its manifest"):
        load_session(bad)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_session(tmp_path / "nope.onnx")


def test_manifest_disagreeing_with_graph(model_factory, tmp_path):
    _, path = model_factory(cell="gru")
    (tmp_path / "m.onnx").write_bytes(path.read_bytes())
    doc = json.loads(path.with_suffix(".json").read_text())
    doc["onnx_file"] = "m.onnx"
    doc["outputs"][0]["name"] = "logits"
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="disagree with its manifest"):
        load_session(tmp_path / "m.onnx")


def test_parity_check_catches_a_wrong_model(model_factory):
    from rnnstream.models.export import check_streaming_parity
    from rnnstream.models.network import RNNConfig, StreamingRNN

    net, path = model_factory(cell="gru", input_size=3, hidden=8, output_size=2)
    assert check_streaming_parity(net, path) < 1e-5
    torch.manual_seed(123)
    other = StreamingRNN(RNNConfig(cell="gru", input_size=3, hidden_size=8, output_size=2))
    with pytest.raises(ModelError, match="streaming parity failed"):
        check_streaming_parity(other, path)
