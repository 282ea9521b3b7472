"""Train a :class:`TokenLM` on sessions (log keys) or on one long token stream (words).

Two data shapes, one loop:

- **sessions** (``TokenData.sessions``): each sequence starts from the zero state, as a new
  key does in the operator; a batch pads sessions to the longest and masks the padding.
- **stream** (``TokenData.stream``): the stream is cut into ``batch_size`` contiguous lanes
  read ``window`` tokens at a time with the state carried from window to window
  (truncated BPTT), as a long-lived key sees text.

Runs follow the trainer's conventions: Adam with warm-up and cosine decay, gradient
clipping, validation every ``eval_every`` steps with early stopping on the best weights, a
checkpoint every ``checkpoint_every_s`` seconds (and at every validation) that ``resume``
continues bit for bit, a progress bar and a loss history for the curve.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from rnnstream.models.checkpoint import load_checkpoint, save_checkpoint
from rnnstream.models.token_network import TokenLM, TokenLMConfig

__all__ = ["TokenTrainConfig", "TokenData", "TokenRun", "train_tokens", "sequence_nll"]


class TokenTrainConfig(BaseModel):
    """Hyper-parameters of a token-model run (the data is described by :class:`TokenData`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    cell: str = "lstm"
    embed: int = Field(32, gt=0)
    hidden: int = Field(64, gt=0)
    layers: int = Field(1, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    batch_size: int = Field(64, gt=0)
    window: int = Field(64, gt=0, description="stream data: tokens per truncated-BPTT window")
    lr: float = Field(3e-3, gt=0)
    warmup_steps: int = Field(50, ge=0)
    clip_norm: float = Field(1.0, gt=0)
    max_steps: int = Field(2000, gt=0)
    eval_every: int = Field(100, gt=0)
    patience: int = Field(6, gt=0)
    seed: int = 0
    threads: int = Field(1, gt=0)
    checkpoint_every_s: float = Field(120.0, gt=0)

    def digest(self, data_id: str) -> str:
        blob = json.dumps({"cfg": self.model_dump(), "data": data_id}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class TokenData:
    vocab: int
    train: list[np.ndarray] | np.ndarray  # sessions: list of int arrays; stream: one int array
    val: list[np.ndarray] | np.ndarray
    kind: str = "sessions"  # or "stream"
    ident: str = ""  # what the data is, for the checkpoint's config digest

    @classmethod
    def sessions(cls, vocab, train, val, ident=""):
        return cls(vocab, [np.asarray(s, np.int64) for s in train], [np.asarray(s, np.int64) for s in val],
                   "sessions", ident)

    @classmethod
    def stream(cls, vocab, train, val, ident=""):
        return cls(vocab, np.asarray(train, np.int64), np.asarray(val, np.int64), "stream", ident)


def _pad(seqs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(len(s) for s in seqs)
    ids = np.zeros((len(seqs), t), np.int64)
    mask = np.zeros((len(seqs), t), np.float32)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = s, 1.0
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _nll(net: TokenLM, ids: torch.Tensor, mask: torch.Tensor, state=None):
    logits, new, _ = net(ids, state, return_state=True)
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids, reduction="none")
    return (nll * mask).sum() / mask.sum().clamp(min=1.0), new


def sequence_nll(net: TokenLM, data: TokenData, *, batch: int = 256) -> float:
    """Mean negative log-likelihood per token (nats) of ``data.val``, as the operator would score it."""
    net.eval()
    total = count = 0.0
    with torch.no_grad():
        if data.kind == "sessions":
            for lo in range(0, len(data.val), batch):
                ids, mask = _pad(data.val[lo : lo + batch])
                loss, _ = _nll(net, ids, mask)
                total, count = total + float(loss) * float(mask.sum()), count + float(mask.sum())
        else:  # 16 lanes, 256 tokens at a time with the state carried: bounded memory
            lane = len(data.val) // 16
            lanes, state = torch.from_numpy(data.val[: lane * 16].reshape(16, lane)), None
            for lo in range(0, lane, 256):
                ids = lanes[:, lo : lo + 256]
                loss, state = _nll(net, ids, torch.ones_like(ids, dtype=torch.float32), state)
                total, count = total + float(loss) * ids.numel(), count + ids.numel()
    net.train()
    return total / max(count, 1.0)


@dataclass
class TokenRun:
    """Everything a checkpoint holds; ``train_tokens`` returns it with the best weights loaded."""

    net: TokenLM
    opt: torch.optim.Optimizer
    step: int = 0
    cursor: tuple[int, int] = (0, 0)  # (epoch, batch) for sessions; (epoch, window) for streams
    carry: tuple | None = None
    history: list[dict] = field(default_factory=list)
    curve: list[tuple[int, float]] = field(default_factory=list)
    best: tuple[float, dict] | None = None
    since_best: int = 0
    done: str = ""
    seconds: float = 0.0

    def state(self, digest: str) -> dict:
        return {"digest": digest, "net": self.net.state_dict(), "opt": self.opt.state_dict(), "step": self.step,
                "cursor": self.cursor, "carry": self.carry, "history": self.history, "curve": self.curve,
                "best": self.best, "since_best": self.since_best, "done": self.done, "seconds": self.seconds,
                "rng": torch.get_rng_state()}

    def restore(self, ck: dict) -> None:
        self.net.load_state_dict(ck["net"])
        self.opt.load_state_dict(ck["opt"])
        for name in ("step", "cursor", "carry", "history", "curve", "best", "since_best", "done", "seconds"):
            setattr(self, name, ck[name])
        torch.set_rng_state(ck["rng"])


def _lr(cfg: TokenTrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _batches(run: TokenRun, cfg: TokenTrainConfig, data: TokenData):
    """Yield (ids, mask, carried state, next cursor) from the run's cursor on, forever."""
    while True:
        epoch, b0 = run.cursor
        if data.kind == "sessions":
            order = np.random.default_rng([cfg.seed, epoch]).permutation(len(data.train))
            n = math.ceil(len(order) / cfg.batch_size)
            for b in range(b0, n):
                ids, mask = _pad([data.train[i] for i in order[b * cfg.batch_size : (b + 1) * cfg.batch_size]])
                yield ids, mask, None, (epoch, b + 1)
        else:
            lane = len(data.train) // cfg.batch_size
            lanes = data.train[: lane * cfg.batch_size].reshape(cfg.batch_size, lane)
            n = lane // cfg.window
            for w in range(b0, n):
                ids = torch.from_numpy(np.ascontiguousarray(lanes[:, w * cfg.window : (w + 1) * cfg.window]))
                carry = None if w == 0 else run.carry
                yield ids, torch.ones_like(ids, dtype=torch.float32), carry, (epoch, w + 1)
        run.cursor = (epoch + 1, 0)


def train_tokens(cfg: TokenTrainConfig, data: TokenData, *, checkpoint_dir: str | None = None,
                 resume: bool = False, progress=None, stop_at_step: int | None = None) -> TokenRun:
    """Train (or resume) and return the run with its best weights loaded.

    ``progress(step, loss, val)`` is called after every step; ``stop_at_step`` stops as a kill
    would (tests of ``resume``).
    """
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    net = TokenLM(TokenLMConfig(vocab=data.vocab, embed=cfg.embed, hidden=cfg.hidden, layers=cfg.layers,
                                cell=cfg.cell, dropout=cfg.dropout))
    run = TokenRun(net, torch.optim.Adam(net.parameters(), lr=cfg.lr))
    digest = cfg.digest(data.ident)
    if resume and checkpoint_dir:
        ck = load_checkpoint(checkpoint_dir, digest=digest)
        if ck is not None:
            run.restore(ck)
    t_start, t_ckpt = time.monotonic() - run.seconds, time.monotonic()
    net.train()
    batches = _batches(run, cfg, data)
    while not run.done:
        ids, mask, carry, nxt = next(batches)
        for g in run.opt.param_groups:
            g["lr"] = cfg.lr * _lr(cfg, run.step)
        loss, new = _nll(net, ids, mask, carry)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip_norm)
        run.opt.step()
        run.carry = tuple(s.detach() for s in new) if data.kind == "stream" else None
        run.cursor, run.step = nxt, run.step + 1
        if run.step % max(1, cfg.eval_every // 10) == 0:
            run.curve.append((run.step, float(loss.detach())))
        val = None
        if run.step % cfg.eval_every == 0 or run.step >= cfg.max_steps:
            val = sequence_nll(net, data)
            run.history.append({"step": run.step, "train_loss": float(loss.detach()), "val_loss": val,
                                "lr": cfg.lr * _lr(cfg, run.step)})
            if run.best is None or val < run.best[0]:
                run.best = (val, {k: v.clone() for k, v in net.state_dict().items()})
                run.since_best = 0
            else:
                run.since_best += 1
                run.done = "early_stop" if run.since_best >= cfg.patience else ""
        if run.step >= cfg.max_steps and not run.done:
            run.done = "max_steps"
        run.seconds = time.monotonic() - t_start
        if checkpoint_dir and (val is not None or run.done or time.monotonic() - t_ckpt >= cfg.checkpoint_every_s):
            save_checkpoint(checkpoint_dir, run.state(digest))
            t_ckpt = time.monotonic()
        if progress is not None:
            progress(run.step, float(loss.detach()), val)
        if stop_at_step is not None and run.step >= stop_at_step and not run.done:
            return run  # as if killed: only what the checkpoints hold survives
    if run.best is not None:
        net.load_state_dict(run.best[1])
    net.eval()
    return run
