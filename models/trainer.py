"""The offline trainer: sensor series in, a verified ONNX quantile model out.

Truncated BPTT with carried state: each key's training part is cut into lanes of
``segment_windows`` windows (plus a masked burn-in when a lane starts mid-series). A batch
of lanes is walked window by window; the recurrent state is carried from one window to the
next (detached, so gradients stop at the window edge) and restarts at the next batch of
lanes. The loss is the pinball loss of every quantile at every horizon, in the key's own
z-units. Validation runs each whole series from its first step and scores only targets in
its held-out tail, so it measures what the runtime would see.

Determinism: the weights, the lane order (a permutation drawn from ``(seed, epoch)``) and
dropout (torch's RNG, saved in checkpoints) depend only on the config; with the same
``threads`` count a run resumed from a checkpoint repeats the same arithmetic as one that
never stopped.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnstream.errors import ConfigError
from rnnstream.engine.manifest import Manifest
from rnnstream.models.checkpoint import load_checkpoint, save_checkpoint
from rnnstream.models.data import PreparedData, prepare_data
from rnnstream.models.export import check_streaming_parity, export_model
from rnnstream.models.network import RNNConfig, StreamingRNN
from rnnstream.models.plots import plot_loss_curves
from rnnstream.models.train_config import TrainConfig, config_digest

__all__ = ["train", "TrainResult", "pinball_loss", "prepare_data"]

log = logging.getLogger(__name__)

_LR_FLOOR = 0.05  # cosine/step schedules end at this fraction of the peak LR


@dataclass
class TrainResult:
    net: StreamingRNN
    steps: int
    best_step: int
    best_val_loss: float | None
    stopped: str  # "max_steps", "early_stop" or "interrupted"
    history: list[dict] = field(default_factory=list)
    onnx_path: Path | None = None
    manifest: Manifest | None = None
    plot_path: Path | None = None
    parity_error: float | None = None
    seconds: float = 0.0


def pinball_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Weighted mean pinball loss. ``pred`` [B,T,H,Q,D], ``target`` [B,T,H,D], ``weight`` [B,T,H].

    >>> p = torch.zeros(1, 1, 1, 2, 1); t = torch.ones(1, 1, 1, 1); w = torch.ones(1, 1, 1)
    >>> round(float(pinball_loss(p, t, w, torch.tensor([0.1, 0.9]))), 3)
    0.5
    """
    q = quantiles.view(1, 1, 1, -1, 1)
    diff = target.unsqueeze(3) - pred
    per = torch.maximum(q * diff, (q - 1.0) * diff).mean(dim=(3, 4))
    return (per * weight).sum() / weight.sum().clamp_min(1e-9)


def _lr_factor(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return 1.0
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    if cfg.lr_schedule == "cosine":
        return _LR_FLOOR + (1.0 - _LR_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return _LR_FLOOR ** (math.floor(progress * 3) / 3)  # "step": three equal drops


@contextlib.contextmanager
def _deterministic(threads: int):
    prev_threads, prev_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def _validate(net: StreamingRNN, data: PreparedData, quantiles: torch.Tensor, horizon: int) -> float | None:
    total = float(data.val_weight.sum())
    if total == 0:
        return None
    net.eval()
    acc = 0.0
    with torch.no_grad():
        for lo in range(0, data.val_z.shape[0], 16):
            sl = slice(lo, lo + 16)
            w = torch.from_numpy(data.val_weight[sl])
            if float(w.sum()) == 0:
                continue
            y, _ = net(torch.from_numpy(data.val_z[sl]))
            b, t = y.shape[:2]
            pred = y.view(b, t, horizon, quantiles.numel(), -1)
            acc += float(pinball_loss(pred, torch.from_numpy(data.val_target[sl]), w, quantiles)) * float(w.sum())
    net.train()
    return acc / total


class _Run:
    """Mutable training state; everything in it goes into a checkpoint."""

    def __init__(self, cfg: TrainConfig, data: PreparedData) -> None:
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.horizon = cfg.horizon_steps
        self.q = torch.tensor(cfg.quantiles, dtype=torch.float32)
        self.net_cfg = RNNConfig(
            cell=cfg.cell, input_size=data.value_dim + 2 * len(cfg.time_features), hidden_size=cfg.hidden,
            num_layers=cfg.layers,
            output_size=self.horizon * len(cfg.quantiles) * data.value_dim, dropout=cfg.dropout,
        )
        self.net = StreamingRNN(self.net_cfg)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: _lr_factor(cfg, s))
        self.step = 0
        self.cursor = (0, 0, 0)  # epoch, batch within epoch, window within lane
        self.carry: tuple[torch.Tensor, ...] | None = None
        self.history: list[dict] = []
        self.pending: list[float] = []  # train losses since the last evaluation
        self.curve: list[tuple[int, float]] = []  # (step, mean train loss) every few steps, for the plot
        self.best_val: float | None = None
        self.best_step = 0
        self.best_state = copy.deepcopy(self.net.state_dict())
        self.bad_evals = 0
        self.done = ""

    def state(self, digest: str) -> dict[str, Any]:
        return {
            "digest": digest, "step": self.step, "cursor": self.cursor, "carry": self.carry,
            "model": self.net.state_dict(), "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "rng": torch.get_rng_state(), "history": self.history, "pending": self.pending, "curve": self.curve,
            "best_val": self.best_val, "best_step": self.best_step, "best_state": self.best_state,
            "bad_evals": self.bad_evals, "done": self.done,
        }

    def restore(self, ck: dict[str, Any]) -> None:
        self.net.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["rng"])
        for name in ("step", "cursor", "carry", "history", "pending", "curve", "best_val", "best_step", "best_state",
                     "bad_evals", "done"):
            setattr(self, name, ck[name])
        self.cursor = tuple(self.cursor)


def _evaluate(run: _Run, data: PreparedData) -> None:
    cfg = run.cfg
    val = _validate(run.net, data, run.q, run.horizon)
    train_loss = float(np.mean(run.pending)) if run.pending else float("nan")
    run.pending = []
    run.history.append({"step": run.step, "train_loss": train_loss, "val_loss": val,
                        "lr": run.opt.param_groups[0]["lr"]})
    if val is None:
        run.best_step, run.best_state = run.step, copy.deepcopy(run.net.state_dict())
        return
    if run.best_val is None or val < run.best_val:
        run.best_val, run.best_step, run.bad_evals = val, run.step, 0
        run.best_state = copy.deepcopy(run.net.state_dict())
    else:
        run.bad_evals += 1
        if run.bad_evals >= cfg.patience:
            run.done = "early_stop"


def _train_loop(run: _Run, data: PreparedData, digest: str, stop_at_step: int | None, bar) -> None:
    cfg = run.cfg
    seg = data.segments
    n_lanes, lane_len = seg.z.shape[0], seg.z.shape[1]
    n_batches = math.ceil(n_lanes / cfg.batch_size)
    n_win = math.ceil(lane_len / cfg.window)
    ema = None
    while not run.done:
        epoch, b0, w0 = run.cursor
        order = np.random.default_rng([cfg.seed, epoch]).permutation(n_lanes)
        for b in range(b0, n_batches):
            idx = np.sort(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
            for w in range(w0 if b == b0 else 0, n_win):
                if w == 0:
                    run.carry = run.net.zero_state(idx.size)
                sl = slice(w * cfg.window, (w + 1) * cfg.window)
                x = torch.from_numpy(seg.z[idx, sl])
                tgt, wt = torch.from_numpy(seg.target[idx, sl]), torch.from_numpy(seg.weight[idx, sl])
                nxt = (epoch, b, w + 1) if w + 1 < n_win else (epoch, b + 1, 0)
                if float(wt.sum()) == 0:
                    # Nothing to learn here (padding or burn-in only): just carry the state on.
                    with torch.no_grad():
                        _, carry = run.net(x, run.carry)
                    run.carry, run.cursor = tuple(c.detach() for c in carry), nxt
                    continue
                y, carry = run.net(x, run.carry)
                pred = y.view(idx.size, x.shape[1], run.horizon, len(cfg.quantiles), -1)
                loss = pinball_loss(pred, tgt, wt, run.q)
                run.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(run.net.parameters(), cfg.clip_norm)
                run.opt.step()
                run.sched.step()
                run.carry, run.cursor = tuple(c.detach() for c in carry), nxt
                run.step += 1
                lv = float(loss.detach())
                run.pending.append(lv)
                every = max(1, cfg.eval_every // 10)
                if run.step % every == 0:
                    run.curve.append((run.step, float(np.mean(run.pending[-every:]))))
                ema = lv if ema is None else 0.95 * ema + 0.05 * lv
                if run.step % cfg.eval_every == 0 or run.step >= cfg.max_steps:
                    _evaluate(run, data)
                if run.step >= cfg.max_steps and not run.done:
                    run.done = "max_steps"
                if cfg.checkpoint_dir and (run.step % cfg.checkpoint_every == 0 or run.done):
                    save_checkpoint(cfg.checkpoint_dir, run.state(digest))
                if bar is not None:
                    last = run.history[-1]["val_loss"] if run.history else None
                    bar.update(1)
                    bar.set_postfix_str(f"loss {ema:.4f} val {last if last is None else round(last, 4)}")
                if run.done:
                    return
                if stop_at_step is not None and run.step >= stop_at_step:
                    run.done = "interrupted"  # as if killed: nothing beyond the periodic checkpoints
                    return
        run.cursor = (epoch + 1, 0, 0)


def _export(run: _Run, cfg: TrainConfig, data: PreparedData, command: str | None, seconds: float):
    out = Path(cfg.out)
    if out.suffix != ".onnx":
        raise ConfigError(f"out: must end in .onnx, got {out}")
    features: dict[str, Any] = {
        "value_dim": data.value_dim, "horizon": run.horizon, "quantiles": list(cfg.quantiles),
        "alpha_min": cfg.alpha_min,
    }
    if cfg.time_features:
        features["time_features"] = list(cfg.time_features)
    if cfg.task == "anomaly":
        from rnnstream.operators.anomaly_settings import DetectorSettings

        legacy = cfg.likelihood.model_dump(mode="json") if cfg.likelihood is not None else {}
        if legacy:
            features["likelihood"] = legacy
        # The whole detector, tuned defaults included, so the artefact describes itself.
        features["detector"] = DetectorSettings.from_features(
            {"likelihood": legacy, "detector": cfg.detector or {}}
        ).to_dict()
    training = {
        "data": data.description,
        "command": command,
        "config": cfg.model_dump(mode="json", exclude_none=True),
        "steps": run.step, "best_step": run.best_step, "best_val_loss": run.best_val, "stopped": run.done,
        "train_seconds": round(seconds, 1), "torch": torch.__version__,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
        staged = Path(tmp) / out.name
        manifest = export_model(run.net, staged, name=cfg.model_name, task=cfg.task, features=features,
                                training=training)
        err = check_streaming_parity(run.net, staged)
        for p in (staged, staged.with_suffix(".json")):
            shutil.move(str(p), str(out.parent / p.name))
    return out, manifest, err


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    stop_at_step: int | None = None,
    progress: bool = True,
    command: str | None = None,
    data: PreparedData | None = None,
) -> TrainResult:
    """Train, checkpoint, export and parity-check one model as ``cfg`` says.

    ``resume`` continues from ``cfg.checkpoint_dir``; ``stop_at_step`` stops (without
    exporting) once that many steps are done, as a kill would; ``command`` is recorded in
    the manifest as the way to reproduce the model; ``data`` skips loading (tests).
    """
    t0 = time.monotonic()
    digest = config_digest(cfg)
    with _deterministic(cfg.threads):
        data = data or prepare_data(cfg)
        run = _Run(cfg, data)
        if resume:
            if not cfg.checkpoint_dir:
                raise ConfigError("--resume needs a checkpoint_dir")
            ck = load_checkpoint(cfg.checkpoint_dir, digest=digest)
            if ck is None:
                log.warning("no checkpoint in %s; starting from scratch", cfg.checkpoint_dir)
            else:
                run.restore(ck)
                log.info("resumed from step %d", run.step)
        bar = None
        if progress and not run.done:
            from tqdm import tqdm

            bar = tqdm(total=cfg.max_steps, initial=run.step, desc=f"train {cfg.task}", file=sys.stderr,
                       dynamic_ncols=True, leave=True)
        try:
            if not run.done:
                _train_loop(run, data, digest, stop_at_step, bar)
        finally:
            if bar is not None:
                bar.close()
        if run.done != "interrupted":
            run.net.load_state_dict(run.best_state)
        run.net.eval()
    result = TrainResult(run.net, run.step, run.best_step, run.best_val, run.done, run.history)
    if run.done == "interrupted":
        return result
    plot = Path(cfg.plot) if cfg.plot else Path(cfg.out).with_name(Path(cfg.out).stem + "_loss.png")
    if run.history:
        result.plot_path = plot_loss_curves(run.history, plot, title=f"{cfg.model_name} ({cfg.cell}, h={cfg.hidden})",
                                            train_curve=run.curve)
    result.seconds = time.monotonic() - t0
    result.onnx_path, result.manifest, result.parity_error = _export(run, cfg, data, command, result.seconds)
    log.info("exported %s after %d steps (best val %.5f at step %d; parity %.1e)", result.onnx_path,
             run.step, run.best_val if run.best_val is not None else float("nan"), run.best_step,
             result.parity_error)
    return result
