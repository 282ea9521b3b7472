"""Building an ASR operator: greedy finals, or prefix beam search with a word LM, and a companion model.

>>> from rnnstream.asr.ctc import DEFAULT_VOCAB
>>> dec = build_rescorer(["turn the light on", "turn it off"], DEFAULT_VOCAB, beam=4)
>>> len(dec.lexicon), dec.lm.order
(6, 3)
"""

from __future__ import annotations

from collections.abc import Iterable

from rnnstream.asr.beam import (DEFAULT_BEAM, DEFAULT_BLANK_PENALTY, DEFAULT_LM_WEIGHT, DEFAULT_WORD_BONUS,
                                BeamSearchDecoder)
from rnnstream.asr.ctc import Vocab
from rnnstream.asr.endpoint import EndpointConfig
from rnnstream.asr.lm import Lexicon, NgramLM
from rnnstream.asr.rescore import DEFAULT_COMPANION_WEIGHT
from rnnstream.asr.text import normalize_text
from rnnstream.operators.asr import AsrOperator

__all__ = ["build_rescorer", "asr_operator", "DEFAULT_BEAM"]


def build_rescorer(sentences: Iterable[str] | None, vocab: Vocab, *, beam: int = DEFAULT_BEAM, order: int = 3,
                   alpha: float = DEFAULT_LM_WEIGHT, beta: float = DEFAULT_WORD_BONUS, lexicon: bool = True,
                   blank_penalty: float = DEFAULT_BLANK_PENALTY, frame_shift: float = 0.04) -> BeamSearchDecoder:
    """Prefix beam search for finals, with a word n-gram LM (and lexicon) from ``sentences``.

    The weights and the blank penalty only apply with an LM; without one it is plain CTC beam search.
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
