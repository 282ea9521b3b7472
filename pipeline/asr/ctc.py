"""CTC character vocabulary and the streaming greedy decoder.

The greedy decoder's state is two integers: the arg-max of the previous frame (CTC
collapses a repeat only when no blank separates it, so this is the previous *frame's*
symbol, blank included, not the previous emitted token) and the running frame index.
Everything it emits is therefore identical however the posteriors are chunked.

>>> import numpy as np
>>> v = Vocab()
>>> ids = [0, 10, 10, 0, 7, 0, 14, 14, 0, 14, 17, 1, 0]  # "hello " with a blank splitting "ll"
>>> v.collapse(ids).tolist() == v.encode("hello ").tolist()
True
>>> dec = GreedyDecoder(v, frame_shift=0.04)
>>> _ = dec.push(np.eye(len(v))[ids[:5]]); _ = dec.push(np.eye(len(v))[ids[5:]])
>>> hyp = dec.finish(); hyp.text, hyp.words[0].start, hyp.words[0].end
('hello', 0.04, 0.44)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from string import ascii_lowercase
from typing import Sequence

import numpy as np

from rnnstream.errors import RnnstreamError

__all__ = [
    "Vocab",
    "DEFAULT_VOCAB",
    "WordTiming",
    "Hypothesis",
    "GreedyState",
    "GreedyDecoder",
    "greedy_step",
    "greedy_step_batch",
    "words_from_tokens",
    "tokens_to_text",
    "log_softmax",
]


@dataclass(frozen=True)
class Vocab:
    """Character CTC vocabulary: blank=0, space=1, apostrophe=2, then a-z."""

    symbols: tuple[str, ...] = ("<b>", " ", "'", *ascii_lowercase)
    blank: int = 0
    space: int = 1
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if len(set(self.symbols)) != len(self.symbols):
            raise RnnstreamError("Vocab symbols must be unique")
        if not (0 <= self.blank < len(self.symbols) and 0 <= self.space < len(self.symbols)):
            raise RnnstreamError("blank/space index outside the symbol table")
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols) if i != self.blank})

    def __len__(self) -> int:
        return len(self.symbols)

    def encode(self, text: str) -> np.ndarray:
        """Characters to ids; the text must already be normalised to the vocab."""
        try:
            return np.fromiter((self._index[ch] for ch in text), dtype=np.int64, count=len(text))
        except KeyError as exc:
            raise RnnstreamError(f"character {exc.args[0]!r} is not in the CTC vocabulary") from None

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Ids to characters, dropping blanks (no repeat collapsing)."""
        return "".join(self.symbols[i] for i in np.asarray(ids, dtype=np.int64).tolist() if i != self.blank)

    def collapse(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frame-level ids to a label sequence: merge repeats, then drop blanks."""
        a = np.asarray(ids, dtype=np.int64)
        if a.size == 0:
            return a
        keep = np.ones(a.size, dtype=bool)
        keep[1:] = a[1:] != a[:-1]
        keep &= a != self.blank
        return a[keep]


DEFAULT_VOCAB = Vocab()


@dataclass(frozen=True)
class WordTiming:
    """A recognised word and its span in seconds from the stream's frame 0."""

    word: str
    start: float
    end: float


@dataclass(frozen=True, eq=False)
class Hypothesis:
    """A decoded transcript: text, word timings, label ids with their frames, score."""

    text: str
    words: tuple[WordTiming, ...]
    tokens: np.ndarray
    frames: np.ndarray
    score: float = 0.0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hypothesis):
            return NotImplemented
        return (
            self.text == other.text
            and self.words == other.words
            and np.array_equal(self.tokens, other.tokens)
            and np.array_equal(self.frames, other.frames)
            and self.score == other.score
        )

    __hash__ = None  # type: ignore[assignment]


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax; idempotent, so log-probs may be passed again."""
    a = np.asarray(x, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return a - m - np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))


def tokens_to_text(tokens: Sequence[int] | np.ndarray, vocab: Vocab = DEFAULT_VOCAB) -> str:
    """Label ids to text with spaces collapsed and trimmed."""
    return " ".join(vocab.decode(tokens).split())


def words_from_tokens(
    tokens: Sequence[int] | np.ndarray,
    frames: Sequence[int] | np.ndarray,
    vocab: Vocab = DEFAULT_VOCAB,
    frame_shift: float = 0.04,
) -> tuple[WordTiming, ...]:
    """Group label ids into words; a word spans its first to its last label's frame.

    ``end`` is the end of the last label's frame, ``(frame + 1) * frame_shift``, where
    ``frame_shift`` is the seconds per posterior frame after model subsampling.
    """
    toks = np.asarray(tokens, dtype=np.int64).tolist()
    frs = np.asarray(frames, dtype=np.int64).tolist()
    if len(toks) != len(frs):
        raise RnnstreamError(f"{len(toks)} tokens but {len(frs)} frames")
    words: list[WordTiming] = []
    chars: list[str] = []
    first = last = 0
    for tok, fr in zip(toks, frs):
        if tok == vocab.space or tok == vocab.blank:
            if chars:
                words.append(WordTiming("".join(chars), first * frame_shift, (last + 1) * frame_shift))
                chars = []
            continue
        if not chars:
            first = fr
        chars.append(vocab.symbols[tok])
        last = fr
    if chars:
        words.append(WordTiming("".join(chars), first * frame_shift, (last + 1) * frame_shift))
    return tuple(words)


def greedy_step(scores: np.ndarray, prev: int, blank: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """Pure greedy step on ``[t, V]`` scores (logits or log-probs).

    Returns ``(best [t], emit [t] bool, new_prev)``; emitted labels are ``best[emit]``
    at chunk-relative frames ``np.flatnonzero(emit)``.
    """
    s = np.asarray(scores)
    if s.ndim != 2:
        raise RnnstreamError(f"greedy_step wants [t, V] scores, got shape {s.shape}")
    best = np.argmax(s, axis=1) if s.shape[0] else np.zeros(0, dtype=np.int64)
    before = np.concatenate([[prev], best[:-1]]) if best.size else best
    emit = (best != blank) & (best != before)
    return best, emit, int(best[-1]) if best.size else int(prev)


def greedy_step_batch(
    scores: np.ndarray, prev: np.ndarray, lengths: np.ndarray | None = None, blank: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy step for B streams: ``scores [B, t, V]``, ``prev [B]``.

    Returns ``(best [B, t], emit [B, t], new_prev [B])``; frames at or past
    ``lengths[b]`` never emit and do not move ``prev``.
    """
    s = np.asarray(scores)
    p = np.asarray(prev, dtype=np.int64)
    if s.ndim != 3 or p.shape != (s.shape[0],):
        raise RnnstreamError(f"greedy_step_batch wants [B, t, V] and [B], got {s.shape} and {p.shape}")
    b, t = s.shape[:2]
    ln = np.full(b, t, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)
    best = np.argmax(s, axis=2) if t else np.zeros((b, 0), dtype=np.int64)
    before = np.concatenate([p[:, None], best[:, :-1]], axis=1)
    valid = np.arange(t)[None, :] < ln[:, None]
    emit = (best != blank) & (best != before) & valid
    last_idx = np.clip(ln - 1, 0, max(t - 1, 0))
    new_prev = np.where(ln > 0, best[np.arange(b), last_idx] if t else p, p)
    return best, emit, new_prev


@dataclass
class GreedyState:
    """Explicit greedy state: previous frame's arg-max and frames consumed so far."""

    prev: int = 0
    frame: int = 0


class GreedyDecoder:
    """Streaming greedy CTC decoding with word timestamps.

    ``push`` returns the label ids the chunk emitted; ``partial`` is read-only and
    ``finish`` returns the hypothesis and resets for the next utterance.
    """

    def __init__(self, vocab: Vocab = DEFAULT_VOCAB, frame_shift: float = 0.04) -> None:
        if frame_shift <= 0:
            raise RnnstreamError(f"frame_shift must be > 0 seconds, got {frame_shift}")
        self.vocab = vocab
        self.frame_shift = frame_shift
        self.reset()

    def reset(self) -> None:
        self.state = GreedyState(prev=self.vocab.blank, frame=0)
        self._tokens: list[np.ndarray] = []
        self._frames: list[np.ndarray] = []

    def push(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores)
        if s.ndim != 2 or s.shape[1] != len(self.vocab):
            raise RnnstreamError(f"expected [t, {len(self.vocab)}] scores, got shape {s.shape}")
        best, emit, self.state.prev = greedy_step(s, self.state.prev, self.vocab.blank)
        toks = best[emit]
        self._tokens.append(toks)
        self._frames.append(np.flatnonzero(emit) + self.state.frame)
        self.state.frame += s.shape[0]
        return toks

    def partial(self) -> Hypothesis:
        toks = np.concatenate(self._tokens) if self._tokens else np.zeros(0, dtype=np.int64)
        frs = np.concatenate(self._frames) if self._frames else np.zeros(0, dtype=np.int64)
        words = words_from_tokens(toks, frs, self.vocab, self.frame_shift)
        return Hypothesis(" ".join(w.word for w in words), words, toks, frs)

    def finish(self) -> Hypothesis:
        hyp = self.partial()
        self.reset()
        return hyp
