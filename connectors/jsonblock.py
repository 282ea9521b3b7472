"""Columnar decoding of JSON lines: a block of lines at a time, into the RecordBatch columns.

Arrow's JSON reader parses the whole block in C++ into typed columns; keys are interned
once per distinct key in the block; nothing is made per record in Python. The fast path
takes a block only when every line is a plain record (a key, numeric values, an optional
numeric timestamp, no control field). Anything else (a malformed line, a string where a
number belongs, a control record) sends the block down by halves until the odd lines are
found, and those go through the per-record decoder, which names each bad record's reason.
A block with a bad record therefore gives the same good records, in the same order, and
the same dead letters as decoding it record by record.

>>> from rnnstream.connectors.decode import RecordDecoder
>>> from rnnstream.engine.keys import KeyTable
>>> dec = RecordDecoder("src", KeyTable(), width=1)
>>> b = decode_json_block(dec, b'{"key":"a","ts":1,"value":2.5}\\n{"key":"a","value":"x"}\\n{"key":"b","ts":2,"value":3}\\n')
>>> b.values.ravel().tolist(), b.ts.tolist(), [d.reason for d in b.dead]
([2.5, 3.0], [1.0, 2.0], ['non_numeric'])
"""

from __future__ import annotations

import re
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from rnnstream.connectors.decode import RecordDecoder
from rnnstream.engine.records import DeadRecord, RecordBatch

__all__ = ["decode_json_block", "line_bounds"]

SMALLEST_SPLIT = 16  # below this many lines a block goes record by record
MIN_RETRIES = 24  # fast-path attempts per block before the rest goes record by record
_NUMBERS = (pa.int64(), pa.float64())
_READ = pj.ReadOptions(use_threads=False)  # the pipeline is single-threaded on purpose
_ROW = re.compile(r"in row (\d+)")


def line_bounds(block: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) byte offsets of each non-blank line of ``block`` (ends exclude ``\\r\\n``).

    >>> s, e = line_bounds(b'ab\\n\\n  \\ncd\\r\\n')
    >>> s.tolist(), e.tolist()
    ([0, 7], [2, 9])
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


def decode_json_block(dec: RecordDecoder, block: bytes, positions: np.ndarray | None = None) -> RecordBatch:
    """Decode the JSON lines in ``block``; ``positions[i]`` is line i's position for dead letters."""
    starts, ends = line_bounds(block)
    # Each odd record costs a few more parses of shrinking runs; past a handful per block the
    # record-by-record path is cheaper for the rest.
    budget = [max(MIN_RETRIES, starts.size // 512)]
    return _decode(dec, block, starts, ends, positions, time.time(), time.monotonic(), budget)


class _Suspect(Exception):
    """The fast path cannot take the run; ``row`` is the first line it suspects (Arrow names it)."""

    def __init__(self, row: int) -> None:
        self.row = row


def _decode(dec, block, starts, ends, positions, now_wall, now, budget: list[int]) -> RecordBatch:
    n = starts.size
    if n == 0:
        return _empty(dec)
    cut: list[slice] = []
    fast = None
    try:
        if budget[0] > 0:
            budget[0] -= 1
            fast = _fast(dec, block, starts, ends, positions, now_wall, now)
    except _Suspect as s:  # decode around that line: the lines before it parsed, and most after it will
        fast, cut = None, [slice(0, s.row), slice(s.row, s.row + 1), slice(s.row + 1, None)]
    except (pa.ArrowException, ValueError):  # ValueError: Arrow meeting bytes that are not UTF-8 (in a name too)
        fast = None
    if fast is not None:
        return fast
    if n < SMALLEST_SPLIT or budget[0] <= 0:
        raws = [block[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
        return dec.decode_json(raws, None if positions is None else positions.tolist())
    parts = [c for c in cut if len(range(*c.indices(n)))] if len(cut) and 0 < n else []
    if len(parts) < 2:
        parts = [slice(0, n // 2), slice(n // 2, None)]
    return RecordBatch.concat([
        _decode(dec, block, starts[p], ends[p], None if positions is None else positions[p], now_wall, now, budget)
        for p in parts])


def _fast(dec, block, starts, ends, positions, now_wall, now) -> RecordBatch | None:
    """The block's batch if every line is a plain record, else None."""
    if int((ends - starts).max()) > dec.max_record_bytes:
        return None
    data = block[int(starts[0]) : int(ends[-1])] if starts.size == 1 or _contiguous(block, starts, ends) else \
        b"\n".join(block[a:b] for a, b in zip(starts.tolist(), ends.tolist()))
    try:
        data.decode("utf-8")  # Arrow skips fields it does not need unchecked; the per-record path rejects them
    except UnicodeDecodeError:
        return None
    n = starts.size
    try:
        table = pj.read_json(pa.py_buffer(data), read_options=_READ)
    except pa.ArrowInvalid as exc:
        row = _ROW.search(str(exc))
        if row is not None and 0 <= int(row.group(1)) < n:
            raise _Suspect(int(row.group(1))) from None
        return None
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows != n:
        return None
    for name in ("control", dec.key_field, *dec.value_fields):
        # A control record, or a record without its key or a value: decode around the first one.
        if name in table.column_names and table.column(name).null_count not in (0, n) or \
                name == "control" and name in table.column_names and table.column(name).null_count == 0:
            col = table.column(name).combine_chunks()
            mask = col.is_valid() if name == "control" else col.is_null()
            raise _Suspect(int(np.flatnonzero(mask.to_numpy(zero_copy_only=False))[0]))
    keys = _keys(table, dec.key_field)
    values = _values(table, dec.value_fields, dec.width, n)
    if keys is None or values is None:
        return None
    if dec.ts_field in table.column_names:
        col = table.column(dec.ts_field)
        if col.type not in _NUMBERS or col.null_count:
            return None  # ISO strings and missing timestamps: the per-record path parses them
        ts = col.to_numpy().astype(np.float64)
        if not np.isfinite(ts).all():
            return None
    else:
        ts = np.full(n, now_wall)
    with np.errstate(over="ignore"):
        values = values.astype(np.float32)
    good = np.isfinite(values).all(axis=1)
    dead: list[DeadRecord] = []
    if not good.all():
        where = None if positions is None else positions.tolist()
        dead = [dec._dead("non_finite", "value is NaN or infinite", block[starts[i] : ends[i]], where, i)
                for i in np.flatnonzero(~good).tolist()]
        keys, values, ts = keys.filter(pa.array(good)), values[good], ts[good]
    encoded = pc.dictionary_encode(keys)
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    ids = dec.keys.intern_many(names)[encoded.indices.to_numpy()] if len(names) else np.empty(0, np.int64)
    batch = RecordBatch.data(ids, ts, values, ingest=np.full(ids.size, now), source=dec.source)
    batch.dead = dead
    return batch


def _contiguous(block, starts, ends) -> bool:
    """Whether only newlines (no blank lines, no ``\\r``) separate the lines, so the bytes can be read as is."""
    return bool(np.all(starts[1:] == ends[:-1] + 1))


def _keys(table: pa.Table, field: str) -> pa.Array | None:
    if field not in table.column_names:
        return None
    col = table.column(field).combine_chunks()
    if col.null_count or col.type not in (pa.string(), pa.int64()):
        return None
    col = col if col.type == pa.string() else pc.cast(col, pa.string())
    return None if pc.any(pc.equal(col, "")).as_py() else col


def _values(table: pa.Table, fields: list[str], width: int, n: int) -> np.ndarray | None:
    if any(f not in table.column_names for f in fields):
        return None
    cols = [table.column(f).combine_chunks() for f in fields]
    if any(c.null_count for c in cols):
        return None
    if len(fields) == 1 and pa.types.is_list(cols[0].type):
        col = cols[0]
        lengths = pc.list_value_length(col).to_numpy()
        flat = col.flatten()
        if (lengths != width).any() or flat.type not in _NUMBERS or flat.null_count:
            return None
        return flat.to_numpy().astype(np.float64).reshape(n, width)
    if len(cols) != width or any(c.type not in _NUMBERS for c in cols):
        return None
    return np.column_stack([c.to_numpy().astype(np.float64) for c in cols])


def _empty(dec) -> RecordBatch:
    return RecordBatch.data(np.empty(0, np.int64), np.empty(0), np.empty((0, dec.width), np.float32),
                            source=dec.source)
