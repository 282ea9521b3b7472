"""CSV lines to columns: Arrow's CSV reader on a run of data lines (driven by :mod:`.blocks`).

The key column is read as text, the value columns as numbers, and the timestamp as numbers
or as ISO 8601 text (a time without a zone is UTC, as in the per-record path), and the
``text_field`` column, if any, as text. A run with any other shape (a wrong column count, a
value that is not a number, an empty field, blank or too long text) goes down to the
per-record decoder, which names each bad record's reason.

>>> from rnnstream.connectors.decode import RecordDecoder
>>> from rnnstream.engine.keys import KeyTable
>>> dec = RecordDecoder("src", KeyTable(), width=1, ts_field="timestamp")
>>> b = decode_csv_block(dec, b'a,2014-04-01 00:00:00,1.5\\nb,2014-04-01T00:05:00Z,x\\n', ["key", "timestamp", "value"])
>>> b.values.ravel().tolist(), b.ts.tolist(), [d.reason for d in b.dead]
([1.5], [1396310400.0], ['non_numeric'])
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from rnnstream.connectors.blocks import NUMBERS, Columns, decode_block, key_column, text_column, value_columns
from rnnstream.connectors.decode import RecordDecoder
from rnnstream.engine.records import RecordBatch

__all__ = ["decode_csv_block"]


def decode_csv_block(dec: RecordDecoder, block: bytes, header: list[str],
                     positions: np.ndarray | None = None) -> RecordBatch:
    """Decode the CSV data lines in ``block`` (no header line) with the file's ``header``."""
    if len(set(header)) != len(header) or "control" in header:
        parse = None  # duplicate names or control records: only the per-record path reads those
    else:
        read = pcsv.ReadOptions(column_names=list(header), use_threads=False)
        text = [] if dec.text_field is None else [dec.text_field]
        convert = pcsv.ConvertOptions(
            column_types={dec.key_field: pa.string(), **{f: pa.string() for f in text},
                          **{f: pa.float64() for f in dec.value_fields}},
            strings_can_be_null=False, null_values=[], include_columns=[
                c for c in (dec.key_field, dec.ts_field, *dec.value_fields, *text) if c in header])

        def parse(data: bytes, n: int) -> Columns | None:
            return _columns(dec, pcsv.read_csv(pa.py_buffer(data), read_options=read, convert_options=convert), n)

    return decode_block(dec, block, positions, parse or (lambda data, n: None),
                        lambda raws, pos: dec.decode_csv(raws, header, pos))


def _columns(dec: RecordDecoder, table: pa.Table, n: int) -> Columns | None:
    if table.num_rows != n:
        return None
    keys = key_column(table, dec.key_field)
    values = value_columns(table, dec.value_fields, dec.width, n)
    text = None if dec.text_field is None else text_column(table, dec)
    if keys is None or values is None or (text is None and dec.text_field is not None):
        return None
    if dec.ts_field not in table.column_names:
        return keys, None, values, text
    col = table.column(dec.ts_field).combine_chunks()
    if col.type in NUMBERS:
        ts = col.to_numpy().astype(np.float64)
    else:
        if col.type == pa.string():
            if pc.any(pc.equal(col, "")).as_py():
                return None  # an empty timestamp means "now" per record: the per-record path does that
            col = pc.cast(col, pa.timestamp("us"))  # raises on text that is not ISO 8601: decoded per record
        if not pa.types.is_timestamp(col.type):
            return None
        ts = pc.cast(pc.cast(col, pa.timestamp("us", tz="UTC")), pa.int64()).to_numpy() / 1e6
    return (keys, ts, values, text) if np.isfinite(ts).all() else None
