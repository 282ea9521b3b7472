"""Decode raw JSON or CSV records into a columnar batch, once, at the source.

Every rejected record becomes a :class:`DeadRecord` with a reason from :data:`REASONS`;
nothing raises. A JSON record is an object with a key, an optional timestamp, and either
one numeric field per value or one field holding a list. ``{"key": "k", "control": "end"}``
ends a key's stream and ``"reset"`` restarts it. With ``text_field``, that field is the
record's text (into ``meta["text"]``); it must be a non-blank string of at most
``max_text_bytes`` UTF-8 bytes.

>>> from rnnstream.engine.keys import KeyTable
>>> d = RecordDecoder("src", KeyTable(), width=1)
>>> b = d.decode_json([b'{"key": "a", "ts": 1, "value": 2.5}', b'{"key": "a", "value": "x"}'])
>>> b.values.tolist(), [r.reason for r in b.dead]
([[2.5]], ['non_numeric'])
>>> t = RecordDecoder("src", KeyTable(), width=1, value_fields=[], text_field="line")
>>> b = t.decode_json([b'{"key": "h", "line": "hi"}', b'{"key": "h", "line": " "}', b'{"key": "h", "line": 7}'])
>>> b.meta["text"].tolist(), b.values.tolist(), [r.reason for r in b.dead]
(['hi'], [[0.0]], ['empty_text', 'bad_text'])
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np

from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import DATA, END, RESET, DeadRecord, RecordBatch

__all__ = ["RecordDecoder", "REASONS", "RecordRejected", "CONTROLS", "parse_ts", "parse_number", "record_values",
           "check_text", "WHITESPACE"]

REASONS = (
    "oversized",
    "non_utf8",
    "bad_json",
    "not_object",
    "missing_key",
    "missing_value",
    "non_numeric",
    "non_finite",
    "wrong_width",
    "bad_timestamp",
    "bad_control",
    "bad_csv",
    "bad_text",
    "empty_text",
)

WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
"""What ``str.strip()`` removes; the block decoders trim exactly these, so both agree on blank text."""

CONTROLS = {"reset": RESET, "end": END}


class RecordRejected(Exception):
    """A record is unusable; ``reason`` is one of :data:`REASONS`. Decoders turn it into a DeadRecord."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason, self.detail = reason, detail



def parse_ts(value: Any) -> float:
    """Seconds since the epoch from a number or an ISO-8601 string (naive means UTC).

    >>> parse_ts("2014-04-01 00:00:00"), parse_ts(12.5)
    (1396310400.0, 12.5)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            ts = float(value)  # an integer beyond a float's range overflows
        except OverflowError:
            ts = math.inf
        if not math.isfinite(ts):
            raise RecordRejected("bad_timestamp", "timestamp is not finite")
        return ts
    if isinstance(value, str):
        try:
            ts = float(value)
        except ValueError:
            pass
        else:
            if not math.isfinite(ts):
                raise RecordRejected("bad_timestamp", "timestamp is not finite")
            return ts
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RecordRejected("bad_timestamp", f"cannot parse timestamp {value[:40]!r}") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    raise RecordRejected("bad_timestamp", f"timestamp has type {type(value).__name__}")


def parse_number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise RecordRejected("non_numeric", f"value has type {type(v).__name__}")
    try:
        return float(v)
    except OverflowError:  # an integer beyond a float's range
        raise RecordRejected("non_finite", "value is too large for a float") from None
    except ValueError:
        raise RecordRejected("non_numeric", f"value {v[:40]!r} is not a number") from None



def check_text(value: Any, max_bytes: int, size: int | None = None) -> str:
    """A record's text, or :class:`RecordRejected`: not a string (``bad_text``), longer than
    ``max_bytes`` UTF-8 bytes (``oversized``), blank (``empty_text``). ``size``: its byte length, if known.

    >>> check_text("hi", 10)
    'hi'
    >>> try:
    ...     check_text("\u3000", 10)
    ... except RecordRejected as rej:
    ...     rej.reason
    'empty_text'
    """
    if not isinstance(value, str):
        raise RecordRejected("bad_text", "text is null" if value is None else f"text has type {type(value).__name__}")
    if size is None:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:  # a JSON "\ud800" escape: no UTF-8 text can carry it
            raise RecordRejected("bad_text", "text holds an unpaired surrogate") from None
    if size > max_bytes:
        raise RecordRejected("oversized", f"text of {size} bytes > {max_bytes}")
    if not value.strip():
        raise RecordRejected("empty_text", "text is empty or only whitespace")
    return value


def record_values(obj: dict, fields: list[str], width: int) -> list[float]:
    """The values of a JSON record: one numeric field per value, or one field holding a list."""
    if len(fields) == 1:
        if fields[0] not in obj:
            raise RecordRejected("missing_value", f"no field {fields[0]!r}")
        v = obj[fields[0]]
        vals = [parse_number(x) for x in v] if isinstance(v, list) else [parse_number(v)]
    else:
        missing = [f for f in fields if f not in obj]
        if missing:
            raise RecordRejected("missing_value", f"no field {missing[0]!r}")
        vals = [parse_number(obj[f]) for f in fields]
    if len(vals) != width:
        raise RecordRejected("wrong_width", f"{len(vals)} values, expected {width}")
    return vals


class RecordDecoder:
    """Turns raw records into a :class:`RecordBatch` for one source."""

    def __init__(
        self,
        source: str,
        keys: KeyTable,
        *,
        width: int,
        key_field: str = "key",
        ts_field: str = "ts",
        value_fields: list[str] | None = None,
        max_record_bytes: int = 65536,
        text_field: str | None = None,
        max_text_bytes: int = 16384,
    ) -> None:
        self.source = source
        self.keys = keys
        self.width = width
        self.key_field = key_field
        self.ts_field = ts_field
        # No value fields: text-only records (values are zeros), or else the default "value".
        self.value_fields = list(value_fields) if value_fields or text_field else ["value"]
        self.max_record_bytes = max_record_bytes
        self.text_field = text_field
        self.max_text_bytes = max_text_bytes
        self._zero = [0.0] * width

    # -- per record ---------------------------------------------------------------------------
    def _values(self, obj: dict) -> list[float]:
        return record_values(obj, self.value_fields, self.width) if self.value_fields else self._zero

    def _text(self, obj: dict) -> str:
        if self.text_field not in obj:
            raise RecordRejected("bad_text", f"no field {self.text_field!r}")
        return check_text(obj[self.text_field], self.max_text_bytes)

    def _record(self, obj: Any, now: float) -> tuple[str, float, list[float] | None, int, str]:
        if not isinstance(obj, dict):
            raise RecordRejected("not_object", f"record is a JSON {type(obj).__name__}")
        key = obj.get(self.key_field)
        if key is None or key == "":
            raise RecordRejected("missing_key", f"no field {self.key_field!r}")
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise RecordRejected("missing_key", f"key has type {type(key).__name__}")
        ts = parse_ts(obj[self.ts_field]) if obj.get(self.ts_field) not in (None, "") else now
        control = obj.get("control")
        if control is not None:
            if control not in CONTROLS:
                raise RecordRejected("bad_control", f"unknown control {str(control)[:20]!r}")
            return str(key), ts, None, CONTROLS[control], ""
        text = self._text(obj) if self.text_field is not None else ""
        return str(key), ts, self._values(obj), DATA, text

    # -- batches ------------------------------------------------------------------------------
    def decode_json(self, raws: list[bytes], positions: list[Any] | None = None) -> RecordBatch:
        """Decode JSON records (bytes, one record each)."""
        return self._decode(raws, positions, self._parse_json)

    def _parse_json(self, raw: bytes) -> Any:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RecordRejected("non_utf8", "payload is not UTF-8") from None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise RecordRejected("bad_json", str(exc)[:80]) from None

    def csv_parser(self, header: list[str]):
        """A parser for one CSV data line, given the file's header."""

        def parse(raw: bytes) -> dict:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise RecordRejected("non_utf8", "line is not UTF-8") from None
            try:
                row = next(csv.reader(io.StringIO(text)))
            except (csv.Error, StopIteration):
                raise RecordRejected("bad_csv", "unparseable CSV line") from None
            if len(row) != len(header):
                raise RecordRejected("bad_csv", f"{len(row)} columns, header has {len(header)}")
            return dict(zip(header, row))

        return parse

    def decode_csv(self, raws: list[bytes], header: list[str], positions: list[Any] | None = None) -> RecordBatch:
        return self._decode(raws, positions, self.csv_parser(header))

    def _decode(self, raws: list[bytes], positions, parse) -> RecordBatch:
        now_wall, now = time.time(), time.monotonic()
        t0 = time.perf_counter()
        keys: list[str] = []
        ts: list[float] = []
        vals: list[list[float]] = []
        kinds: list[int] = []
        kept: list[int] = []
        texts: list[str] = []
        dead: list[DeadRecord] = []
        for i, raw in enumerate(raws):
            try:
                if len(raw) > self.max_record_bytes:
                    raise RecordRejected("oversized", f"{len(raw)} bytes > {self.max_record_bytes}")
                key, t, v, kind, text = self._record(parse(raw), now_wall)
            except RecordRejected as rej:
                dead.append(self.dead_record(rej.reason, rej.detail, raw, positions, i))
                continue
            keys.append(key)
            ts.append(t)
            vals.append(v if v is not None else self._zero)
            kinds.append(kind)
            kept.append(i)
            texts.append(text)
        with np.errstate(over="ignore"):  # values beyond float32 become inf and are caught below
            values = np.array(vals, dtype=np.float32).reshape(len(vals), self.width)
        # One vectorised check catches NaN/Inf, and values that overflow float32.
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            for j in np.flatnonzero(bad).tolist():
                dead.append(self.dead_record("non_finite", "value is NaN or infinite", raws[kept[j]], positions, kept[j]))
            good = ~bad
            keys = [k for k, g in zip(keys, good.tolist()) if g]
            texts = [t for t, g in zip(texts, good.tolist()) if g]
            values, ts_arr, kind_arr = values[good], np.array(ts)[good], np.array(kinds, np.int8)[good]
        else:
            ts_arr, kind_arr = np.array(ts, dtype=np.float64), np.array(kinds, np.int8)
        batch = RecordBatch.data(
            self.keys.intern_many(keys) if keys else np.empty(0, np.int64),
            ts_arr,
            values,
            kind=kind_arr,
            ingest=np.full(len(keys), now),
            source=self.source,
        )
        if self.text_field is not None:
            batch.meta["text"] = np.array(texts, dtype=object)
        batch.dead = dead
        batch.decode_s = time.perf_counter() - t0
        return batch

    def empty(self) -> RecordBatch:
        """A batch of no rows, with the columns this decoder's batches have."""
        batch = RecordBatch.data(np.empty(0, np.int64), np.empty(0), np.empty((0, self.width), np.float32),
                                 source=self.source)
        if self.text_field is not None:
            batch.meta["text"] = np.empty(0, object)
        return batch

    def dead_record(self, reason: str, detail: str, raw: bytes, positions, i: int) -> DeadRecord:
        pos = positions[i] if positions is not None else None
        return DeadRecord(self.source, reason, detail, bytes(raw[: self.max_record_bytes]), pos)
