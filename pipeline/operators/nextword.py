"""Next-word prediction per key: a word-level GRU language model over each key's text.

Each event is a word or a chunk of text. Its words (see :mod:`rnnstream.text.tokens`) are
fed one step each, in order, so a key's state has read everything that key said; the row's
outputs are the chunk's ``surprisal`` (bits, summed over its words), its ``words`` count,
and the ``next`` words the model expects after it, with their probabilities ``next_p``.
A chunk with no word in it is read as one unknown word, so every event gets an answer.
"""

from __future__ import annotations

import math

import numpy as np

from rnnstream.engine.records import DATA
from rnnstream.engine.session import Session
from rnnstream.engine.state import State, StateSpec
from rnnstream.errors import ModelError
from rnnstream.operators.base import Operator, TextSteps
from rnnstream.operators.tokens import TokenModel
from rnnstream.text.tokens import Vocabulary, tokenize

__all__ = ["NextwordOperator"]


class NextwordOperator(Operator):
    """Outputs ``surprisal`` (bits), ``words``, ``next`` (top-k words) and ``next_p``."""

    def __init__(self, session: Session, *, name: str = "nextword", top_k: int | None = None) -> None:
        self.name = name
        self.session = session
        self.model = TokenModel(session, "nextword")
        try:
            self.vocab = Vocabulary.from_list(list(session.manifest.features["vocabulary"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model {session.manifest.name}: nextword features lack {exc}") from None
        if len(self.vocab) != self.model.vocab:
            raise ModelError(f"model {session.manifest.name}: vocabulary of {len(self.vocab)} words, "
                             f"graph of {self.model.vocab}")
        self.top_k = min(int(top_k if top_k is not None else self.model.top_k), self.model.top_k)
        self.spec = StateSpec(session.state_spec.tensors, ())
        self.value_shape = (1,)

    def text_steps(self, text: np.ndarray, kind: np.ndarray) -> TextSteps:
        n = len(text)
        counts = np.ones(n, np.int64)  # END/RESET rows and wordless chunks take one step
        data = np.flatnonzero(kind == DATA)
        ids, per_row = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if data.size:
            flat, offsets = tokenize(text[data])
            ids, per_row = self.vocab.encode(flat), np.diff(offsets)
            counts[data] = np.maximum(per_row, 1)
        last = np.cumsum(counts) - 1
        values = np.zeros(int(counts.sum()), np.float32)  # id 0, the unknown word
        if ids.size:
            worded = per_row > 0
            first_step = (last - counts + 1)[data][worded]
            first_id = np.cumsum(per_row)[worded] - per_row[worded]
            values[np.repeat(first_step - first_id, per_row[worded]) + np.arange(ids.size)] = ids
        return TextSteps(values[:, None], np.repeat(np.arange(n), counts), last)

    def text_outputs(self, outputs: dict[str, np.ndarray], steps: TextSteps) -> dict[str, np.ndarray]:
        """Each row's outputs after its last word; its surprisal summed over all its words."""
        if not outputs:
            return outputs
        first = np.r_[0, steps.last[:-1] + 1]
        out = {k: v[steps.last] for k, v in outputs.items()}
        out["surprisal"] = np.add.reduceat(outputs["surprisal"], first).astype(np.float32)
        out["words"] = (steps.last - first + 1).astype(np.int64)
        return out

    def step_many(self, values: np.ndarray, state: State) -> tuple[dict[str, np.ndarray], State]:
        out, new = self.model.step(values[:, 0].astype(np.int64), state)
        k = self.top_k
        return {
            "surprisal": (-out["logp"] / math.log(2.0)).astype(np.float32),
            "next": self.vocab.decode(out["top_ids"][:, :k].reshape(-1)).reshape(-1, k),
            "next_p": np.exp(out["top_logp"][:, :k]).astype(np.float32),
        }, new
