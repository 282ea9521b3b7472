"""Kafka JSON messages to columns a poll at a time: Arrow's JSON reader over the plain messages.

A poll of plain JSON messages (no headers, a value of at most ``max_record_bytes``) is read
by one Arrow parse into the ts and value columns; the message keys become the key column in
one cast. Only the fields the decoder needs are read (an explicit schema: numbers, a list
of numbers, the control field), so other fields cost nothing and any type the per-message
path would treat differently (a numeric string, an ISO timestamp, a boolean) fails the parse.
A run Arrow cannot take is split around the row it names, a few times at most, as for files
(:func:`~rnnstream.connectors.blocks.split_runs`); what is left goes message by message
through :class:`~rnnstream.connectors.kafka_wire.WireDecoder`, which names each bad
message's reason. So a poll gives the same rows, in the same order, and the
same dead letters as message by message.

>>> msgs = [b'{"ts": %d, "value": %d, "other": {"x": [1]}}' % (i, i) for i in range(40)]
>>> msgs[30] = b'{"value": "4"}'  # a numeric string: the per-message path reads it
>>> run = PlainRun([b"a", b"b"] * 20, msgs, np.arange(40))
>>> cols, slow = json_columns(run, key_field="key", ts_field="ts", value_fields=["value"], width=1)
>>> [(int(c.rows[0]), int(c.rows[-1])) for c in cols], slow.tolist()
([(0, 29), (31, 39)], [30])
>>> cols[1].keys.to_pylist()[:2], cols[1].values[:2].ravel().tolist()
(['b', 'a'], [31.0, 32.0])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from rnnstream.connectors.blocks import Suspect, first, split_runs
from rnnstream.connectors.jsonblock import read_json_lines

__all__ = ["PlainRun", "RunColumns", "plain_messages", "json_columns"]


@dataclass
class PlainRun:
    """Messages the block path may take: their keys (all present or all absent), values, and
    their indices in the poll."""

    keys: list[bytes | None]
    values: list[bytes]
    rows: np.ndarray


@dataclass
class RunColumns:
    """What Arrow read from a run: ``rows`` (poll indices), keys, ``ts`` (NaN: use the message
    timestamp) and ``values`` ``[n, width]`` as float64."""

    rows: np.ndarray
    keys: pa.Array
    ts: np.ndarray
    values: np.ndarray


def plain_messages(keys: list, values: list, headers: list, max_record_bytes: int) -> list[PlainRun]:
    """The poll's plain messages, as up to two runs: with a message key, and without.

    A plain message has no headers (no control, content type or seq to read) and a non-empty
    value of at most ``max_record_bytes`` with no raw newline in it (legal JSON whitespace,
    but Arrow reads one record per line).
    """
    n = len(values)
    # The common poll (no headers, every value present) is checked with C-level list scans.
    if headers.count(None) == n and values.count(None) == 0:
        plain, vals = np.ones(n, bool), values
    else:
        plain = np.fromiter((h is None and v is not None for h, v in zip(headers, values)), bool, count=n)
        vals = [values[i] for i in np.flatnonzero(plain).tolist()]
    if not plain.any():
        return []
    idx = np.flatnonzero(plain)
    lengths = np.fromiter(map(len, vals), np.int64, count=len(vals))
    fits = (lengths > 0) & (lengths <= max_record_bytes)
    if not fits.all():
        idx = idx[fits]
        vals = [v for v, k in zip(vals, fits.tolist()) if k]
    if b"\n".join(vals).count(b"\n") != len(vals) - 1:
        keep = np.fromiter((b"\n" not in v for v in vals), bool, count=len(vals))
        idx = idx[keep]
        vals = [v for v, k in zip(vals, keep.tolist()) if k]
    run_keys = keys if idx.size == n else [keys[i] for i in idx.tolist()]
    if run_keys.count(None) == 0 and run_keys.count(b"") == 0:
        return [PlainRun(run_keys, vals, idx)]
    keyed = np.fromiter(map(bool, run_keys), bool, count=idx.size)
    runs = []
    for mask in (keyed, ~keyed):
        rows = idx[mask]
        if rows.size:
            runs.append(PlainRun([keys[i] for i in rows.tolist()],
                                 [v for v, m in zip(vals, mask.tolist()) if m], rows))
    return runs


@functools.lru_cache(maxsize=64)
def _options(key_field: str | None, ts_field: str, value_fields: tuple[str, ...], width: int) -> pj.ParseOptions:
    """Parse options for a run (made once per decoder layout, not per poll)."""
    return pj.ParseOptions(explicit_schema=_schema(key_field, ts_field, list(value_fields), width),
                           unexpected_field_behavior="ignore")


def _schema(key_field: str | None, ts_field: str, value_fields: list[str], width: int) -> pa.Schema:
    number = pa.float64()
    if len(value_fields) == 1 and width > 1:
        fields = [(value_fields[0], pa.list_(number))]
    else:
        fields = [(f, number) for f in value_fields]
    fields += [(ts_field, number), ("control", pa.string())]
    if key_field is not None:
        fields.append((key_field, pa.string()))
    return pa.schema(fields)


def json_columns(run: PlainRun, *, key_field: str, ts_field: str, value_fields: list[str], width: int
                 ) -> tuple[list[RunColumns], np.ndarray]:
    """Read ``run`` with Arrow: (columns of the parts it took, poll indices left for the
    message-by-message path), both in poll order. Runs are cut by :func:`~rnnstream.connectors.blocks.split_runs`."""
    keyed = bool(run.keys) and run.keys[0] is not None and run.keys[0] != b""
    keys = _message_keys(run.keys) if keyed else None
    if keyed and keys is None:
        return [], run.rows
    parse = _options(None if keyed else key_field, ts_field, tuple(value_fields), width)
    taken: list[RunColumns] = []
    slow: list[np.ndarray] = []
    for sub, cols in split_runs(len(run.values), lambda sub: _parse(run, sub, keys, parse, key_field, ts_field,
                                                                     value_fields, width)):
        if cols is None:
            slow.append(run.rows[sub])
        else:
            taken.append(cols)
    return taken, np.concatenate(slow) if slow else np.empty(0, np.int64)


def _message_keys(raw: list[bytes]) -> pa.Array | None:
    """Message keys as strings; None when one is not UTF-8 or holds a NUL (the per-message
    path names those)."""
    try:
        keys = pc.cast(pa.array(raw, pa.binary()), pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if pc.any(pc.match_substring(keys, "\x00")).as_py():
        return None
    return keys


def _parse(run, sub, keys, parse, key_field, ts_field, value_fields, width) -> RunColumns | None:
    n = sub.size
    data = b"\n".join([run.values[i] for i in sub.tolist()])
    try:
        data.decode("utf-8")  # Arrow does not check the fields it skips
    except UnicodeDecodeError as exc:
        starts = np.r_[0, np.cumsum([len(run.values[i]) + 1 for i in sub.tolist()])[:-1]]
        raise Suspect(int(np.searchsorted(starts, exc.start, side="right")) - 1) from None
    table = read_json_lines(data, n, parse)
    if table is None:
        return None
    control = table.column("control")
    if control.null_count < n:
        raise Suspect(first(control.combine_chunks().is_valid()))
    for name in value_fields:  # a message without a value
        col = table.column(name)
        if col.null_count:
            raise Suspect(first(col.combine_chunks().is_null()))
    if keys is None:
        col = table.column(key_field).combine_chunks()
        bad = pc.or_(pc.is_null(col), pc.equal(col, ""))
        bad = pc.or_(pc.fill_null(bad, True), pc.fill_null(pc.match_substring(col, "\x00"), False))
        if pc.any(bad).as_py():
            raise Suspect(first(bad))
        run_keys = col
    else:
        run_keys = keys.take(pa.array(sub))
    values = _values(table, value_fields, width, n)
    if values is None:
        return None
    ts = table.column(ts_field).combine_chunks()
    ts = ts.to_numpy(zero_copy_only=False).astype(np.float64)  # null: NaN, the message timestamp
    return RunColumns(run.rows[sub], run_keys, ts, values)


def _values(table: pa.Table, fields: list[str], width: int, n: int) -> np.ndarray | None:
    if len(fields) == 1 and width > 1:
        col = table.column(fields[0]).combine_chunks()
        lengths = pc.list_value_length(col).to_numpy()
        flat = col.flatten()
        if (lengths != width).any() or flat.null_count:
            return None  # a list of another length, or with a null in it: the per-message path names it
        return flat.to_numpy().reshape(n, width)
    if len(fields) != width:
        return None
    return np.column_stack([table.column(f).combine_chunks().to_numpy() for f in fields]).astype(np.float64)
