r"""``rnnstream bench decode``: record decoders side by side, each into RecordBatch columns.

Each method turns one block of bytes into key ids (interned in a fresh :class:`KeyTable`,
inside the timing), ``ts`` float64 and ``values`` float32 ``[N, 1]``, compared with today's
:class:`RecordDecoder` (a difference is a field of the row). The raw methods assume the clean
schema and fail a whole block on one bad record. The ``product`` row is the block decoder the
file and stdin sources use, :func:`rnnstream.connectors.jsonblock.decode_json_block`, on the
clean block and on the block with bad lines; ``msgspec decode_lines, narrowed`` is a measured
alternative for the bad block (the parser's error position names the bad line).

>>> rows = run_decode_bench(200, 10, 0.0)
>>> [(r["format"], r["dead"], r["mismatch"]) for r in rows if r["method"] == "product"]
[('json', 0, ''), ('json, 0.1% bad', 1, '')]
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
from rnnstream.connectors.jsonblock import decode_json_block
from rnnstream.engine.keys import KeyTable

__all__ = ["make_block", "run_decode_bench", "format_decode_table", "intern_keys"]

_BAD = {"json": (b'{"key": "k0", "ts": 1700000000.5, "val', b'{"key": "k0", "ts": 1700000000.5, "value": "n/a"}',
                 b'{"ts": 1700000000.5, "value": 1.25}'),
        "csv": (b"k0,1700000000.5", b"k0,1700000000.5,n/a", b",1700000000.5,1.25")}
_PA_JSON = pa_json.ParseOptions(explicit_schema=pa.schema([("key", pa.string()), ("ts", pa.float64()),
                                                          ("value", pa.float64())]),
                                unexpected_field_behavior="ignore")


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


def _msgspec_narrowed(block: bytes, table: KeyTable) -> tuple:
    """decode_lines from the first line not yet read; a failure's position (a record index or a
    byte) names the bad line, the lines before it are decoded again, and the pass goes on after it.
    Only the bad lines reach today's decoder, for their reasons (no bisection, no other fallback)."""
    import msgspec

    one, _ = _clean_decoders()
    starts = np.r_[0, np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + 1]  # the last: the block's end
    view, recs, bad, line = memoryview(block), [], [], 0
    while line < starts.size - 1:
        try:
            recs += one.decode_lines(view[int(starts[line]):])
            break
        except msgspec.ValidationError as exc:  # "... - at `$[12].value`": the 12th record from here
            i = line + int(re.search(r"\$\[(\d+)\]", str(exc))[1])
        except msgspec.DecodeError as exc:  # "... (byte 1234)", from here
            at = int(starts[line]) + int(re.search(r"\(byte (\d+)\)", str(exc))[1])
            i = min(int(np.searchsorted(starts, at, side="right")) - 1, starts.size - 2)
        recs += one.decode_lines(view[int(starts[line]):int(starts[i])])
        bad.append(i)
        line = i + 1
    judged = RecordDecoder("bench", table, width=1).decode_json(
        [block[starts[i]:starts[i + 1] - 1] for i in bad], bad)
    cols = _cols(table, [r.key for r in recs], [r.ts for r in recs], [r.value for r in recs])
    return (*cols[:3], sorted((d.position, d.reason) for d in judged.dead))


def _product(block: bytes, table: KeyTable) -> tuple:
    """The sources' block decoder; dead records positioned by line, as in :func:`_today`."""
    b = decode_json_block(RecordDecoder("bench", table, width=1), block, np.arange(block.count(b"\n")))
    return b.key_ids, b.ts, b.values, sorted((d.position, d.reason) for d in b.dead)


def _pyarrow(block: bytes, table: KeyTable, fmt: str) -> tuple:
    # One thread, like every other method (Arrow's pool gained under 5% on the 2 shared cores tried).
    if fmt == "json":
        tab = pa_json.read_json(pa.BufferReader(block), pa_json.ReadOptions(False, len(block) + 1), _PA_JSON)
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
             ("msgspec decode_lines, narrowed", _msgspec_narrowed, (), False, True),
             ("product", _product, (), True, False)],
    "csv": [("today", _today, ("csv",), False, True), ("csv module", _csv, ("csv",), False, True),
            ("numpy.loadtxt", _csv, ("loadtxt",), True, True), ("pyarrow.csv", _pyarrow, ("csv",), True, False)],
}
_BAD_ONLY = ("msgspec decode_lines, narrowed",)  # on a clean block, msgspec decode_lines itself
_WITH_BAD = ("today", "msgspec decode_lines", "pyarrow.json", "msgspec decode_lines, narrowed", "product")


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
    cases = [("json", "json", 0.0, [m for m in _METHODS["json"] if m[0] not in _BAD_ONLY]),
             ("csv", "csv", 0.0, _METHODS["csv"])]
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
