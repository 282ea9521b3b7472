"""A recurrent language model over token ids (log templates, words), and its streaming step.

Training runs whole sequences; serving runs one token per key per call. The streaming step
(:class:`TokenStep`) is what gets exported: given the token that just arrived and the key's
state it returns how probable that token was *before* it arrived (log-probability and rank
under the prediction made from the previous state) and the top-k tokens expected next, so
no per-key copy of a distribution has to live in the state slabs. A key's first token is
scored against the prediction from the zero state, which training teaches too.

>>> import torch
>>> net = TokenLM(TokenLMConfig(vocab=12, embed=8, hidden=16))
>>> net(torch.tensor([[3, 4, 5]])).shape  # logits for tokens 0..2 (from states before them)
torch.Size([1, 3, 12])
>>> step = TokenStep(net, top_k=4)
>>> outs = step(torch.tensor([[[3.0]]]), *net.zero_state(1))
>>> [tuple(o.shape) for o in outs[:4]]
[(1, 1), (1, 1), (1, 4), (1, 4)]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["TokenLMConfig", "TokenLM", "TokenStep"]


@dataclass(frozen=True)
class TokenLMConfig:
    """The model's whole input: a manifest that records it can rebuild the network."""

    vocab: int
    embed: int = 32
    hidden: int = 64
    layers: int = 1
    cell: str = "lstm"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.cell not in ("lstm", "gru"):
            raise ValueError(f"cell: lstm or gru, not {self.cell!r}")
        if min(self.vocab, self.embed, self.hidden, self.layers) < 1:
            raise ValueError("vocab, embed, hidden and layers must be positive")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("h", "c") if self.cell == "lstm" else ("h",)


class TokenLM(nn.Module):
    def __init__(self, config: TokenLMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab, config.embed)
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = rnn(config.embed, config.hidden, config.layers, batch_first=True,
                       dropout=config.dropout if config.layers > 1 else 0.0)
        self.head = nn.Linear(config.hidden, config.vocab)

    def zero_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        """State as the slabs hold it: ``[batch, layers, hidden]`` per tensor."""
        c = self.config
        return tuple(torch.zeros(batch, c.layers, c.hidden) for _ in c.state_names)

    def _to_rnn(self, state):
        parts = tuple(s.transpose(0, 1).contiguous() for s in state)
        return parts if self.config.cell == "lstm" else parts[0]

    def _from_rnn(self, state) -> tuple[torch.Tensor, ...]:
        parts = state if isinstance(state, tuple) else (state,)
        return tuple(s.transpose(0, 1) for s in parts)

    def forward(self, ids: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None, *,
                return_state: bool = False):
        """Logits predicting ``ids[:, t]`` from the state before it, ``[B, T, vocab]``."""
        b = ids.shape[0]
        state = state if state is not None else self.zero_state(b)
        top = state[0][:, -1]  # the top layer's output before the first token
        out, new = self.rnn(self.embed(ids), self._to_rnn(state))
        before = torch.cat([top[:, None], out[:, :-1]], dim=1)
        logits = self.head(before)
        return (logits, self._from_rnn(new), self.head(out[:, -1])) if return_state else logits


class TokenStep(nn.Module):
    """One streaming step, the exported graph.

    Inputs: ``x`` ``[B, 1, 1]`` (the token id as a float, the engine's data layout) and the
    state. Outputs: ``logp`` and ``rank`` of that token under the previous prediction,
    ``top_logp`` and ``top_ids`` (``[B, k]``) for the next token (id 0, the unknown token, is
    never among them), then the new state.
    """

    def __init__(self, net: TokenLM, *, top_k: int) -> None:
        super().__init__()
        self.net = net
        self.top_k = min(top_k, net.config.vocab)
        self.register_buffer("not_unknown", torch.nn.functional.one_hot(torch.tensor(0), net.config.vocab) * 1e9)

    def forward(self, x: torch.Tensor, *state: torch.Tensor):
        net = self.net
        ids = x[:, 0, 0].round().long().clamp(0, net.config.vocab - 1)
        prev = torch.log_softmax(net.head(state[0][:, -1]), dim=-1)
        chosen = prev.gather(1, ids[:, None])
        rank = (prev > chosen).sum(dim=1, keepdim=True).float()
        out, new = net.rnn(net.embed(ids)[:, None, :], net._to_rnn(state))
        nxt = torch.log_softmax(net.head(out[:, 0]), dim=-1)
        # Id 0 (an unknown word or template) is never worth suggesting: rank it last.
        _, top_ids = torch.topk(nxt - self.not_unknown, self.top_k, dim=-1)
        top_logp = nxt.gather(1, top_ids)
        return (chosen, rank, top_logp, top_ids.float(), *net._from_rnn(new))
