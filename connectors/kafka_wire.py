"""The Kafka wire format: what rnnstream reads from and writes to topics.

Input messages (one event each):

- **key**: the stream id, UTF-8. It also decides the partition, so all of a stream's
  events stay in one partition and in order. A JSON body may carry the key instead.
- **headers** (all optional): ``content-type``; ``sample-rate`` (audio, decimal Hz);
  ``seq`` (a decimal per-stream sequence number, copied to the output row);
  ``rnnstream-control`` (``end`` or ``reset``: the message, whatever its format and value,
  ends or restarts its key's stream; a log session's close, an audio stream's end).
- **value**, by content type:

  - ``application/json`` (default for ``format: json``): one object,
    ``{"ts": 1700000000.5, "value": 21.4}``; ``value`` may be a list (vector readings) or
    named fields may be listed in ``value_fields``; ``ts`` is seconds since the epoch or
    ISO-8601 and defaults to the message timestamp. ``{"control": "end"}`` ends the
    stream's state, ``"reset"`` restarts it.
  - ``text/plain; charset=utf-8`` (default for ``format: text``): a text event; the
    text travels in the row's ``text`` column. Text that is not UTF-8 (``non_utf8``),
    longer than ``max_text_bytes`` (``oversized``) or blank (``empty_text``) is dead.
  - ``audio/pcm; format=s16le`` or ``audio/pcm; format=f32le`` (``format: audio``): one
    mono chunk of exactly ``width`` samples, scaled to [-1, 1].

Output messages are JSON rows keyed by the stream id, with headers ``content-type``,
``rnnstream-source-topic``, ``rnnstream-source-partition`` and ``rnnstream-source-offset``
(plus ``seq`` when the input had one): a consumer deduplicates on the source triple.
Dead letters keep the original key and payload and add ``rnnstream-dead-reason`` and
``rnnstream-dead-detail``.

>>> from rnnstream.engine.keys import KeyTable
>>> d = WireDecoder("k", KeyTable(), width=1)
>>> m = WireMessages()
>>> m.add("in", 0, 7, b"s1", b'{"ts": 1, "value": 2.5}', [("seq", b"3")], 0)
>>> m.add("in", 0, 8, b"s1", b'{"ts": 2, "value": NaN}', None, 0)
>>> b = d.decode(m)
>>> b.values.tolist(), b.meta["seq"].tolist(), [r.reason for r in b.dead]
([[2.5]], [3], ['non_finite'])
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from rnnstream.connectors.decode import CONTROLS, RecordRejected, check_text, parse_ts, record_values
from rnnstream.engine.keys import KeyTable
from rnnstream.connectors.kafka_block import RunColumns, json_columns, plain_messages
from rnnstream.engine.records import DATA, DeadRecord, RecordBatch

__all__ = [
    "WireMessages",
    "WireDecoder",
    "CONTENT_TYPE",
    "SAMPLE_RATE",
    "SEQ",
    "CONTROL",
    "JSON_TYPE",
    "TEXT_TYPE",
    "AUDIO_S16",
    "AUDIO_F32",
    "SRC_TOPIC",
    "SRC_PARTITION",
    "SRC_OFFSET",
    "DEAD_REASON",
    "DEAD_DETAIL",
    "WIRE_REASONS",
]

CONTENT_TYPE, SAMPLE_RATE, SEQ = "content-type", "sample-rate", "seq"
CONTROL = "rnnstream-control"
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
AUDIO_S16 = "audio/pcm; format=s16le"
AUDIO_F32 = "audio/pcm; format=f32le"
SRC_TOPIC, SRC_PARTITION, SRC_OFFSET = "rnnstream-source-topic", "rnnstream-source-partition", "rnnstream-source-offset"
DEAD_REASON, DEAD_DETAIL = "rnnstream-dead-reason", "rnnstream-dead-detail"

WIRE_REASONS = (
    "oversized", "non_utf8", "bad_json", "not_object", "missing_key", "missing_value", "non_numeric",
    "non_finite", "wrong_width", "bad_timestamp", "bad_control", "bad_header", "unsupported_content_type",
    "empty_text",
)
"""Dead-letter reasons the Kafka decoder gives (the file decoder's, plus header problems)."""

_ACCEPT = {
    "json": {JSON_TYPE, "application/json; charset=utf-8"},
    "text": {TEXT_TYPE, "text/plain"},
    "audio": {AUDIO_S16, AUDIO_F32},
}


@dataclass
class WireMessages:
    """Consumed messages as parallel lists, filled by whichever Kafka client is in use."""

    topics: list[str] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    headers: list[Any] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)

    def add(self, topic, partition, offset, key, value, headers, timestamp_ms) -> None:
        self.topics.append(topic)
        self.partitions.append(partition)
        self.offsets.append(offset)
        self.keys.append(key)
        self.values.append(value)
        self.headers.append(headers)
        self.timestamps_ms.append(timestamp_ms)

    def __len__(self) -> int:
        return len(self.offsets)


def _timestamp(value: Any) -> float:
    try:
        return parse_ts(value)
    except Exception as exc:  # noqa: BLE001 - parse_ts signals with its own private exception
        raise RecordRejected("bad_timestamp", getattr(exc, "detail", "") or "bad timestamp") from None


class WireDecoder:
    """Decodes :class:`WireMessages` of one source into a :class:`RecordBatch`; never raises."""

    def __init__(
        self,
        source: str,
        keys: KeyTable,
        *,
        width: int,
        fmt: str = "json",
        key_field: str = "key",
        ts_field: str = "ts",
        value_fields: list[str] | None = None,
        max_record_bytes: int = 65536,
        sample_rate: int | None = None,
        max_text_bytes: int = 16384,
    ) -> None:
        self.source = source
        self.keys = keys
        self.width = width
        self.fmt = fmt
        self.key_field = key_field
        self.ts_field = ts_field
        self.value_fields = value_fields or ["value"]
        self.max_record_bytes = max_record_bytes
        self.sample_rate = sample_rate
        self.max_text_bytes = max_text_bytes
        self._default_type = {"json": JSON_TYPE, "text": TEXT_TYPE, "audio": AUDIO_S16}[fmt]
        self._zero = [0.0] * width

    # -- one message ----------------------------------------------------------------------
    def _headers(self, headers) -> tuple[str, int, int | None]:
        ctype, seq, control = self._default_type, -1, None
        for name, raw in headers:
            if name == CONTROL:
                word = raw.decode("latin-1").strip().lower() if raw else ""
                if word not in CONTROLS:
                    raise RecordRejected("bad_control", f"unknown control header {word[:20]!r}")
                control = CONTROLS[word]
            elif name == CONTENT_TYPE:
                ctype = raw.decode("latin-1").strip().lower() if raw else ctype
            elif name == SEQ:
                try:
                    seq = int(raw)
                except (TypeError, ValueError):
                    raise RecordRejected("bad_header", "seq header is not an integer") from None
            elif name == SAMPLE_RATE and self.sample_rate is not None:
                try:
                    rate = int(raw)
                except (TypeError, ValueError):
                    raise RecordRejected("bad_header", "sample-rate header is not an integer") from None
                if rate != self.sample_rate:
                    raise RecordRejected("bad_header", f"sample rate {rate} Hz, expected {self.sample_rate}")
        if control is None and ctype not in _ACCEPT[self.fmt]:
            raise RecordRejected("unsupported_content_type", f"{ctype[:60]!r} on a {self.fmt} source")
        return ctype, seq, control

    def _json(self, value: bytes, key: str | None, ts_default: float):
        try:
            obj = orjson.loads(value)
        except orjson.JSONDecodeError:
            # The slow path tells a NaN literal or bad UTF-8 apart from broken JSON.
            try:
                obj = json.loads(value.decode("utf-8"))
            except UnicodeDecodeError:
                raise RecordRejected("non_utf8", "payload is not UTF-8") from None
            except ValueError as exc:
                raise RecordRejected("bad_json", str(exc)[:80]) from None
        if not isinstance(obj, dict):
            raise RecordRejected("not_object", f"record is a JSON {type(obj).__name__}")
        if key is None:
            k = obj.get(self.key_field)
            if k is None or k == "" or isinstance(k, bool) or not isinstance(k, (str, int)):
                raise RecordRejected("missing_key", "no message key and no key field")
            key = str(k)
            if "\x00" in key:
                raise RecordRejected("missing_key", "key field contains a NUL character")
        t = obj.get(self.ts_field)
        ts = _timestamp(t) if t not in (None, "") else ts_default
        control = obj.get("control")
        if control is not None:
            if control not in CONTROLS:
                raise RecordRejected("bad_control", f"unknown control {str(control)[:20]!r}")
            return key, ts, self._zero, CONTROLS[control]
        return key, ts, record_values(obj, self.value_fields, self.width), DATA

    def _audio(self, value: bytes, ctype: str) -> np.ndarray:
        itemsize = 2 if ctype == AUDIO_S16 else 4
        if len(value) % itemsize:
            raise RecordRejected("wrong_width", f"{len(value)} bytes is not a whole number of samples")
        if ctype == AUDIO_S16:
            samples = np.frombuffer(value, dtype="<i2").astype(np.float32) / 32768.0
        else:
            samples = np.frombuffer(value, dtype="<f4").astype(np.float32)
        if samples.size != self.width:
            raise RecordRejected("wrong_width", f"{samples.size} samples, expected {self.width}")
        return samples

    # -- a batch --------------------------------------------------------------------------
    def _one(self, msgs: WireMessages, i: int, now_wall: float) -> tuple:
        """(key, ts, values, kind, seq, text) of message ``i``, or :class:`RecordRejected`."""
        value = msgs.values[i]
        hdrs = msgs.headers[i]
        ctype, seq, control = self._headers(hdrs) if hdrs else (self._default_type, -1, None)
        if value is None and control is None:
            raise RecordRejected("missing_value", "empty message (tombstone)")
        if value is not None and len(value) > self.max_record_bytes:
            raise RecordRejected("oversized", f"{len(value)} bytes > {self.max_record_bytes}")
        raw_key = msgs.keys[i]
        try:
            key = raw_key.decode("utf-8") if raw_key else None
        except UnicodeDecodeError:
            raise RecordRejected("non_utf8", "message key is not UTF-8") from None
        if key is not None and "\x00" in key:
            # The key table holds keys in numpy string arrays, which drop trailing NULs.
            raise RecordRejected("missing_key", "message key contains a NUL character")
        tsm = msgs.timestamps_ms[i]
        ts_default = tsm / 1000.0 if tsm is not None and tsm >= 0 else now_wall
        text = None
        if control is not None:  # a control header: END or RESET of the key, whatever the format
            if key is None:
                raise RecordRejected("missing_key", "control message has no key")
            t, v, kind = ts_default, self._zero, control
            if self.fmt == "text":
                text = ""
        elif self.fmt == "json":
            key, t, v, kind = self._json(value, key, ts_default)
        else:
            if key is None:
                raise RecordRejected("missing_key", "message has no key")
            t, kind = ts_default, DATA
            if self.fmt == "audio":
                v = self._audio(value, ctype)
            else:
                try:
                    text = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise RecordRejected("non_utf8", "text event is not UTF-8") from None
                text = check_text(text, self.max_text_bytes, len(value))
                v = self._zero
        return key, t, v, kind, seq, text

    def _blocks(self, msgs: WireMessages) -> tuple[list[RunColumns], np.ndarray]:
        """Columns of the plain JSON messages (read by Arrow) and the indices left for :meth:`_one`."""
        n = len(msgs)
        if self.fmt != "json":
            return [], np.arange(n)
        runs = plain_messages(msgs.keys, msgs.values, msgs.headers, self.max_record_bytes)
        if not runs:
            return [], np.arange(n)
        slow = np.ones(n, bool)
        taken: list[RunColumns] = []
        for run in runs:
            cols, left = json_columns(run, key_field=self.key_field, ts_field=self.ts_field,
                                      value_fields=self.value_fields, width=self.width)
            slow[run.rows] = False
            slow[left] = True
            taken += cols
        return taken, np.flatnonzero(slow)

    def decode(self, msgs: WireMessages, part_index: list[int] | None = None) -> RecordBatch:
        """Good messages become rows (meta: source_topic/partition/offset, seq, _part); bad ones dead records."""
        now_wall, now = time.time(), time.monotonic()
        taken, slow = self._blocks(msgs)
        keys: list[str] = []
        ts: list[float] = []
        vals: list[Any] = []
        kinds: list[int] = []
        kept: list[int] = []
        seqs: list[int] = []
        texts: list[str] = []
        dead: list[DeadRecord] = []
        for i in slow.tolist():
            try:
                key, t, v, kind, seq, text = self._one(msgs, i, now_wall)
            except RecordRejected as rej:
                dead.append(self._dead(msgs, i, rej.reason, rej.detail))
                continue
            keys.append(key)
            ts.append(t)
            vals.append(v)
            kinds.append(kind)
            kept.append(i)
            seqs.append(seq)
            if text is not None:
                texts.append(text)
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, caught just below
            values = np.array(vals, dtype=np.float32).reshape(len(vals), self.width)
        ids = self.keys.intern_many(keys) if keys else np.empty(0, np.int64)
        rows = np.asarray(kept, dtype=np.int64)
        ts_col = np.asarray(ts, dtype=np.float64)
        kind_col = np.asarray(kinds, dtype=np.int8)
        seq_col = np.asarray(seqs, dtype=np.int64)
        if taken:
            rows, ids, ts_col, values, kind_col, seq_col = self._merge(
                msgs, taken, now_wall, rows, ids, ts_col, values, kind_col, seq_col)
        good = np.isfinite(values).all(axis=1)
        if not good.all():
            for j in np.flatnonzero(~good).tolist():
                dead.append(self._dead(msgs, int(rows[j]), "non_finite", "value is NaN or infinite"))
        idx = rows[good]
        batch = RecordBatch.data(ids[good], ts_col[good], values[good], kind=kind_col[good],
                                 ingest=np.full(idx.size, now), source=self.source)
        topics = np.asarray(msgs.topics, dtype=object)
        batch.meta = {
            "source_topic": topics[idx] if idx.size else np.empty(0, object),
            "source_partition": np.asarray(msgs.partitions, dtype=np.int32)[idx],
            "source_offset": np.asarray(msgs.offsets, dtype=np.int64)[idx],
            "seq": seq_col[good],
        }
        if part_index is not None:
            batch.meta["_part"] = np.asarray(part_index, dtype=np.int32)[idx]
        if self.fmt == "text":
            batch.meta["text"] = np.asarray(texts, dtype=object)[good] if texts else np.empty(0, object)
        batch.dead = dead
        return batch

    def _merge(self, msgs, taken, now_wall, rows, ids, ts, values, kinds, seqs):
        """The Arrow-read runs and the message-by-message rows together, in poll order."""
        fast_rows = np.concatenate([c.rows for c in taken])
        names = pa.chunked_array([c.keys for c in taken], pa.string()).combine_chunks().dictionary_encode()
        fast_ids = self.keys.intern_unique(names.dictionary.to_pylist())[names.indices.to_numpy()]
        fast_ts = np.concatenate([c.ts for c in taken])
        missing = np.isnan(fast_ts)
        if missing.any():  # no ts in the body: the message timestamp, as message by message
            stamps = np.fromiter((-1 if t is None else t for t in msgs.timestamps_ms), np.float64, count=len(msgs))
            at = stamps[fast_rows[missing]]
            fast_ts[missing] = np.where(at >= 0, at / 1000.0, now_wall)
        with np.errstate(over="ignore"):
            fast_values = np.concatenate([c.values for c in taken]).astype(np.float32)
        n = fast_rows.size
        all_rows = np.concatenate([fast_rows, rows])
        order = np.argsort(all_rows, kind="stable")
        return (all_rows[order], np.concatenate([fast_ids, ids])[order], np.concatenate([fast_ts, ts])[order],
                np.concatenate([fast_values, values])[order],
                np.concatenate([np.full(n, DATA, np.int8), kinds])[order],
                np.concatenate([np.full(n, -1, np.int64), seqs])[order])

    def _dead(self, msgs: WireMessages, i: int, reason: str, detail: str) -> DeadRecord:
        pos = {"topic": msgs.topics[i], "partition": msgs.partitions[i], "offset": msgs.offsets[i], "key": msgs.keys[i]}
        value = msgs.values[i]
        return DeadRecord(self.source, reason, detail, bytes(value) if value is not None else b"", pos)
