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

import numpy as np

from rnnstream.asr.ctc import DEFAULT_VOCAB, Hypothesis, Vocab, log_softmax, words_from_tokens
from rnnstream.asr.beam_state import NEG_INF, Beam, BeamState, PrefixTable, lse, unroll
from rnnstream.asr.lm import EOS, Lexicon
from rnnstream.asr.lmmix import lookahead_for
from rnnstream.errors import RnnstreamError

__all__ = ["Beam", "BeamState", "BeamSearchDecoder", "BeamStream", "PrefixTable", "DEFAULT_LM_WEIGHT",
           "DEFAULT_WORD_BONUS", "DEFAULT_BLANK_PENALTY", "DEFAULT_LABEL_THRESHOLD", "DEFAULT_PRUNE",
           "DEFAULT_BEAM", "DEFAULT_SKIP_BLANK"]

_NEG_INF = NEG_INF
# Chosen on the real-speech dev set (LibriSpeech speakers outside training) with the general LM,
# builtin:lm-en, at 16 beams: WER 58.6, 58.7 and 60.5 % at (alpha, beta) = (0.8, 1.5), (1, 2) and
# (1.2, 2.5) with the shipped model; earlier, with a model 4 epochs younger, (0.7, 1), (1, 1) and
# (1.5, 2) read 64.6, 66.7 and 69.6 % against 63.9 % at (1, 2). (1, 2) was kept: it was the
# synthetic-voice choice too (docs/2026-12-07-speech-synthetic-models.md).
DEFAULT_LM_WEIGHT = 1.0
DEFAULT_WORD_BONUS = 2.0
# Subtracted from every frame's blank log-prob when an LM is fused: without it words are lost to
# the blank where the model is unsure. Dev WER 68.3, 63.9 and 64.7 % at 0.5, 1.5 and 2 nats.
DEFAULT_BLANK_PENALTY = 1.5
# Search pruning: labels more than DEFAULT_LABEL_THRESHOLD nats below a frame's best are not tried,
# and beams more than DEFAULT_PRUNE nats below the best are dropped.
DEFAULT_LABEL_THRESHOLD = 4.0
DEFAULT_PRUNE = 15.0
# A frame at least this sure of the blank tries no label (``skip_blank``).
DEFAULT_SKIP_BLANK = 0.99
# Beams for finals with an LM. Every stream pays for its finals on the loop thread, so this is set
# by `bench asr` (at least 100 real-time streams on 2 cores) as much as by dev WER. 80 dev
# utterances, decode CPU time per audio second in brackets: 8 beams at 4 nats 62.9 % (0.0029),
# 10 at 4 nats 61.5 % (0.0034), 12 at 4 nats 60.4 % (0.0045), 16 at 5 nats 58.7 % (0.0072).
# `bench asr` p95 per 100 ms chunk at 100 streams: 69, 78, 97 and 142 ms.
DEFAULT_BEAM = 10


class BeamSearchDecoder:
    """Prefix beam search; ``step`` and ``result`` never modify a state's beams.

    ``token_threshold`` skips labels whose frame log-prob is more than that many nats
    below the frame's best (``top_k`` caps them too) and ``prune`` drops beams that
    far below the best; all three only trade accuracy for speed and are
    deterministic, so streaming equality is unaffected.  With an LM and a lexicon,
    ``lookahead`` ranks an unfinished word by the best LM score it can still reach
    (``"unigram"``: by its best unigram score, cheaper with a large general LM).
    ``blank_penalty`` (nats) is subtracted from the blank's log-prob on every frame.
    ``skip_blank``: a frame whose blank probability (before the penalty) is above it only
    carries the beams forward through the blank, trying no label; most frames of a trained
    CTC model are such, so this is the largest saving, and it is decided per frame, so
    streamed and whole decoding stay equal.
    """

    def __init__(
        self,
        vocab: Vocab = DEFAULT_VOCAB,
        beam_size: int = 8,
        *,
        lm=None,
        lexicon: Lexicon | None = None,
        alpha: float = DEFAULT_LM_WEIGHT,
        beta: float = DEFAULT_WORD_BONUS,
        token_threshold: float = DEFAULT_LABEL_THRESHOLD,
        top_k: int | None = None,
        prune: float = DEFAULT_PRUNE,
        frame_shift: float = 0.04,
        eos: bool = True,
        lookahead: bool | str = True,
        blank_penalty: float = 0.0,
        skip_blank: float | None = None,
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
        if skip_blank is not None and not 0.5 < skip_blank < 1.0:
            raise RnnstreamError(f"skip_blank must be a probability in (0.5, 1), got {skip_blank}")
        self._skip = math.log(skip_blank) if skip_blank is not None else None
        self._chars = vocab.symbols
        self.ahead = lookahead_for(lm, lexicon, lookahead != "unigram") if lookahead else None

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
        blank = self.vocab.blank
        quiet = lp[:, blank] > self._skip if self._skip is not None else np.zeros(lp.shape[0], bool)
        if self.blank_penalty:
            lp[:, blank] -= self.blank_penalty
        order = np.argsort(-lp, axis=1, kind="stable")
        beams = dict(state.beams)
        for t in range(lp.shape[0]):
            row = lp[t]
            if quiet[t]:
                beams = self._blank_only(state.table, beams, row.tolist(), blank)
                continue
            best = row[order[t, 0]]
            cands = [int(c) for c in order[t] if c != blank and row[c] >= best - self.token_threshold]
            if self.top_k is not None:
                cands = cands[: self.top_k]
            beams = self._advance(state.table, beams, row.tolist(), cands, state.frame + t, blank)
        return BeamState(beams=tuple(beams.items()), frame=state.frame + lp.shape[0], table=state.table)

    @staticmethod
    def _blank_only(table: PrefixTable, beams: dict[int, Beam], row: list[float], blank: int) -> dict[int, Beam]:
        """Every beam through the blank (or by repeating its last label); no prefix grows."""
        out = {}
        tokens, pb_step = table.token, row[blank]
        for node, b in beams.items():
            last = tokens[node]
            nb = b.p_nb + row[last] if last >= 0 and b.p_nb > _NEG_INF else _NEG_INF
            out[node] = Beam(lse(b.p_b, b.p_nb) + pb_step, nb, b.lm, b.ahead, b.context, b.word, b.frames)
        return out

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
                cell[0] = lse(cell[0], stay_b)
                cell[1] = lse(cell[1], stay_nb)
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
            ((-(lse(cell[0], cell[1]) + meta[k].lm + meta[k].ahead), k) for k, cell in acc.items()),
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
            frs = np.asarray(unroll(b.frames), dtype=np.int64)
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
