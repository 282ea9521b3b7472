"""Library side of transcription: stream audio through the ASR operator and get events.

``Transcriber`` wraps a Scheduler around an :class:`AsrOperator`, so one or many streams
share the session exactly as they do inside a pipeline. Events are dicts with ``type``
(``partial`` or ``final``), ``text``, ``start`` and ``end`` (seconds), and ``words`` on
finals. ``whole_text`` decodes a complete signal in one call, the reference that streamed
output must match.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from rnnstream.asr.beam import (DEFAULT_BEAM, DEFAULT_BLANK_PENALTY, DEFAULT_LM_WEIGHT, DEFAULT_WORD_BONUS,
                                BeamSearchDecoder)
from rnnstream.asr.ctc import Vocab
from rnnstream.asr.lm import Lexicon, NgramLM
from rnnstream.asr.rescore import DEFAULT_COMPANION_WEIGHT
from rnnstream.asr.text import normalize_text
from rnnstream.asr.endpoint import EndpointConfig
from rnnstream.operators.asr import AsrOperator
from rnnstream.engine.records import DATA, END
from rnnstream.engine.scheduler import Scheduler
from rnnstream.engine.session import load_session

__all__ = ["Transcriber", "load_asr", "asr_operator", "build_rescorer", "DEFAULT_ASR_MODEL", "DEFAULT_BEAM"]

DEFAULT_ASR_MODEL = "builtin:asr"


def build_rescorer(sentences: Iterable[str] | None, vocab: Vocab, *, beam: int = DEFAULT_BEAM, order: int = 3,
                   alpha: float = DEFAULT_LM_WEIGHT, beta: float = DEFAULT_WORD_BONUS, lexicon: bool = True,
                   blank_penalty: float = DEFAULT_BLANK_PENALTY, frame_shift: float = 0.04) -> BeamSearchDecoder:
    """Prefix beam search for finals, with a word n-gram LM (and lexicon) from ``sentences``.

    The weights and the blank penalty only apply with an LM; without one it is plain CTC beam search.

    >>> from rnnstream.asr.ctc import DEFAULT_VOCAB
    >>> dec = build_rescorer(["turn the light on", "turn it off"], DEFAULT_VOCAB, beam=4)
    >>> len(dec.lexicon), dec.lm.order
    (6, 3)
    """
    if sentences is None:
        return BeamSearchDecoder(vocab, beam, frame_shift=frame_shift)
    texts = [t for t in (normalize_text(s) for s in sentences) if t]
    lm = NgramLM.train(texts, order=order)
    lex = Lexicon(w for t in texts for w in t.split()) if lexicon else None
    return BeamSearchDecoder(vocab, beam, lm=lm, lexicon=lex, alpha=alpha, beta=beta, blank_penalty=blank_penalty,
                             frame_shift=frame_shift)


def asr_operator(session, *, name: str = "asr", chunk_ms: float = 100.0, endpoint: EndpointConfig | None = None,
                 beam: int | None = None, lm_sentences: Iterable[str] | None = None, alpha: float = DEFAULT_LM_WEIGHT,
                 beta: float = DEFAULT_WORD_BONUS, order: int = 3, blank_penalty: float = DEFAULT_BLANK_PENALTY,
                 companion=None, companion_weight: float = DEFAULT_COMPANION_WEIGHT) -> AsrOperator:
    """An ASR operator on ``session``; ``beam`` and/or ``lm_sentences`` turn on beam-decoded finals.

    ``companion`` (a second ASR session) also decodes each final; the pooled n-best is
    rescored with both models (:mod:`rnnstream.asr.rescore`).
    """
    op = AsrOperator(session, name=name, chunk_ms=chunk_ms, endpoint=endpoint)
    if beam is None and lm_sentences is None and companion is None:
        return op
    dec = None
    if beam is not None or lm_sentences is not None:  # else the operator rejects the companion
        dec = build_rescorer(lm_sentences, op.vocab, beam=beam or DEFAULT_BEAM, order=order, alpha=alpha,
                             beta=beta, blank_penalty=blank_penalty, frame_shift=op.shift)
    return AsrOperator(session, name=name, chunk_ms=chunk_ms, endpoint=endpoint, rescore=dec, companion=companion,
                       companion_weight=companion_weight)


def load_asr(model: str | Path = DEFAULT_ASR_MODEL, *, provider: str = "auto", chunk_ms: float = 100.0,
             endpoint: EndpointConfig | None = None, companion: str | Path | None = None,
             **decoding) -> AsrOperator:
    """The ASR operator for ``model`` (and ``companion``, e.g. ``builtin:asr-companion``);
    ``decoding`` is passed to :func:`asr_operator`."""
    from rnnstream.runtime.build import resolve_model

    session = load_session(resolve_model(str(model)), provider=provider)
    second = None if companion is None else load_session(resolve_model(str(companion)), provider=provider)
    return asr_operator(session, chunk_ms=chunk_ms, endpoint=endpoint, companion=second, **decoding)


class Transcriber:
    """Streams for many keys at once; keys are small ints chosen by the caller."""

    def __init__(self, op: AsrOperator, *, max_batch: int = 1024) -> None:
        self.op = op
        self.scheduler = Scheduler(op, max_batch=max_batch)
        self.chunk = op.chunk
        self._last: dict[int, str] = {}

    def push(self, key_ids: np.ndarray, chunks: np.ndarray, *, end: np.ndarray | None = None) -> list[tuple[int, dict]]:
        """One chunk per key (``chunks [B, chunk]``); ``end`` marks keys whose stream ends after it.

        Returns ``(key, event)`` pairs: a ``partial`` when a key's text changed, a ``final``
        when an utterance closed.
        """
        key_ids = np.asarray(key_ids, dtype=np.int64)
        kind = np.full(key_ids.size, DATA, np.int8)
        if end is not None and end.any():
            key_ids = np.concatenate([key_ids, key_ids[end]])
            chunks = np.concatenate([chunks, np.zeros((int(end.sum()), chunks.shape[1]), chunks.dtype)])
            kind = np.concatenate([kind, np.full(int(end.sum()), END, np.int8)])
        out, emitted = self.scheduler.process(key_ids, np.zeros(key_ids.size), chunks.astype(np.float32), kind)
        events = []
        for i in np.flatnonzero(emitted).tolist():
            k = int(key_ids[i])
            text = out["text"][i]
            ev = {"text": text, "start": round(float(out["start"][i]), 3), "end": round(float(out["end"][i]), 3)}
            if out["final"][i]:
                events.append((k, {"type": "final", **ev, "words": out["words"][i]}))
                self._last[k] = ""
            elif text != self._last.get(k, "") and kind[i] == DATA:
                events.append((k, {"type": "partial", **ev}))
                self._last[k] = text
        return events

    def _padded(self, signal: np.ndarray) -> np.ndarray:
        """The signal zero-padded to a whole number of chunks (at least one)."""
        out = np.zeros(max(1, -(-signal.size // self.chunk)) * self.chunk, np.float32)
        out[: signal.size] = signal
        return out

    def stream(self, signal: np.ndarray, key: int = 0) -> Iterator[dict]:
        """Transcribe one whole signal chunk by chunk (the last chunk zero-padded)."""
        n = self.chunk
        padded = self._padded(signal)
        total = padded.size // n
        for c in range(total):
            last = c == total - 1
            for _, ev in self.push(np.array([key]), padded[None, c * n : (c + 1) * n],
                                   end=np.array([last])):
                yield ev

    def whole_text(self, signal: np.ndarray) -> str:
        """The finals of the whole signal from one model call per model (see
        :meth:`AsrOperator.whole_text`), joined: what streaming it must give."""
        return self.op.whole_text(self._padded(signal))
