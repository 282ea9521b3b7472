"""The prefix beam search's carried data: the prefix trie, one beam, and the state between chunks.

A state is immutable apart from the append-only :class:`PrefixTable` it shares, so an older
state of a stream stays valid after later steps (partials never disturb finals).

>>> t = PrefixTable()
>>> n = t.intern(t.intern(PrefixTable.ROOT, 3), 4)
>>> t.tokens(n), t.intern(PrefixTable.ROOT, 3) == t.parent[n]
([3, 4], True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Beam", "BeamState", "PrefixTable", "NEG_INF", "lse", "unroll"]

NEG_INF = float("-inf")
_NEG_INF = NEG_INF


def lse(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


class PrefixTable:
    """Append-only trie of label prefixes: node ``i`` is ``parent[i]`` plus ``token[i]``.

    Interning prefixes keeps every per-frame operation O(1) in the prefix length
    (extending or hashing a tuple of labels would be O(length)).  Node ids never
    change, so any older :class:`BeamState` of the same stream stays valid.
    ``fusion`` memoises each extension's LM fields (None where the lexicon forbids it),
    which depend only on the prefix, so a prefix pruned and found again costs nothing.
    """

    ROOT = 0

    def __init__(self) -> None:
        self.parent: list[int] = [-1]
        self.token: list[int] = [-1]
        self.children: dict[tuple[int, int], int] = {}
        self.fusion: dict[tuple[int, int], "Beam | None"] = {}

    def __len__(self) -> int:
        return len(self.parent)

    def key(self, node: int) -> tuple[int, int]:
        return self.parent[node], self.token[node]

    def intern(self, parent: int, token: int) -> int:
        if parent < 0:
            return self.ROOT
        node = self.children.get((parent, token))
        if node is None:
            node = len(self.parent)
            self.parent.append(parent)
            self.token.append(token)
            self.children[(parent, token)] = node
        return node

    def tokens(self, node: int) -> list[int]:
        out = []
        while node > 0:
            out.append(self.token[node])
            node = self.parent[node]
        return out[::-1]


def unroll(frames: tuple | None) -> list[int]:
    out = []
    while frames is not None:
        out.append(frames[0])
        frames = frames[1]
    return out[::-1]


class Beam(NamedTuple):
    """One prefix: CTC log-probs ending in blank / non-blank, and its fusion fields.

    ``lm`` is the fused score of the words completed so far, ``ahead`` the LM
    look-ahead of the unfinished word (see :mod:`rnnstream.asr.lookahead`), ``context``
    the LM history, ``word`` the unfinished last word, and ``frames`` the frame of
    each label as a linked list ``(last_frame, earlier_frames)`` (None when empty).
    A named tuple, not a frozen dataclass: the search makes one per beam and frame, and a
    frozen dataclass's ``__init__`` costs several times a tuple's.
    """

    p_b: float
    p_nb: float
    lm: float = 0.0
    ahead: float = 0.0
    context: tuple[str, ...] = ()
    word: str = ""
    frames: tuple | None = None

    @property
    def acoustic(self) -> float:
        return lse(self.p_b, self.p_nb)


@dataclass(frozen=True)
class BeamState:
    """Everything carried between chunks: surviving beams by prefix node, the frame
    counter, and the (shared, append-only) prefix table."""

    beams: tuple[tuple[int, Beam], ...]
    frame: int
    table: PrefixTable
