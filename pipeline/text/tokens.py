"""Word tokens and the vocabulary shared by training and serving.

:func:`tokenize` turns a block of N texts into one flat token array plus N+1 offsets with
Arrow kernels only, so a block costs a fixed number of kernel calls, not a Python loop per
text. The rules, in order:

- lower-case; curly apostrophes become ``'``;
- a dot after a common abbreviation (``mr``, ``mrs``, ``dr``, ``st``, ...) or after a single
  letter other than ``a`` and ``i`` (initials, ``e.g.``) is dropped, so it ends no sentence;
- a number (digits, with inner ``.``, ``,`` or ``:`` as in ``1,000.5``) becomes ``<num>``;
- a run of ``.``, ``!`` and ``?`` (with only non-letters between them) becomes one ``</s>``,
  except at the very start of a text;
- words are runs of letters (any script) with inner apostrophes (``don't``, ``o'clock``);
  an apostrophe at either end of a word is dropped (``'tis`` -> ``tis``);
- everything else separates words and is dropped.

>>> words, offsets = tokenize(["Don't stop. Mr. Smith came at 10 o'clock!", "", "Why? Yes..."])
>>> words.to_pylist()
["don't", 'stop', '</s>', 'mr', 'smith', 'came', 'at', '<num>', "o'clock", '</s>', 'why', '</s>', 'yes', '</s>']
>>> offsets.tolist()
[0, 10, 10, 14]
>>> vocab = Vocabulary.build(words, max_size=6)
>>> vocab.to_list()
['<unk>', '</s>', '<num>', 'at', 'came', "don't"]
>>> ids = vocab.encode(words[:4])
>>> ids.tolist(), vocab.decode(ids).tolist()
([5, 0, 1, 0], ["don't", '<unk>', '</s>', '<unk>'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnnstream.errors import ConfigError

__all__ = ["tokenize", "Vocabulary", "UNK", "EOS", "NUM"]

UNK = "<unk>"
EOS = "</s>"
NUM = "<num>"

# Private-use characters stand in for </s> and <num> while the text is cleaned, because the
# cleaning drops '<', '/' and '>'; any in the input are removed first so none can be forged.
_EOS_MARK = "\ue001"
_NUM_MARK = "\ue000"
_ABBREVIATIONS = (
    "mr|mrs|ms|messrs|mme|mlle|dr|st|jr|sr|prof|rev|hon|gen|col|capt|lt|sgt|maj|gov|mt|ft|vs|viz|cf"
)
# (pattern, replacement) pairs applied in order by replace_substring_regex.
_STEPS = (
    (r"[\x{e000}\x{e001}]", ""),
    (r"[\x{2018}\x{2019}\x{02bc}]", "'"),
    (rf"\b({_ABBREVIATIONS}|[b-hj-z])\.", r"\1"),
    (r"[0-9]+(?:[.,:][0-9]+)*", f" {_NUM_MARK} "),
    (r"[.!?](?:[^\p{L}\x{e000}]*[.!?])*", f" {_EOS_MARK} "),
    (r"[^\p{L}'\x{e000}\x{e001}]+", " "),
    # Apostrophes not between two letters: first trailing ones, then leading ones.
    (r"'+(\P{L}|$)", r" \1"),
    (r"(^|\P{L})'+", r"\1 "),
    (r"^\s*\x{e001}", ""),
)


def _as_string_array(texts) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if isinstance(texts, pa.Array):
        if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
            raise ConfigError(f"tokenize: texts must be strings, got an Arrow array of {texts.type}")
        return texts
    if isinstance(texts, str):
        raise ConfigError("tokenize: texts must be a batch of strings, got one str (wrap it in a list)")
    try:
        return pa.array(np.asarray(texts, dtype=object), type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ConfigError(f"tokenize: texts must be strings: {exc}") from None


def tokenize(texts, vocab: "Vocabulary | None" = None):
    """Tokenize N texts: ``(flat, offsets)``; text i's tokens are ``flat[offsets[i]:offsets[i+1]]``.

    ``flat`` is a pyarrow string array, or numpy int64 ids when ``vocab`` is given; ``offsets``
    is numpy int64 of length N+1. A null text has no tokens.
    """
    arr = _as_string_array(texts)
    clean = pc.utf8_lower(arr)
    for pattern, replacement in _STEPS:
        clean = pc.replace_substring_regex(clean, pattern=pattern, replacement=replacement)
    # Trimmed first: utf8_split_whitespace was seen (pyarrow, in a long test process) to keep a
    # trailing space on the last token of an array, so no text may end in whitespace.
    lists = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(clean))
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    # Splitting an empty or all-space string yields [""]; drop those before counting.
    keep = pc.not_equal(flat, "")
    flat = pc.filter(flat, keep)
    parents = parents[keep.to_numpy(zero_copy_only=False)]
    offsets = np.zeros(len(arr) + 1, dtype=np.int64)
    np.cumsum(np.bincount(parents, minlength=len(arr)), out=offsets[1:])
    flat = pc.replace_substring(flat, _EOS_MARK, EOS)
    flat = pc.replace_substring(flat, _NUM_MARK, NUM)
    if vocab is not None:
        return vocab.encode(flat), offsets
    return flat, offsets


class Vocabulary:
    """Ordered words; id 0 is ``<unk>`` and id 1 is ``</s>``.

    >>> v = Vocabulary.from_list(["<unk>", "</s>", "the", "cat"])
    >>> len(v), v.encode(["the", "dog", None]).tolist(), v.decode([3, 1]).tolist()
    (4, [2, 0, 0], ['cat', '</s>'])
    >>> Vocabulary.from_list(["the"])
    Traceback (most recent call last):
    ...
    rnnstream.errors.ConfigError: vocabulary: must start with ['<unk>', '</s>'], got ['the']
    """

    UNK_ID = 0
    EOS_ID = 1

    def __init__(self, words: Iterable[str]) -> None:
        words = list(words)
        if words[:2] != [UNK, EOS]:
            raise ConfigError(f"vocabulary: must start with {[UNK, EOS]}, got {words[:2]}")
        bad = [w for w in words if not isinstance(w, str) or not w or w != w.strip()]
        if bad:
            raise ConfigError(f"vocabulary: words must be non-empty strings without edge spaces: {bad[:3]}")
        if len(set(words)) != len(words):
            seen: set[str] = set()
            dup = [w for w in words if w in seen or seen.add(w)]
            raise ConfigError(f"vocabulary: duplicate words {dup[:3]}")
        self._words = np.array(words, dtype=object)
        self._array = pa.array(words, type=pa.string())

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and (word == UNK or self.id_of(word) != self.UNK_ID)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.to_list() == other.to_list()

    def id_of(self, word: str) -> int:
        """The id of one word (``<unk>``'s id, 0, if it is not in the vocabulary)."""
        return int(self.encode([word])[0])

    def encode(self, tokens) -> np.ndarray:
        """Token strings (Arrow or numpy array, list) -> int64 ids; unknown or null -> 0."""
        arr = _as_string_array(tokens)
        if len(arr) == 0:
            return np.zeros(0, dtype=np.int64)
        if pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.string())
        ids = pc.fill_null(pc.index_in(arr, value_set=self._array), self.UNK_ID)
        return ids.to_numpy(zero_copy_only=False).astype(np.int64)

    def decode(self, ids) -> np.ndarray:
        """int ids -> numpy array of str (same shape)."""
        ids = np.asarray(ids)
        if ids.size and (not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= len(self)):
            raise ConfigError(f"vocabulary: ids must be integers in [0, {len(self)}), got {ids.dtype} "
                              f"in [{ids.min()}, {ids.max()}]")
        return self._words[ids.astype(np.int64)] if ids.size else np.zeros(ids.shape, dtype=object)

    def to_list(self) -> list[str]:
        """The words in id order: a JSON-ready list for a model manifest."""
        return self._words.tolist()

    @classmethod
    def from_list(cls, words: Iterable[str]) -> "Vocabulary":
        """The inverse of :meth:`to_list`; checks the special ids and duplicates."""
        return cls(words)

    @classmethod
    def build(cls, source, max_size: int, min_count: int = 1) -> "Vocabulary":
        """The ``max_size`` ids (``<unk>`` and ``</s>`` included) for the most frequent words.

        ``source`` is a mapping word -> count (e.g. a Counter) or an array of tokens. Words
        below ``min_count`` are left out; equal counts are ordered by the word itself.
        """
        if not isinstance(max_size, int) or max_size < 2:
            raise ConfigError(f"vocabulary: max_size must be an int >= 2, got {max_size!r}")
        if not isinstance(min_count, int) or min_count < 1:
            raise ConfigError(f"vocabulary: min_count must be an int >= 1, got {min_count!r}")
        if isinstance(source, Mapping):
            words = np.array(list(source.keys()), dtype=object)
            counts = np.array(list(source.values()), dtype=np.int64)
        else:
            vc = pc.value_counts(pc.drop_null(_as_string_array(source)))
            words = vc.field("values").to_numpy(zero_copy_only=False)
            counts = vc.field("counts").to_numpy(zero_copy_only=False).astype(np.int64)
        keep = (counts >= min_count) & ~np.isin(words, [UNK, EOS])
        words, counts = words[keep], counts[keep]
        # lexsort: last key is primary; ties go to the smaller word, so builds are repeatable.
        order = np.lexsort((words.astype(str), -counts)) if len(words) else np.zeros(0, dtype=np.int64)
        return cls([UNK, EOS, *words[order[: max_size - 2]].tolist()])
