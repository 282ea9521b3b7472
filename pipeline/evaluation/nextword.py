"""Next-word prediction on held-out text: the ``nextword`` operator beside a word n-gram.

The text is cut into ``lanes`` contiguous streams, one key each, and read through the
operator's own step path (the scheduler, batched across keys, the exported model), one
word per event. At each word the model's top-k from the previous word is checked, and its
surprisal gives the perplexity. The baseline (:mod:`rnnstream.evaluation.ngram`) learns from
the training text with the *model's* vocabulary and reads the same lanes, so both are
scored on exactly the same targets: ``<unk>`` targets are misses for top-k, and count in
perplexity at the probability of "some unknown word".
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rnnstream.engine.records import DATA
from rnnstream.engine.scheduler import Scheduler
from rnnstream.evaluation.ngram import NgramModel, evaluate
from rnnstream.operators.nextword import NextwordOperator

__all__ = ["score_model", "compare_nextword"]


def score_model(op: NextwordOperator, lanes: list[np.ndarray]) -> dict:
    """Top-1, top-3 and perplexity of the operator over lanes of word ids (one key each)."""
    n = min(len(lane) for lane in lanes)
    ids = np.stack([lane[:n] for lane in lanes], axis=1).reshape(-1)  # round-robin: one word per key per round
    keys = np.tile(np.arange(len(lanes)), n)
    t0 = time.perf_counter()
    out, _ = Scheduler(op, max_batch=len(lanes)).process(keys, np.zeros(ids.size), ids[:, None].astype(np.float32),
                                                         np.full(ids.size, DATA, np.int8))
    seconds = time.perf_counter() - t0
    words = op.vocab.decode(ids).reshape(n, len(lanes))
    nxt = out["next"].reshape(n, len(lanes), -1)
    target = ids.reshape(n, len(lanes))
    known = target[1:] != 0
    hits = (nxt[:-1] == words[1:, :, None]) & known[..., None]
    total = target.size  # a lane's first word has no prediction before it: a miss
    bits = out["surprisal"].astype(np.float64)
    return {"name": f"{op.describe()['model']} (GRU)", "top1": float(hits[..., :1].any(-1).sum() / total),
            "top3": float(hits[..., :3].any(-1).sum() / total), "perplexity": float(2 ** bits.mean()),
            "tokens": int(total), "words_per_s": round(ids.size / seconds)}


def compare_nextword(model: str, text: str | Path, train: str | Path, *, order: int = 3, lanes: int = 16,
                     max_words: int = 200_000) -> dict:
    """The model and an ``order``-gram trained on ``train``, on the same lanes of ``text``."""
    from rnnstream.engine.session import load_session
    from rnnstream.models.nextword_train import read_tokens
    from rnnstream.runtime.build import resolve_model

    op = NextwordOperator(load_session(resolve_model(model), provider="cpu"), top_k=3)
    held = op.vocab.encode(read_tokens(text, max_tokens=max_words))
    per = len(held) // lanes
    streams = [held[i * per : (i + 1) * per] for i in range(lanes)]
    ngram = NgramModel.train(op.vocab.encode(read_tokens(train)), vocab_size=len(op.vocab), order=order)
    parts = [evaluate(ngram, s) for s in streams]
    tokens = sum(p["tokens"] for p in parts)
    base = {"name": f"{order}-gram Kneser-Ney", "tokens": tokens,
            "top1": sum(p["top1"] * p["tokens"] for p in parts) / tokens,
            "top3": sum(p["top3"] * p["tokens"] for p in parts) / tokens,
            "perplexity": float(np.exp(sum(np.log(p["perplexity"]) * p["tokens"] for p in parts) / tokens))}
    mine = score_model(op, streams)
    return {"tokens": mine["tokens"], "oov": float(np.mean(held == 0)), "rows": [mine, base],
            "text": str(text), "train": str(train)}
