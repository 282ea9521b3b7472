"""Block decoding: many records per parse, straight into the RecordBatch columns.

A format's parser (:mod:`.jsonblock`, :mod:`.csvblock`) reads a run of lines with Arrow into
typed columns, or says which line it cannot take. This module drives it: a run the parser
cannot take is split around the line it names (or in half), and short runs go through the
per-record decoder, which names each bad record's reason. So a block with bad records gives
the same good records in the same order, and the same dead letters, as record by record.
Keys are interned once per distinct key in the run; nothing is made per record in Python
(a text column comes out of Arrow as the one object array ``meta["text"]``).

>>> s, e = line_bounds(b'ab\\n\\n  \\ncd\\r\\n')
>>> s.tolist(), e.tolist()
([0, 7], [2, 9])
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnnstream.connectors.decode import WHITESPACE, RecordDecoder
from rnnstream.engine.records import DeadRecord, RecordBatch

__all__ = ["line_bounds", "decode_block", "split_runs", "Suspect", "Columns", "assemble", "run_bytes", "first",
           "key_column", "value_columns", "text_column", "NUMBERS"]

SMALLEST_SPLIT = 16  # below this many lines a run goes record by record
MAX_FAILURES = 12  # failed parses per block before the rest goes record by record
NUMBERS = (pa.int64(), pa.float64())

Columns = tuple  # (keys: pa string array, ts: float64 [n] or None for "now", values: float64 [n, width],
#                   text: pa string array, or None without text_field)
"""What a format's parser returns for a run it takes."""


class Suspect(Exception):
    """The parser cannot take the run; ``row`` is the first line it suspects."""

    def __init__(self, row: int) -> None:
        self.row = row


def line_bounds(block: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) byte offsets of each non-blank line of ``block`` (ends exclude ``\\r\\n``).

    """
    buf = np.frombuffer(block, np.uint8)
    nl = np.flatnonzero(buf == 10)
    if buf.size and buf[-1] != 10:
        nl = np.append(nl, buf.size)
    starts = np.r_[0, nl[:-1] + 1] if nl.size else np.empty(0, np.int64)
    ends = nl.copy()
    ends -= (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    keep = ends > starts
    # A line that starts with a space or tab may be blank; those few are checked one by one.
    maybe = np.flatnonzero(keep & np.isin(buf[np.minimum(starts, max(buf.size - 1, 0))], (32, 9)))
    for i in maybe.tolist():
        keep[i] = bool(block[starts[i] : ends[i]].strip())
    return starts[keep], ends[keep]


def decode_block(dec: RecordDecoder, block: bytes, positions: np.ndarray | None,
                 parse: Callable[[bytes, int], Columns | None], slow: Callable[[list[bytes], list | None], RecordBatch]
                 ) -> RecordBatch:
    """Decode the lines of ``block`` with ``parse(run_bytes, n_lines)``, ``slow(raws, positions)``
    for what it cannot take; ``positions[i]`` is line i's position for dead letters."""
    starts, ends = line_bounds(block)
    t0 = time.perf_counter()
    now_wall, now = time.time(), time.monotonic()

    def take(idx: np.ndarray) -> Columns | None:
        s, e = starts[idx], ends[idx]
        if int((e - s).max()) > dec.max_record_bytes:
            return None  # the record-by-record path names the oversized line
        try:
            return parse(run_bytes(block, s, e), idx.size)
        except (pa.ArrowException, ValueError):  # ValueError: Arrow meeting bytes that are not UTF-8
            return None

    parts = []
    for idx, cols in split_runs(starts.size, take):
        pos = None if positions is None else positions[idx]
        if cols is None:
            raws = [block[a:b] for a, b in zip(starts[idx].tolist(), ends[idx].tolist())]
            parts.append(slow(raws, None if pos is None else pos.tolist()))
        else:
            parts.append(assemble(dec, block, starts[idx], ends[idx], pos, cols, now_wall, now))
    batch = RecordBatch.concat(parts) if parts else dec.empty()
    batch.decode_s = time.perf_counter() - t0
    return batch


def split_runs(n: int, parse: Callable[[np.ndarray], object | None], budget: int = MAX_FAILURES
               ) -> list[tuple[np.ndarray, object | None]]:
    """Records ``0..n-1`` cut into runs, in order, each with what ``parse(indices)`` made of it,
    or None for a run left to the record-by-record path.

    ``parse`` returns None for a run it cannot take, or raises :class:`Suspect` naming the
    first record it suspects (relative to the run). Every failed parse uses up one of
    ``budget``: each odd record costs a parse or two, and past a handful the record-by-record
    path is cheaper for the rest. A named record goes record by record and the lines around it
    are parsed again; an unnamed failure halves the run; after a failure, a run of fewer than
    SMALLEST_SPLIT records goes record by record.

    >>> runs = split_runs(40, lambda idx: None if 7 in idx else idx.size)  # record 7 is odd
    >>> [(int(idx[0]), int(idx[-1]), got) for idx, got in runs]
    [(0, 9, None), (10, 19, 10), (20, 39, 20)]
    """
    out: list[tuple[np.ndarray, object | None]] = []
    left = [budget]

    def go(idx: np.ndarray) -> None:
        if not idx.size:
            return
        suspect = None
        if left[0] > 0:
            try:
                cols = parse(idx)
            except Suspect as s:
                suspect, cols = s.row, None
            if cols is not None:
                out.append((idx, cols))
                return
            left[0] -= 1  # only failed parses count: each costs a parse of the run
        if idx.size < SMALLEST_SPLIT or left[0] <= 0:
            out.append((idx, None))
        elif suspect is not None:  # the records before it parsed, and most after it will
            go(idx[:suspect])
            out.append((idx[suspect : suspect + 1], None))
            go(idx[suspect + 1 :])
        else:
            go(idx[: idx.size // 2])
            go(idx[idx.size // 2 :])

    go(np.arange(n))
    return out


def run_bytes(block: bytes, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """The run's lines as one newline-separated buffer; a line that is not UTF-8 is a
    :class:`Suspect` (Arrow does not check fields it skips, and the per-record path rejects it)."""
    data = block[int(starts[0]) : int(ends[-1])] if starts.size == 1 or _contiguous(block, starts, ends) else \
        b"\n".join(block[a:b] for a, b in zip(starts.tolist(), ends.tolist()))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_starts = np.r_[0, np.cumsum(ends - starts + 1)[:-1]]  # where each line begins in ``data``
        raise Suspect(int(np.searchsorted(line_starts, exc.start, side="right")) - 1) from None
    return data


def assemble(dec: RecordDecoder, block: bytes, starts, ends, positions, cols: Columns, now_wall: float,
             now: float) -> RecordBatch:
    """The batch of a parsed run; rows whose values are not finite become dead letters."""
    keys, ts, values, text = cols
    ts = np.full(starts.size, now_wall) if ts is None else ts
    with np.errstate(over="ignore"):
        values = values.astype(np.float32)
    good = np.isfinite(values).all(axis=1)
    dead: list[DeadRecord] = []
    if not good.all():
        where = None if positions is None else positions.tolist()
        dead = [dec.dead_record("non_finite", "value is NaN or infinite", block[starts[i] : ends[i]], where, i)
                for i in np.flatnonzero(~good).tolist()]
        keys, values, ts = keys.filter(pa.array(good)), values[good], ts[good]
        text = None if text is None else text.filter(pa.array(good))
    encoded = pc.dictionary_encode(keys)
    names = encoded.dictionary.to_pylist()
    ids = dec.keys.intern_unique(names)[encoded.indices.to_numpy()] if names else np.empty(0, np.int64)
    batch = RecordBatch.data(ids, ts, values, ingest=np.full(ids.size, now), source=dec.source)
    if text is not None:
        batch.meta["text"] = text.to_numpy(zero_copy_only=False)  # one object array of str
    batch.dead = dead
    return batch


def first(mask: pa.Array) -> int:
    """Index of the first true entry of a boolean array."""
    return int(np.flatnonzero(mask.to_numpy(zero_copy_only=False))[0])


def _contiguous(block, starts, ends) -> bool:
    """Whether only newlines (no blank lines, no ``\\r``) separate the lines, so the bytes can be read as is."""
    return bool(np.all(starts[1:] == ends[:-1] + 1))


def key_column(table: pa.Table, field: str) -> pa.Array | None:
    if field not in table.column_names:
        return None
    col = table.column(field).combine_chunks()
    if col.null_count or col.type not in (pa.string(), pa.int64()):
        return None
    col = col if col.type == pa.string() else pc.cast(col, pa.string())
    return None if pc.any(pc.equal(col, "")).as_py() else col


def value_columns(table: pa.Table, fields: list[str], width: int, n: int) -> np.ndarray | None:
    if not fields:  # text-only records
        return np.zeros((n, width))
    if any(f not in table.column_names for f in fields):
        return None
    cols = [table.column(f).combine_chunks() for f in fields]
    if any(c.null_count for c in cols):
        return None
    if len(fields) == 1 and pa.types.is_list(cols[0].type):
        col = cols[0]
        lengths = pc.list_value_length(col).to_numpy()
        flat = col.flatten()
        if (lengths != width).any() or flat.type not in NUMBERS or flat.null_count:
            return None
        return flat.to_numpy().astype(np.float64).reshape(n, width)
    if len(cols) != width or any(c.type not in NUMBERS for c in cols):
        return None
    return np.column_stack([c.to_numpy().astype(np.float64) for c in cols])


def text_column(table: pa.Table, dec: RecordDecoder) -> pa.Array | None:
    """The text column of a run (None when no record has it); :class:`Suspect` names the first
    record whose text the per-record path rejects: null or missing, too long, or blank."""
    if dec.text_field not in table.column_names:
        return None
    col = table.column(dec.text_field).combine_chunks()
    if col.type != pa.string():
        return None  # not text at all (a parser that typed it otherwise): the per-record path names it
    # Blank means only what str.strip() removes, the per-record path's test.
    bad = pc.or_(pc.greater(pc.binary_length(col), dec.max_text_bytes),
                 pc.equal(pc.utf8_length(pc.utf8_trim(col, characters=WHITESPACE)), 0))
    bad = pc.fill_null(bad, True)
    if pc.any(bad).as_py():
        raise Suspect(first(bad))
    return col
