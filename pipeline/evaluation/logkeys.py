"""The HDFS log-key benchmark: sessions of template ids, scored by the logkeys operator.

Each session is one key. Its template ids go through the operator's own step path (the
scheduler, batched across sessions, the exported model), then an END record asks whether
the session was expected to end there. A session is flagged when any of its events (or its
end) falls outside the model's ``top_g``. Sessions come in DeepLog's layout (one session per
line, space-separated ids) or logdeep's CSV (``Sequence,label``).

>>> parse_sessions(["5 5 22 11", "", "9 26"])
[[5, 5, 22, 11], [9, 26]]
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from rnnstream.engine.records import DATA, END
from rnnstream.engine.scheduler import Scheduler
from rnnstream.errors import ConfigError
from rnnstream.operators.logkeys import LogkeysOperator

__all__ = ["parse_sessions", "read_sessions", "read_labelled", "session_ranks", "scores_at", "choose_top_g",
           "transition_baseline"]


def parse_sessions(lines) -> list[list[int]]:
    return [[int(t) for t in line.split()] for line in lines if line.strip()]


def read_sessions(path: str | Path) -> list[list[int]]:
    """DeepLog's layout: one session per line."""
    try:
        return parse_sessions(Path(path).read_text().splitlines())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"sessions: cannot read {path}: {exc}") from None


def read_labelled(path: str | Path) -> tuple[list[list[int]], np.ndarray]:
    """logdeep's CSV (``Sequence,label``; 1 = abnormal): sessions and labels."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return parse_sessions(r["Sequence"] for r in rows), np.array([int(r["label"]) for r in rows])
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"labelled sessions: cannot read {path}: {exc}") from None


def session_ranks(op: LogkeysOperator, sessions: list[list[int]], *, chunk: int = 4096) -> np.ndarray:
    """Per session, the worst rank its events (and its end) had under the model's predictions."""
    worst = np.zeros(len(sessions), np.float64)
    for lo in range(0, len(sessions), chunk):
        part = sessions[lo : lo + chunk]
        lens = np.array([len(s) + 1 for s in part])
        keys = np.repeat(np.arange(len(part)), lens)
        kind = np.full(keys.size, DATA, np.int8)
        kind[np.cumsum(lens) - 1] = END
        ids = np.concatenate([np.r_[np.asarray(s, np.float64), 0.0] for s in part]).astype(np.float32)
        outputs, emitted = Scheduler(op, max_batch=4096).process(keys, np.zeros(keys.size), ids[:, None], kind)
        ranks = np.where(emitted, outputs["rank"], 0).astype(np.float64)
        worst[lo : lo + len(part)] = np.maximum.reduceat(ranks, np.r_[0, np.cumsum(lens)[:-1]])
    return worst


def scores_at(worst: np.ndarray, labels: np.ndarray, g: int) -> dict[str, float]:
    """Precision, recall and F1 when sessions whose worst rank is ``>= g`` are flagged."""
    flagged = worst >= g
    tp = int((flagged & (labels == 1)).sum())
    fp = int((flagged & (labels == 0)).sum())
    fn = int((~flagged & (labels == 1)).sum())
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {"g": g, "precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn,
            "sessions": int(labels.size)}


def choose_top_g(worst: np.ndarray, labels: np.ndarray, *, vocab: int) -> dict[str, float]:
    """The ``g`` with the best F1 on a validation split (ties: the larger g, fewer alerts)."""
    table = [scores_at(worst, labels, g) for g in range(1, vocab)]
    return max(table, key=lambda r: (round(r["f1"], 6), r["g"]))


def transition_baseline(train: list[list[int]], sessions: list[list[int]]) -> np.ndarray:
    """A peer with no model: flag a session holding a transition (start and end included) that no
    training session had. Returns 1.0 for flagged sessions, 0.0 otherwise (``scores_at(.., g=1)``).

    >>> transition_baseline([[1, 2, 3]], [[1, 2, 3], [1, 3], [1, 2]]).tolist()
    [0.0, 1.0, 1.0]
    """
    def pairs(s):
        seq = [-1, *s, -2]  # start and end markers
        return set(zip(seq, seq[1:]))

    seen = set().union(*(pairs(s) for s in train)) if train else set()
    return np.array([0.0 if pairs(s) <= seen else 1.0 for s in sessions])
