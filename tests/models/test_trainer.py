"""The trainer: loss, schedule, early stopping, determinism, checkpoint/resume, export."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the trainer needs the train extra (torch)")

from hypothesis import given, strategies as st  # noqa: E402

from rnnstream.errors import ConfigError  # noqa: E402
from rnnstream.engine.manifest import load_manifest  # noqa: E402
from rnnstream.models import trainer as trainer_mod  # noqa: E402
from rnnstream.models.checkpoint import checkpoint_path  # noqa: E402
from rnnstream.models.train_config import parse_train_config  # noqa: E402
from rnnstream.models.trainer import _lr_factor, pinball_loss, prepare_data, train  # noqa: E402


def tiny(tmp_path, **over):
    base = {
        "task": "forecast", "out": str(tmp_path / "m.onnx"), "synthetic": {"seed": 5, "keys": 4, "steps": 400},
        "hidden": 8, "horizon": 3, "window": 16, "segment_windows": 2, "burn_in": 4, "batch_size": 4,
        "max_steps": 24, "eval_every": 6, "warmup_steps": 2, "checkpoint_dir": str(tmp_path / "ck"),
        "checkpoint_every": 5, "dropout": 0.0,
    }
    base.update(over)
    return parse_train_config(base)


def weights(net) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in net.state_dict().values()])


@given(
    target=st.floats(-5, 5), q=st.sampled_from([0.1, 0.5, 0.9]),
)
def test_pinball_loss_matches_its_definition(target, q):
    preds = np.linspace(-6, 6, 25)
    p = torch.tensor(preds, dtype=torch.float64).view(-1, 1, 1, 1, 1)
    t = torch.full((25, 1, 1, 1), target, dtype=torch.float64)
    w = torch.ones(25, 1, 1, dtype=torch.float64)
    got = [float(pinball_loss(p[i : i + 1], t[i : i + 1], w[i : i + 1], torch.tensor([q], dtype=torch.float64)))
           for i in range(25)]
    want = [max(q * (target - x), (q - 1) * (target - x)) for x in preds]
    assert np.allclose(got, want)


def test_pinball_loss_is_minimised_at_the_empirical_quantile():
    rng = np.random.default_rng(0)
    sample = torch.tensor(rng.normal(size=2000), dtype=torch.float64)
    grid = torch.linspace(-3, 3, 601, dtype=torch.float64)
    for q in (0.1, 0.5, 0.9):
        losses = [float(pinball_loss(g.view(1, 1, 1, 1, 1).expand(1, 2000, 1, 1, 1), sample.view(1, 2000, 1, 1),
                                     torch.ones(1, 2000, 1, dtype=torch.float64), torch.tensor([q], dtype=torch.float64)))
                  for g in grid]
        best = float(grid[int(np.argmin(losses))])
        assert abs(best - np.quantile(sample.numpy(), q)) < 0.02


def test_pinball_loss_ignores_zero_weight_entries():
    p = torch.zeros(1, 2, 1, 1, 1)
    t = torch.tensor([[[[1.0]], [[100.0]]]])
    w = torch.tensor([[[1.0], [0.0]]])
    assert float(pinball_loss(p, t, w, torch.tensor([0.5]))) == pytest.approx(0.5)


def test_lr_schedule_warms_up_then_decays_to_the_floor(tmp_path):
    cfg = tiny(tmp_path, max_steps=100, warmup_steps=10, lr_schedule="cosine")
    f = [_lr_factor(cfg, s) for s in range(101)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert f[100] == pytest.approx(trainer_mod._LR_FLOOR)
    const = tiny(tmp_path, lr_schedule="constant", warmup_steps=0)
    assert {_lr_factor(const, s) for s in range(50)} == {1.0}


def test_training_learns_exports_and_the_model_runs_in_the_runtime(tmp_path):
    cfg = tiny(tmp_path, max_steps=60, eval_every=20, lr=0.01)
    res = train(cfg, progress=False, command="rnnstream train forecast ...")
    assert res.stopped == "max_steps" and res.steps == 60
    vals = [h["val_loss"] for h in res.history]
    assert vals[-1] < vals[0]
    assert res.parity_error is not None and res.parity_error < 1e-4
    assert res.plot_path.is_file() and res.plot_path.read_bytes()[:4] == b"\x89PNG"
    manifest, onnx_path = load_manifest(tmp_path / "m.json")
    assert manifest.features["horizon"] == 3 and manifest.features["quantiles"] == [0.1, 0.5, 0.9]
    assert manifest.training["command"] == "rnnstream train forecast ..."
    assert manifest.training["data"]["source"] == "synthetic" and manifest.training["data"]["seed"] == 5
    assert manifest.training["best_step"] == res.best_step
    from rnnstream.operators.forecast import ForecastOperator
    from rnnstream.engine.session import load_session

    op = ForecastOperator(load_session(onnx_path, provider="cpu"))
    out, _ = op.step_many(np.full((2, 1), 3.0, np.float32), op.init_state(2))
    assert out["p50"].shape == (2, 3) and np.all(out["p10"] <= out["p90"])


def test_anomaly_task_writes_the_likelihood_spec(tmp_path):
    cfg = tiny(tmp_path, task="anomaly", horizon=None, max_steps=4, likelihood={"warmup": 7})
    train(cfg, progress=False)
    manifest, _ = load_manifest(tmp_path / "m.json")
    assert manifest.task == "anomaly" and manifest.features["horizon"] == 1
    assert manifest.features["likelihood"]["warmup"] == 7


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    data = prepare_data(tiny(tmp_path))
    a = train(tiny(tmp_path / "a", max_steps=10), progress=False, data=data)
    b = train(tiny(tmp_path / "b", max_steps=10), progress=False, data=data)
    c = train(tiny(tmp_path / "c", max_steps=10, seed=1), progress=False, data=data)
    assert np.array_equal(weights(a.net), weights(b.net))
    assert not np.allclose(weights(a.net), weights(c.net))


@pytest.mark.parametrize("cell,dropout,layers", [("gru", 0.0, 1), ("lstm", 0.3, 2)])
def test_killed_and_resumed_run_ends_where_an_unkilled_one_does(tmp_path, cell, dropout, layers):
    over = {"cell": cell, "dropout": dropout, "layers": layers, "max_steps": 24}
    data = prepare_data(tiny(tmp_path, **over))
    whole = train(tiny(tmp_path / "whole", **over), progress=False, data=data)
    killed_cfg = tiny(tmp_path / "killed", **over)
    # "Killed" at step 13: the last checkpoint is step 10, so steps 11-13 are lost and redone.
    stopped = train(killed_cfg, progress=False, data=data, stop_at_step=13)
    assert stopped.stopped == "interrupted" and stopped.onnx_path is None
    assert torch.load(checkpoint_path(killed_cfg.checkpoint_dir), weights_only=False)["step"] == 10
    resumed = train(killed_cfg, progress=False, data=data, resume=True)
    assert resumed.steps == whole.steps == 24
    assert np.max(np.abs(weights(resumed.net) - weights(whole.net))) < 1e-6
    assert resumed.best_val_loss == pytest.approx(whole.best_val_loss, rel=1e-6)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in whole.history]


def test_resume_refuses_a_checkpoint_from_another_config(tmp_path):
    cfg = tiny(tmp_path)
    data = prepare_data(cfg)
    train(cfg, progress=False, data=data, stop_at_step=6)
    other = tiny(tmp_path, hidden=9)
    with pytest.raises(ConfigError, match="different config"):
        train(other, progress=False, resume=True, data=data)


def test_early_stopping_keeps_the_best_weights(tmp_path, monkeypatch):
    scripted = iter([1.0, 0.5, 0.7, 0.8, 0.9, 0.95])
    seen = []

    def fake_validate(net, data, q, horizon):
        seen.append(weights(net).copy())
        return next(scripted)

    monkeypatch.setattr(trainer_mod, "_validate", fake_validate)
    cfg = tiny(tmp_path, max_steps=100, eval_every=2, patience=2)
    res = train(cfg, progress=False)
    assert res.stopped == "early_stop"
    assert res.steps == 8 and res.best_step == 4 and res.best_val_loss == 0.5
    assert np.array_equal(weights(res.net), seen[1])
    manifest, _ = load_manifest(tmp_path / "m.json")
    assert manifest.training["stopped"] == "early_stop"
    assert json.dumps(manifest.training)  # the metadata is plain JSON


def test_time_features_widen_the_model_input_and_are_declared(tmp_path):
    cfg = tiny(tmp_path, max_steps=3, time_features=["day", "week"])
    res = train(cfg, progress=False)
    assert res.net.config.input_size == 1 + 4
    manifest, _ = load_manifest(tmp_path / "m.json")
    assert manifest.features["time_features"] == ["day", "week"]
