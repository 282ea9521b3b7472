"""The plain RNN operator: a model run as is, one step or one chunk per event.

>>> RnnOperator.__mro__[1].__name__
'Operator'
"""

from __future__ import annotations

import numpy as np

from rnnstream.engine.session import Session
from rnnstream.engine.state import State
from rnnstream.operators.base import Operator

__all__ = ["RnnOperator"]


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
