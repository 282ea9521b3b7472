r"""``rnnstream bench decode``: record decoders side by side, each into RecordBatch columns.

Each method turns one block of bytes into key ids (interned in a fresh :class:`KeyTable`,
inside the timing), ``ts`` float64 and ``values`` float32 ``[N, 1]``, compared with today's
:class:`RecordDecoder` (a difference is a field of the row). The plain readers assume the clean
schema and fail a whole block on one bad record; :func:`decode_json_block` is the fallback.

>>> block = b'{"key": "a", "ts": 1, "value": 2.5}\n{"key": "a", "value": "x"}\n'
>>> keys, ts, values, dead = decode_json_block(block, engine="pyarrow")
>>> keys.tolist(), values.tolist(), dead
(['a'], [[2.5]], [(1, 'non_numeric')])
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from rnnstream.connectors.decode import RecordDecoder
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import DATA

__all__ = ["make_block", "run_decode_bench", "format_decode_table", "decode_json_block", "DecodedBlock", "intern_keys"]

_BAD = {"json": (b'{"key": "k0", "ts": 1700000000.5, "val', b'{"key": "k0", "ts": 1700000000.5, "value": "n/a"}',
                 b'{"ts": 1700000000.5, "value": 1.25}'),
        "csv": (b"k0,1700000000.5", b"k0,1700000000.5,n/a", b",1700000000.5,1.25")}
_SMALL = 16  # a failing run this short goes to today's decoder whole: bisecting costs more


def make_block(n_records: int, n_keys: int, fmt: str, *, seed: int = 0, bad_fraction: float = 0.0) -> bytes:
    """``n_records`` JSON lines, or CSV rows after a ``key,ts,value`` header. With ``bad_fraction``,
    that share of the lines (at least one), at random places, is cut short, has a non-numeric
    value, or has no key, in turn.

    >>> make_block(2, 5, "csv").splitlines()
    [b'key,ts,value', b'k4,1700000000.003,5.25', b'k3,1700000000.01,-26.78']
    """
    if fmt not in _BAD:
        raise ValueError(f"fmt must be 'json' or 'csv', not {fmt!r}")
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, n_keys, n_records).tolist()
    # Millisecond timestamps and 2-decimal values: short, and exact round trips through repr.
    ts = np.round(1_700_000_000 + np.arange(n_records) * 0.01 + rng.random(n_records) * 0.01, 3).tolist()
    vals = np.round(rng.normal(0.0, 50.0, n_records), 2).tolist()
    row = b'{"key": "k%d", "ts": %r, "value": %r}' if fmt == "json" else b"k%d,%r,%r"
    lines = [row % r for r in zip(keys, ts, vals)]
    if bad_fraction > 0 and n_records:
        n_bad = min(n_records, max(1, round(n_records * bad_fraction)))
        for j, i in enumerate(rng.choice(n_records, n_bad, replace=False).tolist()):
            lines[i] = _BAD[fmt][j % 3]
    return b"\n".join(([b"key,ts,value"] if fmt == "csv" else []) + lines) + b"\n"


def intern_keys(table: KeyTable, keys: Any) -> np.ndarray:
    """Ids for key strings (a list or an Arrow string array): Arrow's hash dictionary-encodes the
    column, so only the unique keys reach :meth:`KeyTable.intern_many` as Python strings."""
    enc = pc.dictionary_encode(keys if isinstance(keys, pa.Array) else pa.array(keys, pa.string()))
    return table.intern_many(enc.dictionary.to_numpy(zero_copy_only=False))[enc.indices.to_numpy()]


# -- decode_json_block: the fallback -------------------------------------------------------------
class DecodedBlock(tuple):
    """``(keys, ts, values, dead)``; ``kind`` (DATA/RESET/END) and ``line_no`` per row ride along:
    control records are rows too, and a source needs each row's line for its offsets."""

    def __new__(cls, keys, ts, values, dead, kind, line_no) -> DecodedBlock:
        self = super().__new__(cls, (keys, ts, values, dead))
        self.kind, self.line_no = kind, line_no
        return self


class _Miss(Exception):
    """The fast pass failed on a run; ``row`` (run-relative) or ``byte`` locate it when known."""

    def __init__(self, exc: Exception | None = None, pattern: str = "", *, byte: bool = False) -> None:
        m = re.search(pattern, str(exc)) if exc else None
        self.row, self.byte = (None, None) if not m else (None, int(m[1])) if byte else (int(m[1]), None)


@lru_cache(maxsize=8)
def _msgspec_engine(key_field: str, ts_field: str, value_field: str):
    import msgspec  # not a dependency of rnnstream: only this engine needs it
    # `control` must be a field: a struct drops unknown fields, and an end/reset record read as
    # data would be wrong. gc=False: the structs hold no containers.
    rec = msgspec.defstruct("Rec", [("k", str), ("t", float | None, None), ("v", float | None, None),
                                    ("c", str | None, None)],
                            rename={"k": key_field, "t": ts_field, "v": value_field, "c": "control"}, gc=False)
    dec = msgspec.json.Decoder(rec)

    def fast(buf) -> list[pa.Array]:
        try:
            recs = dec.decode_lines(buf)
        except msgspec.ValidationError as exc:  # "... - at `$[12].value`": the 12th record
            raise _Miss(exc, r"\$\[(\d+)\]") from None
        except msgspec.DecodeError as exc:  # "... (byte 1234)"
            raise _Miss(exc, r"\(byte (\d+)\)", byte=True) from None
        # Arrow builds the columns from the lists in C, None as null: the checks after are vectorised.
        return [pa.array([r.k for r in recs], pa.string()), pa.array([r.t for r in recs], pa.float64()),
                pa.array([r.v for r in recs], pa.float64()), pa.array([r.c for r in recs], pa.string())]
    return fast


@lru_cache(maxsize=8)
def _pa_json_options(key_field: str, ts_field: str, value_field: str) -> pa_json.ParseOptions:
    schema = pa.schema([(key_field, pa.string()), (ts_field, pa.float64()), (value_field, pa.float64()),
                        ("control", pa.string())])
    return pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")


def _pyarrow_engine(*fields: str):
    def fast(buf) -> list[pa.Array]:
        # One block for the whole run, so that Arrow's "in row N" counts from the run's start.
        opts = pa_json.ReadOptions(use_threads=False, block_size=max(len(buf) + 1, 1 << 16))
        try:
            tab = pa_json.read_json(pa.BufferReader(buf), read_options=opts, parse_options=_pa_json_options(*fields))
        except pa.ArrowInvalid as exc:
            raise _Miss(exc, r"in row (\d+)") from None
        return [c.combine_chunks() for c in tab.columns]
    return fast


_ENGINES = {"msgspec": _msgspec_engine, "pyarrow": _pyarrow_engine}


def _lines(block: bytes, max_record_bytes: int):
    """Line spans, the lines the fast pass may take (one whole object each), and the rest."""
    buf = np.append(np.frombuffer(block, np.uint8), np.uint8(10))  # a newline ends the last line
    ends = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], ends[:-1] + 1))
    first, last = buf[starts], buf[ends - 1]  # both a newline exactly when the line is empty
    # A line that starts with '{' and ends with '}' yields at least one record or an error, never
    # none, so records and lines can only fall out of step by a count mismatch, which is caught.
    fast = (first == 123) & (last == 125) & (ends - starts <= max_record_bytes)
    slow: list[int] = []
    for i in np.flatnonzero(~fast & (first != 10)).tolist():  # \r\n endings, padding, oversized, not objects
        raw = block[starts[i]:ends[i]].rstrip(b"\r\n")
        s = raw.strip()
        if s[:1] == b"{" and s[-1:] == b"}" and len(raw) <= max_record_bytes:
            fast[i] = True
        elif s:  # a blank line is skipped, as the file source skips it
            slow.append(i)
    # Neither parser checks UTF-8 in fields it skips (pyarrow not even in those it reads), and
    # today rejects such a line whole: if the block is not UTF-8, today judges its non-ASCII lines.
    if not block.isascii():
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            non_ascii = np.unique(np.searchsorted(starts, np.flatnonzero(buf >= 128), side="right") - 1)
            fast[non_ascii] = False
            slow += non_ascii.tolist()
    return starts, ends, np.flatnonzero(fast), sorted(set(slow))


def _judge(dec: RecordDecoder, raws: list[bytes], lines: list[int]) -> tuple[list[tuple], list[tuple]]:
    """Today's decoder on ``raws``: pieces of rows (see decode_json_block) and dead pairs."""
    try:
        b = dec.decode_json(raws, lines)
    except OverflowError:  # today's decoder raises on an integer beyond float range: line by line
        if len(lines) > 1:
            parts = [_judge(dec, [r], [i]) for r, i in zip(raws, lines)]
            return [x for p in parts for x in p[0]], [x for p in parts for x in p[1]]
        ts = json.loads(raws[0]).get(dec.ts_field)
        return [], [(lines[0], "bad_timestamp" if isinstance(ts, int) and abs(ts) > 1e308 else "non_finite")]
    gone = {d.position for d in b.dead}
    kept = np.array([i for i in lines if i not in gone], np.int64)
    return [(kept, dec.keys.names(b.key_ids), b.ts, b.values[:, 0], b.kind)], [(d.position, d.reason) for d in b.dead]


def decode_json_block(block: bytes, keys: KeyTable | None = None, engine: str = "msgspec", *,
                      key_field: str = "key", ts_field: str = "ts", value_field: str = "value",
                      max_record_bytes: int = 65536, now: float | None = None) -> DecodedBlock:
    """Decode JSON lines: ``(keys, ts, values, dead)``, ``dead`` as ``(line_no, reason)`` (from 0).

    ``keys`` are ids interned in ``keys`` if given, else strings; blank lines are skipped. ``engine``
    decodes runs of lines at once; a failed run is narrowed to the failing line by the parser's
    error position (bisected if none fits). That line, lines the fast pass cannot take (controls,
    odd layouts, oversized) and rows it doubts go to today's :class:`RecordDecoder`, so values and
    reasons are today's. A record without a timestamp gets ``now`` (default: the wall clock)."""
    if engine not in _ENGINES:
        raise ValueError(f"engine must be one of {sorted(_ENGINES)}, not {engine!r}")
    fast = _ENGINES[engine](key_field, ts_field, value_field)
    now = time.time() if now is None else now
    starts, ends, fast_lines, slow = _lines(block, max_record_bytes)
    view = memoryview(block)  # runs are slices of the block, not copies

    def run(a: int, b: int) -> list[pa.Array]:  # fast lines [a, b): one byte range, blank lines inside
        cols = fast(view[starts[fast_lines[a]]:ends[fast_lines[b - 1]]])
        if len(cols[0]) != b - a:
            raise _Miss()
        return cols

    # (line numbers, keys, ts, values, kind) per piece; an empty one, so that an empty block concatenates
    pieces: list[tuple] = [(np.empty(0, np.int64), pa.array([], pa.string()), np.empty(0), np.empty(0, np.float32),
                            np.empty(0, np.int8))]
    # Runs of fast lines not broken by a slow one, left to right (the stack pops the first).
    cut = np.flatnonzero(np.diff(np.searchsorted(np.array(slow, np.int64), fast_lines))) + 1
    edges = [0, *cut.tolist(), len(fast_lines)]
    stack = [(a, b) for a, b in zip(edges[:-1], edges[1:]) if a < b][::-1]
    while stack:
        a, b = stack.pop()
        try:
            key, ts, val, ctl = run(a, b)
        except _Miss as miss:
            if b - a <= _SMALL:  # bisecting further costs more than today's decoder on the lines
                slow.extend(fast_lines[a:b].tolist())
                continue
            c = None if miss.row is None else a + miss.row
            if miss.byte is not None:
                line = np.searchsorted(starts, starts[fast_lines[a]] + miss.byte, side="right") - 1
                c = int(np.searchsorted(fast_lines, line))
            if c is not None and a <= c < b:
                try:  # the position is only a hint: the line must fail alone too
                    run(c, c + 1)
                except _Miss:
                    slow.append(int(fast_lines[c]))
                    stack += [r for r in ((c + 1, b), (a, c)) if r[0] < r[1]]
                    continue
            stack += [((a + b) // 2, b), (a, (a + b) // 2)]
            continue
        # Doubtful rows go to today's decoder for their reason: no or empty key, a control record,
        # no value, NaN/Inf or float32 overflow, a non-finite timestamp.
        odd = pc.or_(pc.or_(pc.is_null(key), pc.equal(key, "")), pc.or_(pc.is_valid(ctl), pc.is_null(val)))
        ts_np = np.where(pc.is_null(ts).to_numpy(zero_copy_only=False), now, ts.to_numpy(zero_copy_only=False))
        with np.errstate(over="ignore", invalid="ignore"):
            v32 = val.to_numpy(zero_copy_only=False).astype(np.float32)
        odd = pc.fill_null(odd, True).to_numpy(zero_copy_only=False) | ~np.isfinite(v32) | ~np.isfinite(ts_np)
        lines, keep = fast_lines[a:b], ~odd
        slow.extend(lines[odd].tolist())
        pieces.append((lines[keep], key.filter(keep), ts_np[keep], v32[keep], np.full(int(keep.sum()), DATA, np.int8)))
    slow = sorted(slow)
    dec = RecordDecoder("block", KeyTable(), width=1, key_field=key_field, ts_field=ts_field,
                        value_fields=[value_field], max_record_bytes=max_record_bytes)
    judged, dead = _judge(dec, [block[starts[i]:ends[i]].rstrip(b"\r\n") for i in slow], slow)
    return _assemble(pieces + judged, sorted(dead), keys)


def _assemble(pieces: list[tuple], dead: list, table: KeyTable | None) -> DecodedBlock:
    """The pieces' columns in line order, keys interned in ``table`` or as strings."""
    lines, ts, values, kind = (np.concatenate([p[i] for p in pieces]) for i in (0, 2, 3, 4))
    try:
        keys = pa.concat_arrays([k if isinstance(k, pa.Array) else pa.array(k, pa.string()) for _, k, *_ in pieces])
    except UnicodeEncodeError:  # today takes a key with a lone surrogate escape; Arrow cannot hold it
        keys = np.concatenate([np.asarray(k.to_pylist() if isinstance(k, pa.Array) else k, object)
                               for _, k, *_ in pieces])
    if not np.all(lines[1:] > lines[:-1]):  # judged lines join the fast runs: back into line order
        order = np.argsort(lines, kind="stable")
        lines, ts, values, kind, keys = lines[order], ts[order], values[order], kind[order], keys.take(order)
    if table is not None:
        keys = intern_keys(table, keys) if isinstance(keys, pa.Array) else table.intern_many(keys)
    keys = keys.to_numpy(zero_copy_only=False) if isinstance(keys, pa.Array) else keys
    return DecodedBlock(keys, ts, values.reshape(-1, 1), dead, kind, lines)


# -- the bench -----------------------------------------------------------------------------------
# Each method: (block, fresh KeyTable) -> (key ids, ts, values, dead). The bench's blocks end
# lines with "\n" alone, so bytes.splitlines() splits them as the file source does.
def _cols(table: KeyTable, keys, ts, vals) -> tuple:
    vals = np.asarray(vals, np.float64).astype(np.float32).reshape(-1, 1)  # via float64, as today
    return intern_keys(table, keys), np.asarray(ts, np.float64), vals, []


def _today(block: bytes, table: KeyTable, fmt: str) -> tuple:
    lines, dec = block.splitlines(), RecordDecoder("bench", table, width=1)
    if fmt == "json":
        b = dec.decode_json(lines, range(len(lines)))
    else:  # the header as the file source reads it
        b = dec.decode_csv(lines[1:], next(csv.reader([lines[0].decode()])), range(1, len(lines)))
    return b.key_ids, b.ts, b.values, sorted((d.position, d.reason) for d in b.dead)


def _per_line(block: bytes, table: KeyTable, loads) -> tuple:
    objs = [loads(line) for line in block.splitlines()]
    return _cols(table, [o["key"] for o in objs], [o["ts"] for o in objs], [o["value"] for o in objs])


@lru_cache(maxsize=1)
def _clean_decoders():
    import msgspec  # not a dependency of rnnstream: without it these rows say so
    # array_like=True would need each record sent as a JSON array; ours are objects.
    rec = msgspec.defstruct("Clean", [("key", str), ("ts", float), ("value", float)], gc=False)
    return msgspec.json.Decoder(rec), msgspec.json.Decoder(list[rec])


def _msgspec(block: bytes, table: KeyTable, how: str) -> tuple:
    one, many = _clean_decoders()
    if how == "decode_lines":  # the block as it is: no split, no copy
        recs = one.decode_lines(block)
    else:
        lines = block.splitlines()
        recs = [one.decode(x) for x in lines] if how == "line" else many.decode(b"[" + b",".join(lines) + b"]")
    return _cols(table, [r.key for r in recs], [r.ts for r in recs], [r.value for r in recs])


def _pyarrow(block: bytes, table: KeyTable, fmt: str) -> tuple:
    # One thread, like every other method (Arrow's pool gained under 5% on the 2 shared cores tried).
    if fmt == "json":
        tab = pa_json.read_json(pa.BufferReader(block), pa_json.ReadOptions(False, len(block) + 1),
                                _pa_json_options("key", "ts", "value"))
    else:
        types = {"key": pa.string(), "ts": pa.float64(), "value": pa.float64()}
        tab = pa_csv.read_csv(pa.BufferReader(block), pa_csv.ReadOptions(use_threads=False, block_size=len(block) + 1),
                              convert_options=pa_csv.ConvertOptions(column_types=types, include_columns=list(types)))
    # combine_chunks: one dictionary for the whole key column, not one per chunk
    return _cols(table, tab.column("key").combine_chunks(), tab.column("ts").to_numpy(), tab.column("value").to_numpy())


def _csv(block: bytes, table: KeyTable, how: str) -> tuple:
    if how == "loadtxt":  # columns by position: the bench's header is key,ts,value
        arr = np.loadtxt(io.BytesIO(block), dtype=[("key", object), ("ts", "f8"), ("value", "f8")], delimiter=",",
                         skiprows=1, quotechar='"', encoding="utf-8")
        return _cols(table, arr["key"], arr["ts"], arr["value"])
    keys, ts, vals = zip(*list(csv.reader(io.StringIO(block.decode("utf-8"))))[1:])
    return _cols(table, list(keys), [float(t) for t in ts], [float(v) for v in vals])


# format -> (method, call, arguments, columnar, objects per record); today first: the others are compared with it.
_METHODS = {
    "json": [("today", _today, ("json",), False, True), ("json.loads", _per_line, (json.loads,), False, True),
             ("orjson.loads", _per_line, (orjson.loads,), False, True),
             ("msgspec per line", _msgspec, ("line",), False, True),
             ("msgspec array", _msgspec, ("array",), False, True),
             ("msgspec decode_lines", _msgspec, ("decode_lines",), False, True),
             ("pyarrow.json", _pyarrow, ("json",), True, False),
             ("decode_json_block msgspec", decode_json_block, (), False, True),
             ("decode_json_block pyarrow", decode_json_block, ("pyarrow",), True, False)],
    "csv": [("today", _today, ("csv",), False, True), ("csv module", _csv, ("csv",), False, True),
            ("numpy.loadtxt", _csv, ("loadtxt",), True, True), ("pyarrow.csv", _pyarrow, ("csv",), True, False)],
}
_WITH_BAD = ("today", "msgspec decode_lines", "pyarrow.json", "decode_json_block msgspec", "decode_json_block pyarrow")


def _diff(ref: tuple, got: tuple) -> str:  # '' when got has today's columns and dead records
    (rt, rid, rts, rv, rd), (gt, gid, gts, gv, gd) = ref, got
    if len(gid) != len(rid) or gts.dtype != np.float64 or gv.dtype != np.float32 or gv.shape != rv.shape:
        return f"{len(gid)} rows (today {len(rid)}), ts {gts.dtype}, values {gv.dtype} {gv.shape}"
    same = {"keys": np.array_equal(gt.names(gid), rt.names(rid)), "ts": np.array_equal(gts, rts),
            "values": np.array_equal(gv, rv), "dead records": list(gd) == list(rd)}
    return ", ".join(f"{name} differ" for name, ok in same.items() if not ok)


def run_decode_bench(n_records: int = 200_000, n_keys: int = 10_000, budget_s: float = 1.0, *,
                     bad_fraction: float = 0.001, seed: int = 0) -> list[dict]:
    """A row per format and method: records/s (best call in ``budget_s``, at least one), ``x_today``,
    ``mismatch`` ('' if the columns are today's); the JSON ones again with ``bad_fraction`` bad lines."""
    cases = [("json", "json", 0.0, _METHODS["json"]), ("csv", "csv", 0.0, _METHODS["csv"])]
    cases += [(f"json, {bad_fraction:.1%} bad", "json", bad_fraction,
               [m for m in _METHODS["json"] if m[0] in _WITH_BAD])] if bad_fraction > 0 else []
    rows = []
    for label, fmt, frac, methods in cases:
        block = make_block(n_records, n_keys, fmt, seed=seed, bad_fraction=frac)
        ref = ref_s = None
        for name, call, args, columnar, objects in methods:
            rows.append(row := {"format": label, "method": name, "records": n_records, "columnar": columnar,
                                "objects_per_record": objects, "records_per_s": None, "x_today": None, "mismatch": ""})
            best, out, t_end = float("inf"), None, time.perf_counter() + budget_s
            try:
                while out is None or time.perf_counter() < t_end:
                    table, t0 = KeyTable(), time.perf_counter()
                    out = (table, *call(block, table, *args))
                    best = min(best, time.perf_counter() - t0)
            except Exception as exc:  # a reader failing the whole block (or not installed) is a result
                row["mismatch"] = f"fails the block: {type(exc).__name__}: {str(exc)[:90]}"
                continue
            if ref is None:
                ref, ref_s = out, best
            row.update(records_per_s=n_records / best, x_today=ref_s / best, mismatch=_diff(ref, out), dead=len(out[4]))
    return rows


def format_decode_table(rows: list[dict]) -> str:
    """A Markdown table of :func:`run_decode_bench` rows.

    >>> print(format_decode_table([{"format": "json", "method": "today", "records_per_s": 201234.5,
    ...                             "x_today": 1.0, "columnar": False, "objects_per_record": True, "mismatch": ""}]))
    | format | method | records/s | × today | columnar | objects per record | same as today |
    |---|---|---:|---:|---|---|---|
    | json | today | 201,234 | 1.00 | no | yes | yes |
    """
    out = ["| format | method | records/s | × today | columnar | objects per record | same as today |",
           "|---|---|---:|---:|---|---|---|"]
    for r in rows:
        rate = "—" if r["records_per_s"] is None else f"{r['records_per_s']:,.0f}"
        ratio = "—" if r["x_today"] is None else f"{r['x_today']:.2f}"
        out.append(f"| {r['format']} | {r['method']} | {rate} | {ratio} | {('no', 'yes')[r['columnar']]} | "
                   f"{('no', 'yes')[r['objects_per_record']]} | {r['mismatch'] or 'yes'} |")
    return "\n".join(out)
