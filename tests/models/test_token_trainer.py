"""The token-model trainer: it learns, a stopped run resumes bit for bit, the export streams."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the train extra (torch)")

from rnnstream.models.token_export import check_token_parity, export_token_model  # noqa: E402
from rnnstream.models.token_trainer import TokenData, TokenTrainConfig, train_tokens  # noqa: E402

CFG = TokenTrainConfig(embed=8, hidden=16, max_steps=60, eval_every=20, batch_size=8, window=16, warmup_steps=5)


def _sessions(n=60, seed=0):
    rng = np.random.default_rng(seed)
    # A grammar: 1 then (2 3)* then 4; the model must learn that 3 follows 2.
    return [np.array([1, *([2, 3] * int(rng.integers(1, 4))), 4]) for _ in range(n)]


def test_sessions_are_learned(tmp_path):
    data = TokenData.sessions(5, _sessions(), _sessions(10, 1))
    run = train_tokens(CFG.model_copy(update={"max_steps": 150}), data)
    first, last = run.history[0]["val_loss"], run.best[0]
    assert last < first * 0.6, f"validation loss {first:.3f} -> {last:.3f}"


@pytest.mark.parametrize("kind", ["sessions", "stream"])
def test_a_stopped_run_resumes_to_the_same_weights(tmp_path, kind):
    if kind == "sessions":
        data = TokenData.sessions(5, _sessions(), _sessions(10, 1))
    else:
        data = TokenData.stream(5, np.concatenate(_sessions()), np.concatenate(_sessions(10, 1)))
    whole = train_tokens(CFG, data)
    train_tokens(CFG, data, checkpoint_dir=str(tmp_path), stop_at_step=40)  # checkpointed at 20 and 40
    resumed = train_tokens(CFG, data, checkpoint_dir=str(tmp_path), resume=True)
    assert resumed.step == whole.step == CFG.max_steps
    for (name, a), b in zip(whole.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"


def test_export_streams_like_the_whole_sequence(tmp_path):
    data = TokenData.sessions(5, _sessions(), _sessions(10, 1))
    run = train_tokens(CFG.model_copy(update={"max_steps": 20}), data)
    path = tmp_path / "m.onnx"
    m = export_token_model(run.net, path, name="t", task="logkeys", top_k=3, features={"end_id": 4})
    assert [o.name for o in m.data_outputs] == ["logp", "rank", "top_logp", "top_ids"]
    assert check_token_parity(run.net, path) < 1e-4
    assert json.loads(path.with_suffix(".json").read_text())["model"]["top_k"] == 3


def test_train_and_eval_logkeys_commands(tmp_path, capsys):
    from rnnstream.cli import main

    sessions = tmp_path / "normal"
    sessions.write_text("\n".join(" ".join(map(str, s)) for s in _sessions(80)) + "\n")
    templates = tmp_path / "templates.csv"
    templates.write_text("EventId,EventTemplate\n" + "".join(f"E{i},<*>event {chr(96 + i)} <*>\n" for i in range(1, 5)))
    rows = [(" ".join(map(str, s)), 0) for s in _sessions(40, 2)]
    rows += [("1 3 2 4", 1), ("1 2 3", 1), ("2 3 4", 1), ("1 2 2 4", 1)] * 10  # order broken or cut short
    valid = tmp_path / "valid.csv"
    valid.write_text("Sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    out = tmp_path / "lk.onnx"
    assert main(["train", "logkeys", "--sessions", str(sessions), "--templates", str(templates), "--valid",
                 str(valid), "--out", str(out), "--max-steps", "200", "--eval-every", "50", "--hidden", "16",
                 "--no-progress", "--top-k", "3"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["valid"]["f1"] > 0.9 and result["parity"] < 1e-4
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["features"]["top_g"] == result["top_g"] and manifest["features"]["end_id"] == 5
    assert out.with_suffix(".loss.png").is_file()
    assert main(["eval", "logkeys", "--model", str(out), "--test", str(valid), "--train", str(sessions),
                 "--json", str(tmp_path / "r.json")]) == 0
    figures = json.loads((tmp_path / "r.json").read_text())
    assert figures["f1"] == pytest.approx(result["valid"]["f1"]) and figures["sessions"] == len(rows)
    assert figures["baseline"]["recall"] == 1.0  # every broken session holds a transition never seen


def test_train_and_eval_nextword_commands(tmp_path, capsys):
    from rnnstream.cli import main

    rng = np.random.default_rng(0)
    subjects, verbs, objects = ["the cat", "a dog", "my friend"], ["sees", "likes", "wants"], ["the ball", "a bone"]
    lines = [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}." for _ in range(400)]
    (tmp_path / "train.txt").write_text("\n".join(lines[:300]) + "\n")
    (tmp_path / "dev.txt").write_text("\n".join(lines[300:350]) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(lines[350:]) + "\n")
    out = tmp_path / "nw.onnx"
    assert main(["train", "nextword", "--train", str(tmp_path / "train.txt"), "--dev", str(tmp_path / "dev.txt"),
                 "--out", str(out), "--max-steps", "120", "--eval-every", "40", "--hidden", "32", "--embed", "16",
                 "--batch-size", "4", "--window", "16", "--vocab-size", "50", "--no-progress"]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["vocab"] == 13 and trained["parity"] < 1e-4 and trained["val_perplexity"] < 6
    assert main(["eval", "nextword", "--model", str(out), "--text", str(tmp_path / "test.txt"), "--train",
                 str(tmp_path / "train.txt"), "--json", str(tmp_path / "r.json")]) == 0
    figures = json.loads((tmp_path / "r.json").read_text())
    model, ngram = figures["rows"]
    assert model["tokens"] == ngram["tokens"] > 200
    # The grammar: after "the" comes cat or ball; after a verb an object. Both learn it.
    assert model["top3"] > 0.6 and ngram["top3"] > 0.6
