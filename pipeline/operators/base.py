"""The one operator contract, and the plain RNN operator.

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

from typing import Any

import numpy as np

from rnnstream.engine.session import Session
from rnnstream.engine.state import ExtraSpec, State, StateSpec

__all__ = ["Operator", "RnnOperator", "ExtraSpec", "StateSpec"]


class Operator:
    """Base class: subclasses set ``name``, ``spec`` and ``value_shape`` and implement ``step_many``."""

    name: str = "operator"
    spec: StateSpec
    value_shape: tuple[int, ...] = ()
    session: Session | None = None

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


class RnnOperator(Operator):
    """Runs a model as is: each event is one step ``[I]`` or a chunk ``[T, I]``; outputs ``y``.

    For a one-step event the output is the step's ``y`` (``[O]``); for a chunk it is the
    chunk's ``y`` (``[T, O]``).
    """

    def __init__(self, session: Session, *, name: str = "rnn", chunk: int = 0) -> None:
        self.name = name
        self.session = session
        self.spec = session.state_spec
        width = session.manifest.data_inputs[0].shape[-1]
        self.chunk = chunk
        self.value_shape = (chunk, int(width)) if chunk else (int(width),)

    def step_many(self, values: np.ndarray, state: State) -> tuple[dict[str, np.ndarray], State]:
        x = values[:, None, :] if not self.chunk else values
        outputs, new_state = self.session.run(np.ascontiguousarray(x, dtype=np.float32), state)
        y = outputs["y"]
        return {"y": y[:, 0] if not self.chunk else y}, new_state
