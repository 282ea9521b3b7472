"""``rnnstream train lm``: a general English word LM for speech finals, from plain text.

Text is tokenized a block of lines at a time with the Arrow tokenizer shared with the text
operators (sentence ends become ``</s>``), the vocabulary is the most frequent words the
acoustic model can spell (``a-z`` and the apostrophe), and the counts go through the
numpy Kneser-Ney trainer; :class:`~rnnstream.asr.wordlm.WordLM` then keeps the n-grams
seen at least ``cutoffs`` times in back-off form. ``weight`` repeats a text (the speech
transcripts are few but in the spoken register).

>>> import tempfile, os
>>> d = tempfile.mkdtemp(); p = os.path.join(d, "t.txt")
>>> _ = open(p, "w").write("The cat sat. The cat ran!\\nA dog sat.\\n")
>>> r = build_word_lm([p], os.path.join(d, "lm.npz"), vocab_size=10, order=2)
>>> r["words"], r["ngrams"]
(8, [10])
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnnstream.asr.lm import EOS, UNK
from rnnstream.asr.wordlm import WordLM
from rnnstream.errors import ConfigError
from rnnstream.text.tokens import tokenize

__all__ = ["build_word_lm", "read_texts"]

log = logging.getLogger(__name__)
_SPELLABLE = re.compile(r"^[a-z]+(?:'[a-z]+)*$")
_BLOCK = 50_000


def _lines(path: Path) -> Iterator[list[str]]:
    """Blocks of lines; a manifest (``.jsonl``) gives its ``text`` fields."""
    block: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if path.suffix == ".jsonl":
                line = json.loads(line).get("text", "") if line.strip() else ""
            block.append(line)
            if len(block) >= _BLOCK:
                yield block
                block = []
    if block:
        yield block


def read_texts(paths: Sequence[Path], weights: Sequence[int] | None = None) -> pa.ChunkedArray:
    """All tokens of ``paths`` (each ending its lines with ``</s>``), repeated by ``weights``."""
    chunks = []
    for i, path in enumerate(paths):
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"text: no file {path}")
        parts = []
        for block in _lines(path):
            # Every line ends a sentence: a paragraph or a transcript is never continued.
            flat, _ = tokenize([t.rstrip() + " ." for t in block])
            parts.append(flat)
        reps = weights[i] if weights else 1
        chunks.extend(parts * reps)
        log.info("text %s: %d tokens x %d", path, sum(len(p) for p in parts), reps)
    return pa.chunked_array(chunks, type=pa.string())


def _lexicon(tokens: pa.ChunkedArray, vocab_size: int) -> list[str]:
    vc = pc.value_counts(tokens)
    words = vc.field("values").to_numpy(zero_copy_only=False)
    counts = vc.field("counts").to_numpy(zero_copy_only=False)
    ok = np.array([bool(_SPELLABLE.match(w)) for w in words], dtype=bool)
    words, counts = words[ok], counts[ok]
    top = np.lexsort((words, -counts))[: max(0, vocab_size - 2)]
    return sorted(words[top].tolist())


def build_word_lm(texts: Sequence[str | Path], out: str | Path, *, vocab_size: int = 64_000, order: int = 3,
                  cutoffs: Sequence[int] = (1, 2), weights: Sequence[int] | None = None) -> dict:
    """Train, prune and save a :class:`WordLM`; returns a summary (sizes, out-of-vocabulary rate)."""
    if not 1 <= order <= 3:
        raise ConfigError(f"order: must be 1, 2 or 3, got {order}")
    if vocab_size < 3:
        raise ConfigError(f"vocab_size: must be >= 3, got {vocab_size}")
    if weights is not None and len(weights) != len(texts):
        raise ConfigError(f"weights: {len(weights)} weights for {len(texts)} texts")
    tokens = read_texts([Path(t) for t in texts], weights)
    lexicon = _lexicon(tokens, vocab_size)
    words = [UNK, EOS] + lexicon
    ids = pc.fill_null(pc.index_in(tokens, value_set=pa.array(words)), 0)
    ids = np.concatenate([c.to_numpy(zero_copy_only=False) for c in ids.chunks]).astype(np.int64)
    log.info("counting %d tokens over %d words", len(ids), len(words))
    from rnnstream.evaluation.ngram import NgramModel

    model = NgramModel.train(ids, vocab_size=len(words), order=order, max_k=1)
    lm = WordLM.from_kneser_ney(words, model, cutoffs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lm.save(out)
    unk = float(np.mean(ids[ids != 1] == 0)) if len(ids) else 0.0
    return {"out": str(out), "tokens": int(len(ids)), "words": len(words),
            "ngrams": [int(len(lv[0])) for lv in lm.levels], "oov_rate": round(unk, 5),
            "bytes": out.stat().st_size}
