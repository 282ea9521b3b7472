"""ASR trainer: a tiny real corpus, deterministic training, kill-and-resume equals uninterrupted."""

from __future__ import annotations

import shutil

import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra")

from rnnstream.models.asr_trainer import AsrTrainConfig, train_asr  # noqa: E402
from rnnstream.engine.session import load_session  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng (tests/system-deps.sh installs it)")
    from rnnstream.models.corpus.build import build_corpus
    from rnnstream.models.corpus.voices import Voice

    out = tmp_path_factory.mktemp("corpus")
    build_corpus(0.01, out, seed=3, workers=2, voices=[Voice("espeak-ng", "en-us"), Voice("espeak-ng", "en+m3")])
    return out


def cfg(corpus, tmp, **kw):
    base = dict(corpus=corpus, out=tmp / "asr.onnx", checkpoint_dir=tmp / "ck", hidden=16, proj=16, layers=1,
                epochs=10, batch_frames=3000, checkpoint_every=1, threads=1, val_fraction=0.1)
    return AsrTrainConfig(**{**base, **kw})


def test_train_exports_a_streaming_asr_model(corpus, tmp_path):
    result = train_asr(cfg(corpus, tmp_path, max_steps=6), progress=False)
    assert result["parity_err"] < 1e-4
    sess = load_session(tmp_path / "asr.onnx")
    f = sess.manifest.features
    assert sess.manifest.task == "asr" and len(f["vocab"]) == 29 and len(f["mean"]) == 80
    assert sess.manifest.training["steps"] == 6


def test_killed_and_resumed_equals_uninterrupted(corpus, tmp_path):
    whole = train_asr(cfg(corpus, tmp_path / "a", max_steps=8), progress=False)
    train_asr(cfg(corpus, tmp_path / "b", max_steps=4), progress=False)  # "killed" after step 4
    resumed = train_asr(cfg(corpus, tmp_path / "b", max_steps=8), resume=True, progress=False)
    assert whole["steps"] == resumed["steps"] == 8
    wa = torch.load(tmp_path / "a" / "ck" / "last.pt", weights_only=False)["model"]
    wb = torch.load(tmp_path / "b" / "ck" / "last.pt", weights_only=False)["model"]
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-5, rtol=1e-4)


def test_fine_tune_starts_from_another_runs_weights(corpus, tmp_path):
    train_asr(cfg(corpus, tmp_path / "base", max_steps=3), progress=False)
    base = torch.load(tmp_path / "base" / "ck" / "last.pt", weights_only=False)
    start = base["train_state"]["best_state"] or base["model"]
    # lr tiny: after one step the weights must still sit next to the base run's, not a fresh init.
    train_asr(cfg(corpus, tmp_path / "ft", max_steps=1, lr=1e-7, init=tmp_path / "base" / "ck"), progress=False)
    # Both runs share the seed, so a silently ignored --init would start from the base run's own
    # initial weights, which its three Adam steps (lr 2e-3) moved by far more than 1e-4.
    tuned = torch.load(tmp_path / "ft" / "ck" / "last.pt", weights_only=False)["model"]
    for k in start:
        torch.testing.assert_close(tuned[k], start[k], atol=1e-4, rtol=0)


def test_init_with_another_architecture_is_one_clear_error(corpus, tmp_path):
    from rnnstream.errors import ConfigError

    train_asr(cfg(corpus, tmp_path / "base", max_steps=1), progress=False)
    with pytest.raises(ConfigError, match="init: .* does not fit"):
        train_asr(cfg(corpus, tmp_path / "ft", max_steps=1, hidden=24, init=tmp_path / "base" / "ck"), progress=False)
    with pytest.raises(ConfigError, match="init: no checkpoint"):
        train_asr(cfg(corpus, tmp_path / "ft2", max_steps=1, init=tmp_path / "nowhere"), progress=False)


def test_two_corpora_train_together(corpus, tmp_path):
    result = train_asr(cfg([corpus, corpus], tmp_path, max_steps=2), progress=False)
    sess = load_session(tmp_path / "asr.onnx")
    one = cfg(corpus, tmp_path / "one").corpus
    assert len(one) == 1 and sess.manifest.training["corpus"] == [str(corpus), str(corpus)]
    # Each utterance counted once per corpus: the doubled run sees twice the utterances.
    single = train_asr(cfg(corpus, tmp_path / "one", max_steps=1), progress=False)
    assert result["steps"] == 2 and single["steps"] == 1
    assert sess.manifest.training["utterances"] > load_session(tmp_path / "one" / "asr.onnx").manifest.training[
        "utterances"]


def test_device_choice_and_a_missing_gpu_is_a_config_error(corpus, tmp_path):
    from rnnstream.errors import ConfigError
    from rnnstream.models.asr_trainer import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU, so device=cuda is valid here")
    with pytest.raises(ConfigError, match="device"):
        train_asr(cfg(corpus, tmp_path, max_steps=1, device="cuda"), progress=False)


def test_device_is_not_part_of_the_resume_identity(corpus, tmp_path):
    # A run started on a GPU must resume on a CPU (and back): the device does not change the model.
    train_asr(cfg(corpus, tmp_path, max_steps=2, device="cpu"), progress=False)
    resumed = train_asr(cfg(corpus, tmp_path, max_steps=3, device="auto"), resume=True, progress=False)
    assert resumed["steps"] == 3


def test_fine_tune_from_an_exported_model_keeps_its_weights_and_normalisation(corpus, tmp_path):
    from rnnstream.models.onnx_import import load_exported

    train_asr(cfg(corpus, tmp_path / "base", max_steps=3), progress=False)
    shipped = load_exported(tmp_path / "base" / "asr.onnx")[0].state_dict()
    base_spec = load_session(tmp_path / "base" / "asr.onnx").manifest.features
    # The same corpus 12 dB quieter: a fine-tune that recomputed the normalisation would shift it.
    from rnnstream.asr.wav import read_wav, write_wav

    other = tmp_path / "other"
    shutil.copytree(corpus, other, ignore=shutil.ignore_patterns("features-*"))
    for w in (other / "wavs").glob("*.wav"):
        x, sr = read_wav(w)
        write_wav(w, x * 0.25, sr)
    train_asr(cfg([other], tmp_path / "ft", max_steps=1, lr=1e-7, init=tmp_path / "base" / "asr.onnx"),
              progress=False)
    tuned = torch.load(tmp_path / "ft" / "ck" / "last.pt", weights_only=False)["model"]
    for k in shipped:
        torch.testing.assert_close(tuned[k], shipped[k], atol=1e-4, rtol=0)
    spec = load_session(tmp_path / "ft" / "asr.onnx").manifest.features
    assert spec["mean"] == base_spec["mean"] and spec["std"] == base_spec["std"]


def test_init_from_an_exported_model_of_another_shape_names_the_field(corpus, tmp_path):
    from rnnstream.errors import ConfigError

    train_asr(cfg(corpus, tmp_path / "base", max_steps=1), progress=False)
    with pytest.raises(ConfigError, match="init: .* does not fit this architecture: hidden_size 16 != 24"):
        train_asr(cfg(corpus, tmp_path / "ft", max_steps=1, hidden=24, init=tmp_path / "base" / "asr.onnx"),
                  progress=False)
    with pytest.raises(ConfigError, match="init: model manifest not found"):
        train_asr(cfg(corpus, tmp_path / "ft2", max_steps=1, init=tmp_path / "nowhere.onnx"), progress=False)
