"""The torch side of the model contract: one streaming recurrent network for every task.

``StreamingRNN.forward(x, state) -> (y, new_state)`` is many-to-many; many-to-one is
``y[:, -1]``. The config dataclass is the model's whole input, so a manifest that records it
can rebuild the network exactly.

>>> import torch
>>> net = StreamingRNN(RNNConfig(cell="lstm", input_size=3, hidden_size=8, output_size=2))
>>> y, state = net(torch.zeros(4, 5, 3))
>>> tuple(y.shape), tuple(state[0].shape)
((4, 5, 2), (4, 1, 8))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from rnnstream.errors import ConfigError

__all__ = ["RNNConfig", "StreamingRNN"]

Cell = Literal["rnn", "lstm", "gru"]


@dataclass(frozen=True)
class RNNConfig:
    """Everything needed to build a :class:`StreamingRNN`."""

    cell: Cell = "gru"
    input_size: int = 1
    hidden_size: int = 64
    num_layers: int = 1
    output_size: int = 1
    dropout: float = 0.0
    proj_size: int = 0  # width of the input projection; 0 means hidden_size

    def __post_init__(self) -> None:
        if self.cell not in ("rnn", "lstm", "gru"):
            raise ConfigError(f"cell: must be rnn, lstm or gru, got {self.cell!r}")
        for name in ("input_size", "hidden_size", "num_layers", "output_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout: must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("h", "c") if self.cell == "lstm" else ("h",)


class StreamingRNN(nn.Module):
    """Input projection -> stacked RNN/LSTM/GRU -> linear head.

    State is a tuple of batch-first tensors ``[B, num_layers, hidden]`` (``(h,)`` or
    ``(h, c)``), the layout the exported graph and the slab store share.
    """

    def __init__(self, config: RNNConfig) -> None:
        super().__init__()
        self.config = config
        width = config.proj_size or config.hidden_size
        self.proj = nn.Sequential(nn.Linear(config.input_size, width), nn.Tanh())
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[config.cell]
        self.rnn = rnn_cls(
            width,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.head = nn.Linear(config.hidden_size, config.output_size)

    def zero_state(self, batch: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, ...]:
        c = self.config
        return tuple(torch.zeros(batch, c.num_layers, c.hidden_size, device=device) for _ in c.state_names)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        if state is None:
            state = self.zero_state(x.shape[0], x.device)
        # nn.RNN wants [layers, B, H]; the contract is batch-first so slabs gather without copies.
        hx = tuple(s.transpose(0, 1).contiguous() for s in state)
        out, new = self.rnn(self.proj(x), hx if self.config.cell == "lstm" else hx[0])
        new = new if isinstance(new, tuple) else (new,)
        return self.head(out), tuple(s.transpose(0, 1) for s in new)
