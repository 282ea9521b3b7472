"""Explicit per-key state: tensor specs with a declared batch axis, and batched stacks.

A model's recurrent state is a small set of tensors (``h`` for GRU/RNN, ``h`` and ``c`` for
LSTM). Each tensor declares which axis is the batch axis, so any number of independent
streams can be stacked into one batch and split apart again without the caller knowing
the model's layout.

>>> import numpy as np
>>> spec = StateSpec((TensorSpec("h_in", "h_out", (2, 0, 4), batch_axis=1),))
>>> a, b = spec.zeros(1), spec.zeros(1)
>>> a["h_in"] += 1.0
>>> batch = spec.stack([a, b])
>>> batch["h_in"].shape
(2, 2, 4)
>>> [float(s["h_in"].sum()) for s in spec.unstack(batch)]
[8.0, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnstream.errors import ModelError

__all__ = ["TensorSpec", "ExtraSpec", "StateSpec", "State"]

State = dict[str, np.ndarray]
"""A batch of states: tensor name -> array laid out as the model expects (batch axis included)."""


@dataclass(frozen=True)
class TensorSpec:
    """One recurrent state tensor as the ONNX graph sees it.

    ``shape`` is the full shape with the batch axis included; its entry at ``batch_axis``
    is ignored (it is the dynamic batch size).
    """

    name: str
    output: str
    shape: tuple[int, ...]
    batch_axis: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not 0 <= self.batch_axis < len(self.shape):
            raise ModelError(
                f"state tensor {self.name!r}: batch_axis {self.batch_axis} is outside shape {self.shape}"
            )

    @property
    def per_key_shape(self) -> tuple[int, ...]:
        """Shape of one key's slice, batch axis removed."""
        return self.shape[: self.batch_axis] + self.shape[self.batch_axis + 1 :]

    @property
    def per_key_bytes(self) -> int:
        return int(np.prod(self.per_key_shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def to_model(self, slot_major: np.ndarray) -> np.ndarray:
        """Slot-major ``[B, *per_key]`` to the model's layout (a view when batch_axis is 0)."""
        if self.batch_axis == 0:
            return slot_major
        return np.ascontiguousarray(np.moveaxis(slot_major, 0, self.batch_axis))

    def from_model(self, model_layout: np.ndarray) -> np.ndarray:
        """The model's layout back to slot-major ``[B, *per_key]``."""
        if self.batch_axis == 0:
            return model_layout
        return np.moveaxis(model_layout, self.batch_axis, 0)


@dataclass(frozen=True)
class ExtraSpec:
    """Per-key bookkeeping that is not fed to the model (running statistics, counters).

    Extras are always slot-major (batch axis 0) and start at ``fill``.
    """

    name: str
    shape: tuple[int, ...] = ()
    dtype: str = "float64"
    fill: float = 0.0

    @property
    def per_key_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class StateSpec:
    """Everything one operator keeps per key: model tensors plus extras."""

    tensors: tuple[TensorSpec, ...]
    extras: tuple[ExtraSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [t.name for t in self.tensors] + [e.name for e in self.extras]
        if len(set(names)) != len(names):
            raise ModelError(f"duplicate state names in {names}")

    @property
    def per_key_bytes(self) -> int:
        return sum(t.per_key_bytes for t in self.tensors) + sum(e.per_key_bytes for e in self.extras)

    def slot_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype, float]]:
        """name -> (per-key shape, dtype, initial value), for slab allocation."""
        out: dict[str, tuple[tuple[int, ...], np.dtype, float]] = {}
        for t in self.tensors:
            out[t.name] = (t.per_key_shape, np.dtype(t.dtype), 0.0)
        for e in self.extras:
            out[e.name] = (e.shape, np.dtype(e.dtype), e.fill)
        return out

    def zeros(self, n: int) -> State:
        """Fresh state for ``n`` keys, each tensor in the model's layout."""
        state: State = {}
        for t in self.tensors:
            shape = list(t.shape)
            shape[t.batch_axis] = n
            state[t.name] = np.zeros(shape, dtype=t.dtype)
        for e in self.extras:
            state[e.name] = np.full((n, *e.shape), e.fill, dtype=e.dtype)
        return state

    def _axis(self, name: str) -> int:
        for t in self.tensors:
            if t.name == name:
                return t.batch_axis
        return 0

    def stack(self, states: list[State]) -> State:
        """Join single-stream (or smaller batch) states along each tensor's batch axis."""
        if not states:
            raise ModelError("cannot stack an empty list of states")
        return {k: np.concatenate([s[k] for s in states], axis=self._axis(k)) for k in states[0]}

    def unstack(self, state: State) -> list[State]:
        """Split a batch into one state per stream (each keeps a batch axis of size 1)."""
        first = next(iter(state))
        n = state[first].shape[self._axis(first)]
        return [
            {k: np.take(v, [i], axis=self._axis(k)) for k, v in state.items()} for i in range(n)
        ]
