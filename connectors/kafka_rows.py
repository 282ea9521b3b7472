"""Kafka output messages: each row's key, JSON value and dedup headers; dead-letter headers.

Values come from :mod:`rnnstream.connectors.encode` in one pass over the columns. Headers
are the content type and the source triple (topic, partition, offset; plus ``seq`` where the
input had one), so a consumer can drop the rows a replay after a crash sends again. The
header pairs that repeat (content type, each topic, each partition) are built once per
batch and shared; only the offset is new per row.

>>> import numpy as np
>>> from rnnstream.engine.records import OutputBatch
>>> b = OutputBatch(keys=np.array(["a", "b"], object), key_ids=np.arange(2), ts=np.array([1.0, 2.0]),
...                 values=np.zeros((2, 1), np.float32), ingest=np.zeros(2), fields={},
...                 meta={"source_topic": np.array(["in", "in"], object), "source_partition": np.array([0, 3]),
...                       "source_offset": np.array([7, 8]), "seq": np.array([-1, 5])})
>>> keys, values, headers = encode_rows(b)
>>> keys, values[1]
([b'a', b'b'], b'{"key":"b","ts":2.0,"value":0.0,"source_topic":"in","source_partition":3,"source_offset":8,"seq":5}')
>>> headers[1]
[('content-type', b'application/json'), ('rnnstream-source-topic', b'in'), ('rnnstream-source-partition', b'3'), ('rnnstream-source-offset', b'8'), ('seq', b'5')]
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnnstream.connectors.encode import encode_values
from rnnstream.connectors.kafka_wire import (CONTENT_TYPE, DEAD_DETAIL, DEAD_REASON, JSON_TYPE, SEQ, SRC_OFFSET,
                                            SRC_PARTITION, SRC_TOPIC)
from rnnstream.engine.records import OutputBatch

__all__ = ["encode_rows", "dead_headers", "key_bytes"]

_CTYPE = (CONTENT_TYPE, JSON_TYPE.encode())


def key_bytes(keys: np.ndarray) -> list[bytes]:
    """UTF-8 message keys for an object array of key strings."""
    return pc.cast(pa.array(keys, pa.string()), pa.binary()).to_pylist()


def _decimal(col: np.ndarray) -> list[bytes]:
    return pc.cast(pc.cast(pa.array(col), pa.string()), pa.binary()).to_pylist()


def _shared(col: np.ndarray, name: str) -> np.ndarray:
    """One ``(name, value)`` header pair per distinct value, as an object array aligned with ``col``."""
    if col.dtype == object:  # topic names: hashed by Arrow, not sorted
        codes = pa.array(col, pa.string()).dictionary_encode()
        uniq, inverse = codes.dictionary.to_pylist(), codes.indices.to_numpy()
    else:
        uniq, inverse = np.unique(col, return_inverse=True)
        uniq = uniq.tolist()
    pairs = np.empty(len(uniq), object)
    pairs[:] = [(name, str(u).encode()) for u in uniq]
    return pairs[inverse.reshape(-1)]


def encode_rows(batch: OutputBatch, *, source_headers: bool = True
                ) -> tuple[list[bytes], list[bytes], list[list[tuple[str, bytes]]] | None]:
    """(keys, values, headers) for every output row; headers carry the source triple for dedup
    (None without ``source_headers``: the row carries the triple either way)."""
    values = encode_values(batch)
    keys = key_bytes(batch.keys)
    if not source_headers:
        return keys, values, None
    topic = batch.meta.get("source_topic")
    if topic is None:
        return keys, values, [[_CTYPE] for _ in values]
    topics = _shared(topic, SRC_TOPIC).tolist()
    parts = _shared(batch.meta["source_partition"], SRC_PARTITION).tolist()
    offsets = _decimal(batch.meta["source_offset"])
    seq = batch.meta.get("seq")
    if seq is None or not (seq >= 0).any():
        headers = [[_CTYPE, t, p, (SRC_OFFSET, o)] for t, p, o in zip(topics, parts, offsets)]
    else:
        seqs = _decimal(seq)
        headers = [[_CTYPE, t, p, (SRC_OFFSET, o), (SEQ, s)] if s[:1] != b"-" else [_CTYPE, t, p, (SRC_OFFSET, o)]
                   for t, p, o, s in zip(topics, parts, offsets, seqs)]
    return keys, values, headers


def dead_headers(reason: str, detail: str, source: str, position: Any) -> list[tuple[str, bytes]]:
    """Headers of a dead-letter message: reason, detail and where the record came from."""
    h = [(DEAD_REASON, reason.encode()), (DEAD_DETAIL, detail.encode("utf-8", "replace")[:512]),
         ("rnnstream-source", source.encode())]
    if isinstance(position, dict) and "topic" in position:
        h += [(SRC_TOPIC, str(position["topic"]).encode()), (SRC_PARTITION, b"%d" % position["partition"]),
              (SRC_OFFSET, b"%d" % position["offset"])]
    elif position is not None:
        h.append(("rnnstream-source-position", json.dumps(position, default=str).encode()[:512]))
    return h
