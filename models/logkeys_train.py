"""``rnnstream train logkeys``: DeepLog's LSTM over log template ids, exported as ``logkeys``.

Trains on normal sessions only (DeepLog's layout: one session per line, template ids), each
followed by an end-of-session token so the model learns where sessions may end. Then the
exported operator scores a labelled validation split (logdeep's CSV) and ``top_g`` is the g
with the best F1 there; the test split is never seen. The known templates (loghub's
``EventId,EventTemplate`` CSV) go into the manifest, so the shipped model reads raw lines.
"""

from __future__ import annotations

import csv
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnstream.engine.manifest import manifest_path_for
from rnnstream.errors import ConfigError
from rnnstream.models.token_export import check_token_parity, export_token_model
from rnnstream.models.token_trainer import TokenData, TokenTrainConfig, train_tokens

__all__ = ["LogkeysJob", "train_logkeys", "read_templates", "HDFS_CONTENT"]

HDFS_CONTENT = r"^\d{6} \d{6} \d+ \w+ [^:]+: (?P<content>.*)$"
"""HDFS's line header (date, time, pid, level, component) before the message."""


def read_templates(path: str | Path) -> list[dict]:
    """loghub's templates CSV: ``E5,<*>Receiving block<*>...`` -> ``{"id": 5, "template": ...}``."""
    try:
        with open(path, newline="") as f:
            return [{"id": int(r["EventId"].lstrip("E")), "template": r["EventTemplate"]} for r in csv.DictReader(f)]
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"templates: cannot read {path}: {exc}") from None


@dataclass(frozen=True)
class LogkeysJob:
    sessions: Path
    templates: Path
    valid: Path
    out: Path
    name: str = "logkeys"
    content_pattern: str | None = HDFS_CONTENT
    top_k: int = 9
    checkpoint_dir: Path | None = None


def train_logkeys(job: LogkeysJob, cfg: TokenTrainConfig, *, resume: bool = False, progress=None) -> dict:
    """Train, export, choose ``top_g`` on the validation split; returns the figures."""
    from rnnstream.engine.session import load_session
    from rnnstream.evaluation.logkeys import choose_top_g, read_labelled, read_sessions, session_ranks
    from rnnstream.operators.logkeys import LogkeysOperator

    templates = read_templates(job.templates)
    sessions = read_sessions(job.sessions)
    end_id = max([t["id"] for t in templates] + [max(map(max, sessions))]) + 1
    vocab = end_id + 1  # 0 = a template the model does not know; end_id = end of session
    seqs = [np.array(s + [end_id]) for s in sessions]
    order = np.random.default_rng(cfg.seed).permutation(len(seqs))
    n_val = max(1, len(seqs) // 10)  # early stopping on held-out normal sessions
    data = TokenData.sessions(vocab, [seqs[i] for i in order[n_val:]], [seqs[i] for i in order[:n_val]],
                              ident=f"{Path(job.sessions).name}:{len(seqs)}")
    run = train_tokens(cfg, data, checkpoint_dir=str(job.checkpoint_dir) if job.checkpoint_dir else None,
                       resume=resume, progress=progress)
    features = {"end_id": end_id, "top_g": job.top_k, "templates": templates,
                "content_pattern": job.content_pattern}
    training = {"command": shlex.join(["rnnstream", *sys.argv[1:]]) if sys.argv else "", "steps": run.step,
                "stopped": run.done, "seconds": round(run.seconds, 1), "val_nll": run.best[0] if run.best else None,
                "sessions": len(seqs), "data": str(job.sessions), "config": cfg.model_dump(),
                "history": run.history}
    manifest = export_token_model(run.net, job.out, name=job.name, task="logkeys", top_k=job.top_k,
                                  features=features, training=training)
    parity = check_token_parity(run.net, job.out)
    valid, labels = read_labelled(job.valid)
    worst = session_ranks(LogkeysOperator(load_session(job.out, provider="cpu")), valid)
    best = choose_top_g(worst, labels, vocab=vocab)
    features["top_g"] = int(best["g"])
    training["top_g_choice"] = {"split": str(job.valid), **best}
    # The graph does not depend on top_g: only the manifest beside it is rewritten.
    manifest = manifest.model_copy(update={"features": features, "training": training})
    manifest.write(manifest_path_for(Path(job.out)))
    return {"out": str(job.out), "sha256": manifest.sha256, "steps": run.step, "val_nll": training["val_nll"],
            "parity": parity, "top_g": features["top_g"], "valid": best}
