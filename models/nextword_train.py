"""``rnnstream train nextword``: a word-level GRU language model for the ``nextword`` operator.

The vocabulary is the ``vocab_size`` most frequent words of the training text (with
``<unk>`` and ``</s>``), stored in the manifest so the operator tokenizes exactly as
training did (:mod:`rnnstream.text.tokens`). Training reads the text as lanes of one long
stream with the state carried across windows, as a long-lived key reads its text.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnstream.errors import ConfigError
from rnnstream.models.token_export import check_token_parity, export_token_model
from rnnstream.models.token_trainer import TokenData, TokenTrainConfig, train_tokens
from rnnstream.text.tokens import Vocabulary, tokenize

__all__ = ["NextwordJob", "train_nextword", "read_tokens"]

BLOCK_LINES = 20_000  # lines tokenized per Arrow call


def read_tokens(path: str | Path, *, max_tokens: int | None = None):
    """The file's tokens as one pyarrow string array (lines in order)."""
    import pyarrow as pa

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"text: cannot read {path}: {exc}") from None
    parts, total = [], 0
    for lo in range(0, len(lines), BLOCK_LINES):
        flat, _ = tokenize(lines[lo : lo + BLOCK_LINES])
        parts.append(flat)
        total += len(flat)
        if max_tokens is not None and total >= max_tokens:
            break
    tokens = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
    return tokens if max_tokens is None else tokens[:max_tokens]


@dataclass(frozen=True)
class NextwordJob:
    train: Path
    dev: Path
    out: Path
    name: str = "nextword"
    vocab_size: int = 5000
    top_k: int = 5
    checkpoint_dir: Path | None = None


def train_nextword(job: NextwordJob, cfg: TokenTrainConfig, *, resume: bool = False, progress=None) -> dict:
    """Train, export and check the streaming graph; returns the figures."""
    train_tok = read_tokens(job.train)
    vocab = Vocabulary.build(train_tok, max_size=job.vocab_size)
    train_ids, dev_ids = vocab.encode(train_tok), vocab.encode(read_tokens(job.dev, max_tokens=100_000))
    data = TokenData.stream(len(vocab), train_ids, dev_ids, ident=f"{Path(job.train).name}:{len(train_ids)}:"
                            f"{len(vocab)}")
    run = train_tokens(cfg, data, checkpoint_dir=str(job.checkpoint_dir) if job.checkpoint_dir else None,
                       resume=resume, progress=progress)
    training = {"command": shlex.join(["rnnstream", *sys.argv[1:]]) if sys.argv else "", "steps": run.step,
                "stopped": run.done, "seconds": round(run.seconds, 1), "val_nll": run.best[0] if run.best else None,
                "train_tokens": int(train_ids.size), "unk_rate": float(np.mean(train_ids == 0)),
                "data": str(job.train), "config": cfg.model_dump(), "history": run.history}
    manifest = export_token_model(run.net, job.out, name=job.name, task="nextword", top_k=job.top_k,
                                  features={"vocabulary": vocab.to_list()}, training=training)
    parity = check_token_parity(run.net, job.out)
    return {"out": str(job.out), "sha256": manifest.sha256, "steps": run.step, "val_nll": training["val_nll"],
            "val_perplexity": float(np.exp(training["val_nll"])) if training["val_nll"] else None,
            "parity": parity, "vocab": len(vocab), "train_tokens": int(train_ids.size)}
