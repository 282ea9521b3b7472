"""Output rows as JSON lines, built from the columns in bulk (Arrow compute kernels), not one
``json.dumps`` per row.

Every row is ``{"key", "ts", "value", <meta columns>, <operator>: {<field>: ...}}``, the same
layout as :meth:`~rnnstream.engine.records.OutputBatch.rows`. Numbers keep round-trip precision:
a float32 output is written as the shortest text that reads back to the same float32, a float64
as the shortest for float64. ``float_precision`` rounds to that many decimals instead. NaN and
infinities, which JSON cannot hold, are written as ``null``. Numeric and boolean columns of
any shape, and string columns (keys, input text, an ASR operator's text), are formatted
without a Python object per row: strings are escaped with Arrow kernels, as orjson escapes
them. Other object columns (an ASR operator's words) are encoded per row with orjson.

>>> import numpy as np
>>> from rnnstream.engine.records import OutputBatch
>>> b = OutputBatch(keys=np.array(["a", 'b"'], object), key_ids=np.array([0, 1]), ts=np.array([1.5, 2.0]),
...                 values=np.array([[0.1], [np.nan]], np.float32), ingest=np.zeros(2),
...                 fields={"f": {"p": np.array([[1.0, 2.5], [3.0, 4.0]]), "alert": np.array([True, False])}})
>>> print(encode_jsonl(b).decode(), end="")
{"key":"a","ts":1.5,"value":0.1,"f":{"p":[1.0,2.5],"alert":true}}
{"key":"b\\"","ts":2.0,"value":null,"f":{"p":[3.0,4.0],"alert":false}}
>>> print(*json_strings(np.array(['say "hi"\\n', "tab\\there", None], object)).to_pylist())
"say \\"hi\\"\\n" "tab\\there" null
"""

from __future__ import annotations

import time

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from rnnstream.engine.records import OutputBatch

__all__ = ["encode_jsonl", "encode_values", "json_column", "json_strings"]

_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_SHORT = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}  # orjson's (and JSON's) short escapes


def json_strings(values: np.ndarray | pa.Array) -> pa.Array:
    """JSON string literals (quoted, escaped as orjson does) for an array of strings; None is ``null``."""
    arr = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    special = pc.fill_null(pc.match_substring_regex(arr, _NEEDS_ESCAPE), False)
    if pc.any(special).as_py():
        # Escape just the rows that need it: backslashes first (the escapes add more), then
        # quotes, then only the control characters that occur (a byte < 0x20 in UTF-8 is one).
        rows = pc.replace_substring(pc.filter(arr, special), "\\", "\\\\")
        rows = pc.replace_substring(rows, '"', '\\"')
        data = np.frombuffer(rows.buffers()[2], np.uint8)
        for c in np.unique(data[data < 32]).tolist():
            rows = pc.replace_substring(rows, chr(c), _SHORT.get(c, f"\\u{c:04x}"))
        arr = pc.replace_with_mask(arr, special, rows)
    return pc.fill_null(pc.binary_join_element_wise('"', arr, '"', ""), "null")


def _numbers(flat: np.ndarray, precision: int | None) -> pa.Array:
    if flat.dtype == np.bool_:
        return pc.if_else(pa.array(flat), "true", "false")
    if np.issubdtype(flat.dtype, np.integer):
        return pc.cast(pa.array(flat), pa.string())
    if precision is not None:
        flat = np.round(flat, precision)
    text = pc.cast(pa.array(flat), pa.string())
    finite = np.isfinite(flat)
    if not finite.all():
        text = pc.if_else(pa.array(finite), text, "null")
    return text


def _orjson_rows(col: np.ndarray, precision: int | None) -> pa.Array | None:
    """A numeric ``[N]`` or ``[N, M]`` column in one orjson call (shortest round-trip text, NaN
    and infinities as null), cut into rows with numpy: no object per row. None if orjson cannot
    take the dtype (float16)."""
    if precision is not None and col.dtype.kind == "f":
        col = np.round(col, precision)
    try:
        text = orjson.dumps(np.ascontiguousarray(col), option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:
        return None
    buf = np.frombuffer(text, np.uint8)
    n = col.shape[0]
    if col.ndim == 1:
        cuts = np.flatnonzero(buf == 44)  # "a,b,c": numbers hold no comma
    else:
        cuts = np.flatnonzero((buf[1:] == 44) & (buf[:-1] == 93)) + 1  # "[..],[..]": only rows end in "],"
    if cuts.size != n - 1:
        return None
    bounds = np.r_[0, cuts, buf.size - 1]  # the outer brackets and the commas between rows
    keep = np.ones(buf.size, bool)
    keep[bounds] = False
    offsets = np.r_[0, np.cumsum(np.diff(bounds) - 1)].astype(np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf[keep]))


def json_column(col: np.ndarray, precision: int | None = None) -> pa.Array:
    """One JSON value per row for a column ``[N, ...]``: numbers, booleans, nested lists, or
    (object columns) whatever orjson makes of each element."""
    n = col.shape[0]
    if col.dtype == object or col.dtype.kind == "U":
        if col.ndim == 1:
            try:
                return json_strings(pa.array(col, pa.string()))
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                pass  # not all strings (an ASR operator's word lists): per row below
        return pa.array([orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY).decode() for v in col.tolist()],
                        pa.string())
    if col.ndim <= 2 and col.dtype.kind in "fiub" and col.size:
        text = _orjson_rows(col, precision)
        if text is not None:
            return text
    if col.size == 0:  # no values per row (text-only records): every row holds the same empty lists
        return pa.repeat(pa.scalar(orjson.dumps(np.zeros(col.shape[1:]).tolist()).decode()), n)
    text = _numbers(np.ascontiguousarray(col).reshape(-1), precision)
    for size in reversed(col.shape[1:]):  # innermost axis first: join into "[a,b]" and go out a level
        offsets = pa.array(np.arange(0, len(text) + 1, size, dtype=np.int32))
        text = pc.binary_join_element_wise("[", pc.binary_join(pa.ListArray.from_arrays(offsets, text), ","), "]", "")
    if len(text) != n:
        raise ValueError(f"column of shape {col.shape} gave {len(text)} JSON values")
    return text


def encode_jsonl(batch: OutputBatch, *, float_precision: int | None = None) -> bytes:
    """The batch as JSON lines, one object per row, newline-terminated."""
    if not len(batch):
        return b""
    t0 = time.perf_counter()
    values = batch.values
    parts: list = ['{"key":', json_strings(batch.keys), ',"ts":', json_column(batch.ts, float_precision),
                   ',"value":', json_column(values[:, 0] if values.ndim == 2 and values.shape[1] == 1 else values,
                                            float_precision)]
    for name, col in batch.meta.items():
        parts += [f",{orjson.dumps(name).decode()}:", json_column(col, float_precision)]
    for op, fields in batch.fields.items():
        sep = f",{orjson.dumps(op).decode()}:{{"
        for name, col in fields.items():
            parts += [f"{sep}{orjson.dumps(name).decode()}:", json_column(col, float_precision)]
            sep = ","
        parts.append("}" if fields else f",{orjson.dumps(op).decode()}:{{}}")
    parts.append("}\n")
    line = pc.binary_join_element_wise(*parts, "")
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int32, count=len(line) + 1, offset=line.offset * 4)
    out = line.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
    batch.encode_s += time.perf_counter() - t0
    return out


def encode_values(batch: OutputBatch, *, float_precision: int | None = None) -> list[bytes]:
    """One JSON object per row, for sinks that send a message per row (Kafka, MQTT).

    JSON text never holds a raw newline, so cutting the lines apart is exact.
    """
    return encode_jsonl(batch, float_precision=float_precision).split(b"\n")[:-1]
