"""JSON lines to columns: Arrow's JSON reader on a run of lines (driven by :mod:`.blocks`).

Arrow takes a run when every line is a plain record: a key, numeric values (or one list of
them), an optional numeric timestamp, no control field, and with ``text_field`` a string
there (read as a string column: Arrow then names a line where it is a number, list or
object). It names the line where it fails, and a control record or a record missing its
key, a value or its text (or with blank or too long text) is named too; :mod:`.blocks`
decodes around those, record by record.

>>> from rnnstream.connectors.decode import RecordDecoder
>>> from rnnstream.engine.keys import KeyTable
>>> dec = RecordDecoder("src", KeyTable(), width=1)
>>> b = decode_json_block(dec, b'{"key":"a","ts":1,"value":2.5}\\n{"key":"a","value":"x"}\\n{"key":"b","ts":2,"value":3}\\n')
>>> b.values.ravel().tolist(), b.ts.tolist(), [d.reason for d in b.dead]
([2.5, 3.0], [1.0, 2.0], ['non_numeric'])
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from rnnstream.connectors.blocks import (NUMBERS, Columns, Suspect, decode_block, first, key_column, text_column,
                                        value_columns)
from rnnstream.connectors.decode import RecordDecoder
from rnnstream.engine.records import RecordBatch

__all__ = ["decode_json_block", "read_json_lines"]

_READ = pj.ReadOptions(use_threads=False)  # the pipeline is single-threaded on purpose
_ROW = re.compile(r"in row (\d+)")
_NUMBER = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"  # a JSON number, as Arrow keeps it in text


def decode_json_block(dec: RecordDecoder, block: bytes, positions: np.ndarray | None = None) -> RecordBatch:
    """Decode the JSON lines in ``block``; ``positions[i]`` is line i's position for dead letters."""
    parse = None if dec.text_field is None else pj.ParseOptions(
        explicit_schema=pa.schema([(dec.text_field, pa.string())]), unexpected_field_behavior="infer")
    return decode_block(dec, block, positions, lambda data, n: _columns(dec, data, n, parse), dec.decode_json)


def read_json_lines(data: bytes, n: int, parse: pj.ParseOptions | None) -> pa.Table | None:
    """Arrow's table of the ``n`` JSON lines in ``data``; :class:`Suspect` names the line Arrow
    cannot read; None when it names none, or reads another number of records."""
    try:
        table = pj.read_json(pa.py_buffer(data), read_options=_READ, parse_options=parse)
    except pa.ArrowInvalid as exc:
        row = _ROW.search(str(exc))
        if row is not None and 0 <= int(row.group(1)) < n:
            raise Suspect(int(row.group(1))) from None
        return None
    return table if table.num_rows == n else None


def _columns(dec: RecordDecoder, data: bytes, n: int, parse: pj.ParseOptions | None) -> Columns | None:
    table = read_json_lines(data, n, parse)
    if table is None:
        return None
    names = table.column_names
    if "control" in names and table.column("control").null_count < n:
        raise Suspect(first(table.column("control").combine_chunks().is_valid()))
    for name in (dec.key_field, *dec.value_fields):  # a record without its key or a value
        if name in names and 0 < table.column(name).null_count < n:
            raise Suspect(first(table.column(name).combine_chunks().is_null()))
    for name in dec.value_fields:
        # Arrow reads a column with a number here and text there as text: decode around the
        # first entry that is not a number.
        col = table.column(name).combine_chunks() if name in names else None
        if col is not None and col.type == pa.string():
            odd = pc.invert(pc.match_substring_regex(col, _NUMBER))
            if pc.any(odd).as_py() and not pc.all(odd).as_py():
                raise Suspect(first(odd))
    keys = key_column(table, dec.key_field)
    values = value_columns(table, dec.value_fields, dec.width, n)
    text = None if dec.text_field is None else text_column(table, dec)
    if keys is None or values is None or (text is None and dec.text_field is not None):
        return None
    ts = None
    if dec.ts_field in names:
        col = table.column(dec.ts_field)
        if col.type not in NUMBERS or col.null_count:
            return None  # ISO strings and missing timestamps: the per-record path parses them
        ts = col.to_numpy().astype(np.float64)
        if not np.isfinite(ts).all():
            return None
    return keys, ts, values, text
