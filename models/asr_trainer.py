"""``rnnstream train asr``: a unidirectional GRU/LSTM acoustic model with a character CTC head.

The network is the same :class:`StreamingRNN` as every other model, fed stacked log-mel
frames from the runtime's own front end, so what is trained is exactly what streams.
Training resumes from its last checkpoint with ``resume=True``; the final model is exported
through the engine's export path after a streaming parity check.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rnnstream.asr.ctc import DEFAULT_VOCAB
from rnnstream.evaluation.asr_eval import edit_distance
from rnnstream.errors import ConfigError, ModelError
from rnnstream.models.asr_augment import FeatureAugment, augment_frames, mel_centres
from rnnstream.models.asr_data import Utterances, cmvn_stats, concat_utterances, length_batches, load_utterances
from rnnstream.models.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from rnnstream.models.export import check_streaming_parity, export_model
from rnnstream.models.network import RNNConfig, StreamingRNN
from rnnstream.models.onnx_import import load_exported
from rnnstream.operators.asr_frontend import FRONTEND_DEFAULTS, AsrFrontend

__all__ = ["AsrTrainConfig", "train_asr", "greedy_cer"]

log = logging.getLogger(__name__)


class AsrTrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    corpus: list[Path] = Field(min_length=1, description="corpus directories or JSON-lines manifests, trained on "
                               "together; list one twice to weight it up")
    dev: Path | None = Field(None, description="a manifest or corpus held out for validation and early stopping; "
                             "without it a random val_fraction of the training utterances is held out")
    init: Path | None = Field(None, description="fine-tune from a checkpoint directory or an exported .onnx model")
    out: Path = Path("asr.onnx")
    checkpoint_dir: Path = Path("runs/asr")
    cell: Literal["rnn", "lstm", "gru"] = "gru"
    layers: int = Field(2, ge=1)
    hidden: int = Field(320, ge=8)
    proj: int = Field(256, ge=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    stack: int = Field(2, ge=1)
    epochs: int = Field(30, ge=1)
    batch_frames: int = Field(12000, ge=100, description="padded log-mel frames per batch")
    lr: float = Field(2e-3, gt=0)
    clip: float = Field(5.0, gt=0)
    seed: int = 0
    val_fraction: float = Field(0.05, ge=0, lt=0.5)
    patience: int = Field(4, ge=1, description="epochs without validation improvement before stopping")
    checkpoint_every: int = Field(200, ge=1, description="optimiser steps between checkpoints")
    max_steps: int | None = Field(None, description="stop after this many steps (tests, time boxes)")
    max_minutes: float | None = Field(None, gt=0, description="stop after this long; a checkpoint is kept")
    threads: int = Field(2, ge=1)
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when torch sees a GPU")
    augment: FeatureAugment = FeatureAugment()

    @field_validator("corpus", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return [v] if isinstance(v, (str, Path)) else v


def _digest(cfg: AsrTrainConfig) -> str:
    import hashlib
    import json

    keep = cfg.model_dump(mode="json", exclude={"out", "checkpoint_dir", "epochs", "max_steps", "max_minutes",
                                                "threads", "patience", "checkpoint_every", "device"})
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def _mel_centres(fe: AsrFrontend) -> np.ndarray:
    c = fe.mel.config
    return mel_centres(c.sample_rate, c.n_mels, c.fmin, c.sample_rate / 2 if c.fmax is None else c.fmax)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when torch sees a GPU; asking for ``cuda`` without one is a config error."""
    gpu = torch.cuda.is_available()
    if name == "cuda" and not gpu:
        raise ConfigError("device: cuda was asked for, but torch sees no GPU")
    return torch.device("cuda" if gpu and name != "cpu" else "cpu")


def _batch(utts: Utterances, idx: np.ndarray, fe: AsrFrontend, rng, augment: FeatureAugment | None,
           centres: np.ndarray):
    xs, ys = [], []
    for i in idx.tolist():
        f = utts.frames(i)
        if augment is not None:
            f = augment_frames(f, rng, augment, centres, fe.mean)
        xs.append(fe.model_input(f))
        ys.append(utts.labels[i])
    t = max(len(x) for x in xs)
    x = np.zeros((len(xs), t, fe.dim), np.float32)
    for b, v in enumerate(xs):
        x[b, : len(v)] = v
    lens = torch.tensor([len(v) for v in xs])
    return torch.from_numpy(x), lens, torch.from_numpy(np.concatenate(ys)), torch.tensor([len(y) for y in ys])


def greedy_cer(net: StreamingRNN, utts: Utterances, fe: AsrFrontend, limit: int = 200) -> float:
    """Character error rate of greedy decoding on (up to ``limit``) utterances."""
    errors = total = 0
    device = next(net.parameters()).device
    net.eval()
    with torch.no_grad():
        for i in range(min(limit, len(utts))):
            y, _ = net(torch.from_numpy(fe.model_input(utts.frames(i)))[None].to(device))
            best = y[0].argmax(-1).cpu().numpy()
            hyp = DEFAULT_VOCAB.collapse(best)
            errors += edit_distance(hyp.tolist(), utts.labels[i].tolist())
            total += len(utts.labels[i])
    net.train()
    return errors / max(1, total)


def train_asr(cfg: AsrTrainConfig, *, resume: bool = False, progress: bool = True) -> dict:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    rng = np.random.default_rng(cfg.seed)
    # Read before the corpus features, so a bad --init fails at once.
    exported = _load_exported(cfg.init) if cfg.init is not None and cfg.init.suffix == ".onnx" else None
    raw_fe = AsrFrontend({**FRONTEND_DEFAULTS, "stack": cfg.stack})
    utts = concat_utterances([load_utterances(c, raw_fe) for c in cfg.corpus])
    # An exported model's input normalisation is part of it: a fine-tune keeps it, so the weights
    # see inputs scaled as they were trained on, whatever the new corpus's levels.
    mean, std = exported[1:] if exported is not None else cmvn_stats(utts)
    fe = AsrFrontend({**FRONTEND_DEFAULTS, "stack": cfg.stack, "mean": mean, "std": std})
    perm = rng.permutation(len(utts))
    if cfg.dev is not None:
        val, train = load_utterances(cfg.dev, raw_fe), utts
    else:
        n_val = max(1, int(len(utts) * cfg.val_fraction)) if cfg.val_fraction else 0
        val, train = utts.subset(perm[:n_val]), utts.subset(perm[n_val:])
    net = StreamingRNN(RNNConfig(cell=cfg.cell, input_size=fe.dim, hidden_size=cfg.hidden, num_layers=cfg.layers,
                                 output_size=len(DEFAULT_VOCAB), dropout=cfg.dropout, proj_size=cfg.proj))
    if exported is not None:
        _copy_exported(net, exported[0], cfg.init)
    elif cfg.init is not None:
        _load_init(net, cfg.init)
    net.to(device)
    log.info("training on %s", device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    ctc = torch.nn.CTCLoss(blank=DEFAULT_VOCAB.blank, zero_infinity=True)
    digest = _digest(cfg)
    st = {"step": 0, "epoch": 0, "history": [], "best": math.inf, "best_state": None, "bad_epochs": 0}
    ckpt = load_checkpoint(cfg.checkpoint_dir, digest=digest) if resume else None
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optim"])
        torch.set_rng_state(ckpt["torch_rng"])
        st = ckpt["train_state"]
        log.info("resumed at epoch %d step %d", st["epoch"], st["step"])
    centres = _mel_centres(fe)  # once: every augmented batch warps against the same filter centres
    started = time.monotonic()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc="train asr", unit="step", dynamic_ncols=True)
    stop = False
    while st["epoch"] < cfg.epochs and not stop:
        # Batches and augmentation derive from (seed, epoch, batch), so a resumed run replays
        # exactly the batches an uninterrupted one would have seen.
        batches = length_batches(train.n_frames, cfg.batch_frames, np.random.default_rng([cfg.seed, st["epoch"]]))
        losses = st.setdefault("epoch_losses", [])
        for bi in range(st.get("batch", 0), len(batches)):
            brng = np.random.default_rng([cfg.seed, st["epoch"], bi])
            x, xl, y, yl = _batch(train, batches[bi], fe, brng, augment=cfg.augment, centres=centres)
            logp = torch.log_softmax(net(x.to(device))[0], -1).transpose(0, 1)
            loss = ctc(logp, y.to(device), xl, yl)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
            opt.step()
            st["step"] += 1
            st["batch"] = bi + 1
            losses.append(float(loss.detach()))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=st["epoch"], loss=f"{np.mean(losses[-20:]):.3f}")
            if st["step"] % cfg.checkpoint_every == 0:
                _save(cfg, digest, net, opt, st)
            out_of_time = cfg.max_minutes is not None and time.monotonic() - started > 60 * cfg.max_minutes
            if (cfg.max_steps is not None and st["step"] >= cfg.max_steps) or out_of_time:
                stop = True
                break
        if stop and st["batch"] < len(batches):
            break
        cer = greedy_cer(net, val, fe) if len(val) else float("nan")
        st["history"].append({"step": st["step"], "train_loss": float(np.mean(losses)) if losses else None,
                              "val_loss": cer, "lr": cfg.lr})
        log.info("epoch %d: loss %.3f, validation CER %.3f", st["epoch"], st["history"][-1]["train_loss"] or 0, cer)
        if cer < st["best"]:
            st["best"], st["bad_epochs"] = cer, 0
            st["best_state"] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        else:
            st["bad_epochs"] += 1
            for g in opt.param_groups:  # plateau: halve the learning rate
                g["lr"] *= 0.5
        st["epoch"] += 1
        st["batch"], st["epoch_losses"] = 0, []
        _save(cfg, digest, net, opt, st)
        if st["bad_epochs"] >= cfg.patience:
            break
    if bar is not None:
        bar.close()
    if st["best_state"] is not None:
        net.load_state_dict(st["best_state"])
    return _finish(cfg, net.cpu().eval(), fe, st, len(train), time.monotonic() - started)


def _load_exported(path: Path) -> tuple[StreamingRNN, np.ndarray, np.ndarray]:
    """An exported model's network and its feature mean/std, read once for ``init``."""
    try:
        net, manifest = load_exported(path)
    except (ModelError, ConfigError) as exc:
        raise ConfigError(f"init: {exc}") from None
    f = manifest.features
    if "mean" not in f or "std" not in f:
        raise ConfigError(f"init: {path} records no feature mean/std; is it an asr model?")
    return net, np.asarray(f["mean"], np.float32), np.asarray(f["std"], np.float32)


def _copy_exported(net: StreamingRNN, src: StreamingRNN, path: Path) -> None:
    """Copy an exported model's weights; every architecture field but dropout must match."""
    have, want = src.config.to_dict(), net.config.to_dict()
    diff = [f"{k} {have[k]} != {want[k]}" for k in want if k != "dropout" and have[k] != want[k]]
    if diff:
        raise ConfigError(f"init: {path} does not fit this architecture: {', '.join(diff)}")
    net.load_state_dict(src.state_dict())
    log.info("initialised from %s", path)


def _load_init(net: StreamingRNN, directory: Path) -> None:
    """Copy another run's best (else last) weights; the architectures must match."""
    path = checkpoint_path(directory)
    if not path.is_file():
        raise ConfigError(f"init: no checkpoint at {path}")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    weights = payload.get("train_state", {}).get("best_state") or payload.get("model")
    try:
        net.load_state_dict(weights)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"init: {path} does not fit this architecture: {str(exc).splitlines()[0]}") from None
    log.info("initialised from %s", path)


def _save(cfg: AsrTrainConfig, digest: str, net, opt, st: dict) -> None:
    save_checkpoint(cfg.checkpoint_dir, {"digest": digest, "model": net.state_dict(), "optim": opt.state_dict(),
                                         "train_state": st, "torch_rng": torch.get_rng_state()})


def _finish(cfg: AsrTrainConfig, net: StreamingRNN, fe: AsrFrontend, st: dict, n_train: int, seconds: float) -> dict:
    from rnnstream.models.plots import plot_loss_curves

    out = Path(cfg.out)
    features = {**fe.spec(), "vocab": list(DEFAULT_VOCAB.symbols), "blank": DEFAULT_VOCAB.blank}
    training = {"corpus": [str(c) for c in cfg.corpus], "utterances": n_train, "steps": st["step"],
                "epochs": st["epoch"],
                "best_val_cer": st["best"], "seconds": round(seconds, 1), "config": cfg.model_dump(mode="json")}
    export_model(net, out, name=out.stem, task="asr", features=features, training=training)
    err = check_streaming_parity(net, out)
    if st["history"]:
        plot_loss_curves(st["history"], out.with_suffix(".loss.png"), title="ASR training",
                         ylabel="train: CTC loss / validation: greedy CER")
    return {"out": str(out), "steps": st["step"], "best_val_cer": st["best"], "parity_err": err}
