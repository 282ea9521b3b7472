"""Building an ASR operator: greedy finals, or prefix beam search with a word LM, and a companion model.

>>> from rnnstream.asr.ctc import DEFAULT_VOCAB
>>> dec = build_rescorer(["turn the light on", "turn it off"], DEFAULT_VOCAB, beam=4)
>>> len(dec.lexicon), dec.lm.order
(6, 3)
"""

from __future__ import annotations

from collections.abc import Iterable

from rnnstream.asr.beam import (DEFAULT_BEAM, DEFAULT_BLANK_PENALTY, DEFAULT_LM_WEIGHT, DEFAULT_SKIP_BLANK,
                                DEFAULT_WORD_BONUS, BeamSearchDecoder)
from rnnstream.asr.ctc import Vocab
from rnnstream.asr.endpoint import EndpointConfig
from rnnstream.asr.lm import NgramLM
from rnnstream.asr.lmmix import MixedLM, lexicon_of
from rnnstream.asr.rescore import DEFAULT_COMPANION_WEIGHT
from rnnstream.asr.text import normalize_text
from rnnstream.operators.asr import AsrOperator

__all__ = ["build_rescorer", "asr_operator", "DEFAULT_BEAM", "DEFAULT_DOMAIN_WEIGHT"]

# A user's --lm gets this share of the probability beside the general LM.
DEFAULT_DOMAIN_WEIGHT = 0.5


def build_rescorer(sentences: Iterable[str] | None, vocab: Vocab, *, beam: int = DEFAULT_BEAM, order: int = 3,
                   alpha: float = DEFAULT_LM_WEIGHT, beta: float = DEFAULT_WORD_BONUS, lexicon: bool = True,
                   blank_penalty: float = DEFAULT_BLANK_PENALTY, frame_shift: float = 0.04,
                   general=None, domain_weight: float = DEFAULT_DOMAIN_WEIGHT,
                   lookahead: bool | str | None = None, skip_blank: float | None = DEFAULT_SKIP_BLANK
                   ) -> BeamSearchDecoder:
    """Prefix beam search for finals, with a word LM: the ``general`` one (a loaded
    :class:`~rnnstream.asr.wordlm.WordLM`), an n-gram of ``sentences``, or the two interpolated.

    The weights and the blank penalty only apply with an LM; without one it is plain CTC beam search.
    ``lookahead`` defaults to unigram-only with a general LM (cheap) and full otherwise.
    """
    if sentences is None and general is None:
        return BeamSearchDecoder(vocab, beam, frame_shift=frame_shift, skip_blank=skip_blank)
    if lookahead is None:
        lookahead = "unigram" if general is not None else True
    lm = general
    if sentences is not None:
        texts = [t for t in (normalize_text(s) for s in sentences) if t]
        domain = NgramLM.train(texts, order=order)
        lm = domain if general is None else MixedLM(general, domain, domain_weight)
    lex = lexicon_of(lm) if lexicon else None
    return BeamSearchDecoder(vocab, beam, lm=lm, lexicon=lex, alpha=alpha, beta=beta, blank_penalty=blank_penalty,
                             frame_shift=frame_shift, lookahead=lookahead, skip_blank=skip_blank)


def asr_operator(session, *, name: str = "asr", chunk_ms: float = 100.0, endpoint: EndpointConfig | None = None,
                 beam: int | None = None, lm_sentences: Iterable[str] | None = None, alpha: float = DEFAULT_LM_WEIGHT,
                 beta: float = DEFAULT_WORD_BONUS, order: int = 3, blank_penalty: float = DEFAULT_BLANK_PENALTY,
                 companion=None, companion_weight: float = DEFAULT_COMPANION_WEIGHT, general_lm=None,
                 domain_weight: float = DEFAULT_DOMAIN_WEIGHT) -> AsrOperator:
    """An ASR operator on ``session``; ``beam``, ``general_lm`` or ``lm_sentences`` turn on
    beam-decoded finals (partials stay greedy).

    ``companion`` (a second ASR session) also decodes each final; the pooled n-best is
    rescored with both models (:mod:`rnnstream.asr.rescore`).
    """
    op = AsrOperator(session, name=name, chunk_ms=chunk_ms, endpoint=endpoint)
    lm = lm_sentences is not None or general_lm is not None
    if beam is None and not lm and companion is None:
        return op
    dec = None
    if beam is not None or lm:  # else the operator rejects the companion
        dec = build_rescorer(lm_sentences, op.vocab, beam=beam or DEFAULT_BEAM, order=order, alpha=alpha,
                             beta=beta, blank_penalty=blank_penalty, frame_shift=op.shift, general=general_lm,
                             domain_weight=domain_weight)
    return AsrOperator(session, name=name, chunk_ms=chunk_ms, endpoint=endpoint, rescore=dec, companion=companion,
                       companion_weight=companion_weight)
