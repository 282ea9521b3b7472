"""The shared step of the text operators: a token language model run across keys.

The model (see ``rnnstream.models.token_network``) takes the token that just arrived and
returns how probable it was under the key's previous prediction (``logp``, ``rank``) plus
the ``top_ids`` expected next; the key's recurrent state is all that lives in the slabs.
"""

from __future__ import annotations

import numpy as np

from rnnstream.engine.session import Session
from rnnstream.engine.state import State
from rnnstream.errors import ModelError

__all__ = ["TokenModel", "TOKEN_OUTPUTS"]

TOKEN_OUTPUTS = ("logp", "rank", "top_logp", "top_ids")


class TokenModel:
    """Checks a token model's graph against its manifest and runs one token per key."""

    def __init__(self, session: Session, task: str) -> None:
        m = session.manifest
        names = [o.name for o in m.data_outputs]
        if m.task != task or names != list(TOKEN_OUTPUTS):
            raise ModelError(f"model {m.name}: not a {task} token model (task {m.task}, outputs {names})")
        try:
            self.vocab = int(m.model["vocab"])
            self.top_k = int(m.model["top_k"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model {m.name}: manifest lacks {exc}") from None
        self.session = session

    def step(self, ids: np.ndarray, state: State) -> tuple[dict[str, np.ndarray], State]:
        """Advance each row by token ``ids[i]`` (ids outside the vocabulary read as 0)."""
        ids = np.where((ids >= 0) & (ids < self.vocab), ids, 0)
        out, new = self.session.run(ids.astype(np.float32).reshape(-1, 1, 1), state)
        return {"logp": out["logp"][:, 0], "rank": out["rank"][:, 0], "top_logp": out["top_logp"],
                "top_ids": out["top_ids"].astype(np.int64)}, new
