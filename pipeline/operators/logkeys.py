"""Log anomaly detection per key, as DeepLog does: an LSTM over log template ids.

Raw lines become template ids (:class:`~rnnstream.text.templates.TemplateBook`: the model's
known templates, then Drain mining for anything new). For each event the key's LSTM says
how probable the observed template was given that key's history (``p``; ``rank`` 0 means it
was the most expected one), which templates
it expected (``expected``, most probable first) and flags the event (``anomaly``) when the
observed template is outside its ``top_g``. A template the model never saw is an anomaly,
never an error. When a key's stream ends (an END record: a session closes), the model is
asked whether it expected the session to end there; DeepLog's data shows that truncated
sessions are most of HDFS's anomalies.
"""

from __future__ import annotations

import numpy as np

from rnnstream.engine.records import DATA
from rnnstream.engine.session import Session
from rnnstream.engine.state import State, StateSpec
from rnnstream.errors import ModelError
from rnnstream.operators.base import Operator, TextSteps
from rnnstream.operators.tokens import TokenModel
from rnnstream.text.templates import TemplateBook

__all__ = ["LogkeysOperator"]

END_TEXT = "<end of session>"


class LogkeysOperator(Operator):
    """Outputs ``template``, ``template_text``, ``p``, ``rank``, ``expected`` and ``anomaly``."""

    alert_outputs = ("anomaly",)

    def __init__(self, session: Session, *, name: str = "logkeys", top_g: int | None = None,
                 top_k: int | None = None, content_pattern: str | None = None, score_end: bool = True) -> None:
        self.name = name
        self.session = session
        self.model = TokenModel(session, "logkeys")
        f = session.manifest.features
        try:
            self.end_id = int(f["end_id"])
            self.top_g = int(top_g if top_g is not None else f["top_g"])
            templates = list(f["templates"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model {session.manifest.name}: logkeys features lack {exc}") from None
        self.top_k = min(int(top_k if top_k is not None else self.model.top_k), self.model.top_k)
        self.score_end = score_end
        self.book = TemplateBook(templates, first_mined_id=self.model.vocab,
                                 content_pattern=content_pattern if content_pattern is not None
                                 else f.get("content_pattern"))
        self.spec = StateSpec(session.state_spec.tensors, ())
        self.value_shape = (1,)

    # -- text in ------------------------------------------------------------------------------
    def text_steps(self, text: np.ndarray, kind: np.ndarray) -> TextSteps:
        ids = np.zeros(len(text), np.int64)
        data = np.flatnonzero(kind == DATA)
        if data.size:
            ids[data] = self.book.ids(text[data])
        rows = np.arange(len(text))
        return TextSteps(ids.astype(np.float32)[:, None], rows, rows)

    def text_outputs(self, outputs: dict[str, np.ndarray], steps: TextSteps) -> dict[str, np.ndarray]:
        return outputs  # one step per event

    # -- steps --------------------------------------------------------------------------------
    def _score(self, tid: np.ndarray, state: State, text: np.ndarray) -> tuple[dict[str, np.ndarray], State]:
        known = (tid > 0) & (tid < self.model.vocab)
        out, new = self.model.step(tid, state)
        rank = np.where(known, out["rank"], float(self.model.vocab))
        return {
            "template": tid,
            "template_text": text,
            "p": np.where(known, np.exp(out["logp"]), 0.0).astype(np.float32),
            "rank": rank.astype(np.int64),
            "expected": out["top_ids"][:, : self.top_k],
            "anomaly": rank >= self.top_g,
        }, new

    def step_many(self, values: np.ndarray, state: State) -> tuple[dict[str, np.ndarray], State]:
        tid = values[:, 0].astype(np.int64)
        return self._score(tid, state, self.book.text_of(tid))

    def finish(self, state: State) -> dict[str, np.ndarray] | None:
        """Was the end of the session expected? (Outputs for END rows.)"""
        n = next(iter(state.values())).shape[0]
        if not self.score_end or n == 0:
            return None
        out, _ = self._score(np.full(n, self.end_id, np.int64), state, np.full(n, END_TEXT, object))
        return out

    # -- mined templates (shared by every key) ------------------------------------------------
    def dump_shared(self) -> bytes:
        return self.book.dump()

    def load_shared(self, data: bytes) -> None:
        self.book.load(data)
