"""The one operator contract.

An operator holds the shared session and its settings, never per-key data: every per-key
quantity (recurrent state, running statistics) is declared in its :class:`StateSpec` and
lives in the scheduler's slab store. ``step_many`` advances a batch of distinct keys by one
event each and returns their outputs plus new state.

>>> import numpy as np
>>> class Count(Operator):
...     name = "count"
...     spec = StateSpec((), (ExtraSpec("n"),))
...     value_shape = (1,)
...     def step_many(self, values, state):
...         n = state["n"] + 1
...         return {"n": n}, {"n": n}
>>> op = Count()
>>> out, new = op.step_many(np.zeros((2, 1), np.float32), op.init_state(2))
>>> out["n"].tolist()
[1.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rnnstream.engine.session import Session
from rnnstream.engine.state import ExtraSpec, State, StateSpec

__all__ = ["Operator", "ExtraSpec", "StateSpec", "ReadsText", "SharesState", "TextSteps"]


class Operator:
    """Base class: subclasses set ``name``, ``spec`` and ``value_shape`` and implement ``step_many``."""

    name: str = "operator"
    spec: StateSpec
    value_shape: tuple[int, ...] = ()
    session: Session | None = None
    alert_outputs: tuple[str, ...] = ()
    """Boolean output fields that are alerts: the runtime counts them in ``rnnstream_anomaly_alerts_total``."""

    def init_state(self, n: int) -> State:
        """Fresh slot-major state for ``n`` keys (the slab store initialises slots the same way)."""
        out: State = {}
        for name, (shape, dtype, fill) in self.spec.slot_shapes().items():
            out[name] = np.full((n, *shape), fill, dtype=dtype)
        return out

    def reset(self, state: State, rows: np.ndarray) -> None:
        """Reset ``rows`` of a slot-major state batch in place."""
        for name, (_, _, fill) in self.spec.slot_shapes().items():
            state[name][rows] = fill

    def step_many(self, values: np.ndarray, state: State) -> tuple[dict[str, np.ndarray], State]:
        """Advance each row (one distinct key) by one event. Returns (outputs, new state)."""
        raise NotImplementedError

    def finish(self, state: State) -> dict[str, np.ndarray] | None:
        """Outputs for keys whose stream ends (END records), or None to emit nothing.

        Operators that hold back output (an open utterance) override this.
        """
        return None

    def describe(self) -> dict[str, Any]:
        """Model identity for logs and the ``model_info`` metric."""
        if self.session is None:
            return {"model": self.name, "sha256": "", "provider": "none"}
        return {
            "model": self.session.manifest.name,
            "sha256": self.session.sha256,
            "provider": self.session.provider,
        }


@dataclass(frozen=True)
class TextSteps:
    """A text batch as model steps: ``values[j]`` is step j, taken for row ``owner[j]``.

    A row may take several steps (a chunk of words); ``last[i]`` is row i's last step, whose
    outputs become the row's. Steps of one row are consecutive, so order within a key holds.
    """

    values: np.ndarray  # float32 [M, 1]: token ids
    owner: np.ndarray  # int64 [M]: the row each step belongs to
    last: np.ndarray  # int64 [N]: index of each row's last step


@runtime_checkable
class ReadsText(Protocol):
    """An operator whose input is the batch's ``text`` column, not its values."""

    def text_steps(self, text: np.ndarray, kind: np.ndarray) -> TextSteps:
        """Tokens for a batch's texts (object array of str; END/RESET rows take one step)."""
        ...

    def text_outputs(self, outputs: dict[str, np.ndarray], steps: TextSteps) -> dict[str, np.ndarray]:
        """Fold per-step outputs back into one row each (``steps.last`` picks a row's last step)."""
        ...


@runtime_checkable
class SharesState(Protocol):
    """An operator with state shared by every key (mined log templates), saved with the snapshots."""

    def dump_shared(self) -> bytes: ...

    def load_shared(self, data: bytes) -> None: ...
