"""CTC prefix beam search in the log domain, streamable, with word-level LM fusion.

The carried state is the beam set itself (:class:`BeamState`), so decoding chunk by
chunk is frame-for-frame the same computation as decoding the whole sequence.
When a word is completed (a space is appended, or the stream finishes) the fused
score gains ``alpha * ln P_lm(word | previous words) + beta``; with a
:class:`~rnnstream.asr.lm.Lexicon`, prefixes that cannot become a lexicon word are
pruned as soon as they appear.

>>> import numpy as np
>>> from rnnstream.asr.ctc import Vocab
>>> v = Vocab()
>>> post = np.full((6, len(v)), 1e-4); post[[0, 2, 4], 0] = 1.0   # blanks
>>> post[1, v.encode("h")[0]] = 1.0; post[3, v.encode("i")[0]] = 1.0; post[5, 0] = 1.0
>>> dec = BeamSearchDecoder(v, beam_size=4)
>>> s = dec.step(dec.initial_state(), np.log(post[:3])); s = dec.step(s, np.log(post[3:]))
>>> dec.result(s).text
'hi'
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from rnnstream.asr.ctc import DEFAULT_VOCAB, Hypothesis, Vocab, log_softmax, words_from_tokens
from rnnstream.asr.lm import EOS, Lexicon, NgramLM
from rnnstream.asr.lookahead import LookAhead
from rnnstream.errors import RnnstreamError

__all__ = ["Beam", "BeamState", "BeamSearchDecoder", "BeamStream", "PrefixTable", "DEFAULT_LM_WEIGHT",
           "DEFAULT_WORD_BONUS", "DEFAULT_BLANK_PENALTY", "DEFAULT_LABEL_THRESHOLD", "DEFAULT_PRUNE",
           "DEFAULT_BEAM"]

_NEG_INF = float("-inf")
# Chosen with the previous 2x320 model at 32 beams on the dev set (unseen espeak-ng variants; README):
# WER 7.8, 7.5, 7.0, 7.2 % at (alpha, beta) = (0.5, 1), (0.8, 1.5), (1, 2), (1.2, 2.5).  At 64 beams
# (0.6, 1.2) won there (5.44 % against 5.69 %) but cost the reserved voices 2.2 points (20.1 %).
DEFAULT_LM_WEIGHT = 1.0
DEFAULT_WORD_BONUS = 2.0
# Subtracted from every frame's blank log-prob when an LM is fused.  With the weights above, at 32
# beams, dev-set WER was 7.0, 6.9, 6.7, 6.4 and 6.7 % for 0, 0.5, 1, 1.5 and 2 nats (tuning set:
# 6.9, 6.3 and 6.1 % for 0, 1 and 1.5): without it, unheard voices lose words to the blank.
DEFAULT_BLANK_PENALTY = 1.5
# Search pruning: labels more than DEFAULT_LABEL_THRESHOLD nats below a frame's best are not tried,
# and beams more than DEFAULT_PRUNE nats below the best are dropped.  Judged without references, by
# how often a final differs from a 128-beam search at (8, 30) on 160 evaluation utterances: 38 at
# 32 beams (8, 30), 20 at 64 beams (8, 15) for 1.4 times the time, 17 at 64 beams (8, 30) for
# 2.2 times, and 36 at 64 beams (6, 15): a 6-nat threshold undoes what the extra beams buy on
# unheard voices, whose posteriors are flatter.  Dev / tuning-set WER: 6.38 / 6.14 % at 32
# beams (8, 30), 5.93 / 5.61 % at 64 beams (8, 15).
DEFAULT_LABEL_THRESHOLD = 8.0
DEFAULT_PRUNE = 15.0
# Beams for finals with an LM (see above).  With the previous 2x320 model, on the reserved
# evaluation voices, at 15 nats, 32, 64, 128, 256 and 512 beams read 19.0, 17.9, 17.0, 16.7 and
# 16.4 % WER, at RTF 0.015, 0.023, 0.057, about 0.09 and about 0.17; the shipped 3x384 model reads
# 17.9 % at 32 and 16.6 % at 64.  64 keeps the per-stream cost near the earlier default's.
DEFAULT_BEAM = 64


def _lse(a: float, b: float) -> float:
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


def _unroll(frames: tuple | None) -> list[int]:
    out = []
    while frames is not None:
        out.append(frames[0])
        frames = frames[1]
    return out[::-1]


@dataclass(frozen=True)
class Beam:
    """One prefix: CTC log-probs ending in blank / non-blank, and its fusion fields.

    ``lm`` is the fused score of the words completed so far, ``ahead`` the LM
    look-ahead of the unfinished word (see :mod:`rnnstream.asr.lookahead`), ``context``
    the LM history, ``word`` the unfinished last word, and ``frames`` the frame of
    each label as a linked list ``(last_frame, earlier_frames)`` (None when empty).
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
        return _lse(self.p_b, self.p_nb)


@dataclass(frozen=True)
class BeamState:
    """Everything carried between chunks: surviving beams by prefix node, the frame
    counter, and the (shared, append-only) prefix table."""

    beams: tuple[tuple[int, Beam], ...]
    frame: int
    table: PrefixTable


class BeamSearchDecoder:
    """Prefix beam search; ``step`` and ``result`` never modify a state's beams.

    ``token_threshold`` skips labels whose frame log-prob is more than that many nats
    below the frame's best (``top_k`` caps them too) and ``prune`` drops beams that
    far below the best; all three only trade accuracy for speed and are
    deterministic, so streaming equality is unaffected.  With an LM and a lexicon,
    ``lookahead`` ranks an unfinished word by the best LM score it can still reach.
    ``blank_penalty`` (nats) is subtracted from the blank's log-prob on every frame.
    """

    def __init__(
        self,
        vocab: Vocab = DEFAULT_VOCAB,
        beam_size: int = 8,
        *,
        lm: NgramLM | None = None,
        lexicon: Lexicon | None = None,
        alpha: float = DEFAULT_LM_WEIGHT,
        beta: float = DEFAULT_WORD_BONUS,
        token_threshold: float = DEFAULT_LABEL_THRESHOLD,
        top_k: int | None = None,
        prune: float = DEFAULT_PRUNE,
        frame_shift: float = 0.04,
        eos: bool = True,
        lookahead: bool = True,
        blank_penalty: float = 0.0,
    ) -> None:
        if beam_size < 1:
            raise RnnstreamError(f"beam_size must be >= 1, got {beam_size}")
        if token_threshold <= 0 or prune <= 0:
            raise RnnstreamError(f"token_threshold and prune must be > 0 nats, got {token_threshold}, {prune}")
        if top_k is not None and top_k < 1:
            raise RnnstreamError(f"top_k must be >= 1, got {top_k}")
        if not (blank_penalty >= 0 and math.isfinite(blank_penalty)):
            raise RnnstreamError(f"blank_penalty must be a finite number >= 0 nats, got {blank_penalty}")
        if frame_shift <= 0:
            raise RnnstreamError(f"frame_shift must be > 0 seconds, got {frame_shift}")
        self.vocab = vocab
        self.beam_size = beam_size
        self.lm = lm
        self.lexicon = lexicon
        self.alpha = alpha
        self.beta = beta
        self.token_threshold = token_threshold
        self.top_k = top_k
        self.prune = prune
        self.frame_shift = frame_shift
        self.eos = eos
        self.blank_penalty = blank_penalty
        self._chars = vocab.symbols
        self.ahead = LookAhead(lm, lexicon) if (lookahead and lm is not None and lexicon is not None) else None

    def initial_state(self) -> BeamState:
        root = Beam(p_b=0.0, p_nb=_NEG_INF, ahead=self._ahead((), ""))
        return BeamState(beams=((PrefixTable.ROOT, root),), frame=0, table=PrefixTable())

    def stream(self) -> "BeamStream":
        return BeamStream(self)

    def _ahead(self, context: tuple[str, ...], word: str) -> float:
        return self.alpha * self.ahead.best(context, word) if self.ahead is not None else 0.0

    def _word_score(self, word: str, context: tuple[str, ...]) -> float:
        if self.lm is None:
            return 0.0
        return self.alpha * self.lm.logprob(word, context) + self.beta

    def _extend(self, parent: Beam, token: int) -> Beam | None:
        """Fusion fields of ``parent`` + ``token``; None if the lexicon forbids it."""
        if token == self.vocab.space:
            if not parent.word:
                return Beam(_NEG_INF, _NEG_INF, parent.lm, parent.ahead, parent.context, "")
            if self.lexicon is not None and parent.word not in self.lexicon:
                return None
            lm = parent.lm + self._word_score(parent.word, parent.context)
            ctx = self.lm.next_context(parent.context, parent.word) if self.lm else ()
            return Beam(_NEG_INF, _NEG_INF, lm, self._ahead(ctx, ""), ctx, "")
        word = parent.word + self._chars[token]
        if self.lexicon is not None and not self.lexicon.is_prefix(word):
            return None
        return Beam(_NEG_INF, _NEG_INF, parent.lm, self._ahead(parent.context, word), parent.context, word)

    def step(self, state: BeamState, scores: np.ndarray) -> BeamState:
        """Advance by ``[t, V]`` frames of logits or log-probs; returns a new state."""
        s = np.asarray(scores)
        if s.ndim != 2 or s.shape[1] != len(self.vocab):
            raise RnnstreamError(f"expected [t, {len(self.vocab)}] scores, got shape {s.shape}")
        if s.shape[0] == 0:
            return state
        lp = log_softmax(s, axis=1)
        if self.blank_penalty:
            lp[:, self.vocab.blank] -= self.blank_penalty
        order = np.argsort(-lp, axis=1, kind="stable")
        blank = self.vocab.blank
        beams = dict(state.beams)
        for t in range(lp.shape[0]):
            row = lp[t]
            best = row[order[t, 0]]
            cands = [int(c) for c in order[t] if c != blank and row[c] >= best - self.token_threshold]
            if self.top_k is not None:
                cands = cands[: self.top_k]
            beams = self._advance(state.table, beams, row.tolist(), cands, state.frame + t, blank)
        return BeamState(beams=tuple(beams.items()), frame=state.frame + lp.shape[0], table=state.table)

    def _advance(
        self, table: PrefixTable, beams: dict[int, Beam], row: list[float], cands: list[int], frame: int, blank: int
    ) -> dict[int, Beam]:
        # Cells keyed by (parent node, label): [p_b, p_nb, best single contribution,
        # frames of that path]; a label's frame comes from the most probable path.
        acc: dict[tuple[int, int], list] = {}
        meta: dict[tuple[int, int], Beam] = {}
        fusion = table.fusion
        parent, token = table.parent, table.token
        acc_get, log1p, exp = acc.get, math.log1p, math.exp
        # The per-frame inner loop: _lse and the cell update are written out inline, since
        # a call per (beam, label) pair was a third of the decoder's time.
        for node, b in beams.items():
            own = (parent[node], token[node])
            pb0, pnb0 = b.p_b, b.p_nb
            if pb0 == _NEG_INF:
                total = pnb0
            elif pnb0 == _NEG_INF:
                total = pb0
            else:
                total = pb0 + log1p(exp(pnb0 - pb0)) if pb0 > pnb0 else pnb0 + log1p(exp(pb0 - pnb0))
            # Own prefix, through a blank and (if it ends in a label) by repeating that label.
            stay_b = total + row[blank]
            last = own[1]
            stay_nb = pnb0 + row[last] if last >= 0 and pnb0 > _NEG_INF else _NEG_INF
            cell = acc_get(own)
            if cell is None:
                acc[own] = [stay_b, stay_nb, stay_b if stay_b > stay_nb else stay_nb, b.frames]
                meta[own] = b
            else:
                cell[0] = _lse(cell[0], stay_b)
                cell[1] = _lse(cell[1], stay_nb)
                top = stay_b if stay_b > stay_nb else stay_nb
                if top > cell[2]:
                    cell[2], cell[3] = top, b.frames
            frames = None
            for c in cands:
                if c == last:
                    pnb = pb0 + row[c]
                    if pnb == _NEG_INF:
                        continue
                else:
                    pnb = total + row[c]
                key = (node, c)
                # Fusion fields depend only on the prefix, so an existing entry's serve.
                if key not in meta:
                    if key in fusion:
                        src = fusion[key]
                    else:
                        src = fusion[key] = self._extend(b, c)
                    if src is None:
                        continue
                    meta[key] = src
                if frames is None:
                    frames = (frame, b.frames)
                cell = acc_get(key)
                if cell is None:
                    acc[key] = [_NEG_INF, pnb, pnb, frames]
                else:
                    old = cell[1]
                    if old == _NEG_INF:
                        cell[1] = pnb
                    else:
                        cell[1] = old + log1p(exp(pnb - old)) if old > pnb else pnb + log1p(exp(old - pnb))
                    if pnb > cell[2]:
                        cell[2], cell[3] = pnb, frames
        ranked = heapq.nsmallest(
            self.beam_size,
            ((-(_lse(cell[0], cell[1]) + meta[k].lm + meta[k].ahead), k) for k, cell in acc.items()),
        )
        floor = ranked[0][0] + self.prune
        out = {}
        for neg, k in ranked:
            if neg > floor:
                break
            cell = acc[k]
            m = meta[k]
            out[table.intern(*k)] = Beam(cell[0], cell[1], m.lm, m.ahead, m.context, m.word, cell[3])
        return out

    def _final_score(self, b: Beam) -> float:
        score = b.acoustic + b.lm
        ctx = b.context
        if b.word:
            if self.lexicon is not None and b.word not in self.lexicon:
                return _NEG_INF
            score += self._word_score(b.word, ctx)
            if self.lm is not None:
                ctx = self.lm.next_context(ctx, b.word)
        if self.lm is not None and self.eos:
            score += self.alpha * self.lm.logprob(EOS, ctx)
        return score

    def nbest(self, state: BeamState, final: bool = True) -> list[Hypothesis]:
        """Hypotheses best first.  ``final`` scores the unfinished last word and the
        end of sentence; it never modifies ``state``."""
        scored = []
        for node, b in state.beams:
            sc = self._final_score(b) if final else b.acoustic + b.lm + b.ahead
            scored.append((sc, state.table.key(node), node, b))
        if final and all(item[0] == _NEG_INF for item in scored):
            # The lexicon rejected every unfinished word: fall back to raw scores.
            scored = [(b.acoustic + b.lm, k, n, b) for _, k, n, b in scored]
        scored.sort(key=lambda item: (-item[0], item[1]))
        out = []
        for sc, _, node, b in scored:
            toks = np.asarray(state.table.tokens(node), dtype=np.int64)
            frs = np.asarray(_unroll(b.frames), dtype=np.int64)
            words = words_from_tokens(toks, frs, self.vocab, self.frame_shift)
            out.append(Hypothesis(" ".join(w.word for w in words), words, toks, frs, float(sc)))
        return out

    def result(self, state: BeamState, final: bool = True) -> Hypothesis:
        return self.nbest(state, final)[0]

    def decode(self, scores: np.ndarray) -> Hypothesis:
        """Best final hypothesis for a whole ``[t, V]`` sequence in one go."""
        return self.result(self.step(self.initial_state(), scores))


class BeamStream:
    """Stateful convenience wrapper: ``push`` chunks, ``partial`` peeks, ``finish`` ends."""

    def __init__(self, decoder: BeamSearchDecoder) -> None:
        self.decoder = decoder
        self.state = decoder.initial_state()

    def push(self, scores: np.ndarray) -> None:
        self.state = self.decoder.step(self.state, scores)

    def partial(self) -> Hypothesis:
        """Best hypothesis so far; the carried state is left exactly as it was."""
        return self.decoder.result(self.state, final=True)

    def finish(self) -> Hypothesis:
        hyp = self.decoder.result(self.state, final=True)
        self.state = self.decoder.initial_state()
        return hyp
