"""Columnar micro-batches: the only way records move through the hot path.

A :class:`RecordBatch` is a handful of aligned numpy arrays (key ids, event times, values,
record kinds) decoded once at the source. Bad records never enter it: the source puts each
one in ``dead`` with its reason instead.

>>> import numpy as np
>>> b = RecordBatch.data(np.array([0, 1]), np.array([1.0, 2.0]), np.ones((2, 3), np.float32))
>>> len(b), b.values.shape, b.kind.tolist()
(2, (2, 3), [0, 0])
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["RecordBatch", "DeadRecord", "OutputBatch", "DATA", "RESET", "END"]

DATA, RESET, END = 0, 1, 2
"""Record kinds: a value to process, a request to restart a key's state, an end of stream."""


@dataclass(frozen=True)
class DeadRecord:
    """A record that could not be used, with why. ``raw`` keeps the original payload."""

    source: str
    reason: str
    detail: str
    raw: bytes
    position: Any = None


@dataclass
class RecordBatch:
    key_ids: np.ndarray  # int64 [N]
    ts: np.ndarray  # float64 [N], event time in seconds
    values: np.ndarray  # float32 [N, *value_shape]
    kind: np.ndarray  # int8 [N]: DATA, RESET or END
    ingest: np.ndarray  # float64 [N], time.monotonic() when decoded (for end-to-end latency)
    source: str = ""
    position: Any = None  # the source position after the last record of this batch
    dead: list[DeadRecord] = field(default_factory=list)
    meta: dict[str, np.ndarray] = field(default_factory=dict)  # optional per-row columns (offsets...)
    decode_s: float = 0.0  # seconds the source spent decoding this batch (the "decode" stage)

    def __len__(self) -> int:
        return int(self.key_ids.shape[0])

    @classmethod
    def data(cls, key_ids, ts, values, *, source: str = "", kind=None, ingest=None, **kw) -> RecordBatch:
        n = len(key_ids)
        return cls(
            key_ids=np.asarray(key_ids, dtype=np.int64),
            ts=np.asarray(ts, dtype=np.float64),
            values=np.asarray(values, dtype=np.float32),
            kind=np.zeros(n, np.int8) if kind is None else np.asarray(kind, dtype=np.int8),
            ingest=np.full(n, time.monotonic()) if ingest is None else np.asarray(ingest, np.float64),
            source=source,
            **kw,
        )

    def take(self, idx: np.ndarray) -> RecordBatch:
        """Rows ``idx`` (no dead records, same position)."""
        return RecordBatch(
            self.key_ids[idx],
            self.ts[idx],
            self.values[idx],
            self.kind[idx],
            self.ingest[idx],
            self.source,
            self.position,
            [],
            {k: v[idx] for k, v in self.meta.items()},
        )

    @staticmethod
    def concat(batches: list[RecordBatch]) -> RecordBatch:
        if len(batches) == 1:
            return batches[0]
        metas = set.intersection(*(set(b.meta) for b in batches)) if batches else set()
        return RecordBatch(
            np.concatenate([b.key_ids for b in batches]),
            np.concatenate([b.ts for b in batches]),
            np.concatenate([b.values for b in batches]),
            np.concatenate([b.kind for b in batches]),
            np.concatenate([b.ingest for b in batches]),
            ",".join(sorted({b.source for b in batches})),
            None,
            [d for b in batches for d in b.dead],
            {k: np.concatenate([b.meta[k] for b in batches]) for k in metas},
        )


@dataclass
class OutputBatch:
    """What sinks receive: the input rows plus each operator's output columns."""

    keys: np.ndarray  # object [N] of key strings
    key_ids: np.ndarray
    ts: np.ndarray
    values: np.ndarray
    ingest: np.ndarray
    fields: dict[str, dict[str, np.ndarray]]  # operator name -> field -> [N, ...]
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    kind: np.ndarray | None = None  # int8 [N]: DATA, or END for rows an ending stream emitted
    encode_s: float = 0.0  # seconds sinks spent encoding this batch (the "encode" stage)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def take(self, idx: np.ndarray) -> OutputBatch:
        """Rows ``idx`` (or a boolean mask) of every column."""
        return OutputBatch(self.keys[idx], self.key_ids[idx], self.ts[idx], self.values[idx], self.ingest[idx],
                           {op: {f: a[idx] for f, a in fs.items()} for op, fs in self.fields.items()},
                           {k: v[idx] for k, v in self.meta.items()}, None if self.kind is None else self.kind[idx])

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per row. Sinks call this; it is the serialisation boundary."""
        n = len(self)
        cols: dict[str, Any] = {"key": self.keys.tolist(), "ts": self.ts.tolist()}
        vals = self.values
        cols["value"] = vals[:, 0].tolist() if vals.ndim == 2 and vals.shape[1] == 1 else vals.tolist()
        nested = {op: {f: a.tolist() for f, a in fs.items()} for op, fs in self.fields.items()}
        meta = {k: v.tolist() for k, v in self.meta.items()}
        out = []
        for i in range(n):
            row = {k: v[i] for k, v in cols.items()}
            for k, v in meta.items():
                row[k] = v[i]
            for op, fs in nested.items():
                row[op] = {f: a[i] for f, a in fs.items()}
            out.append(row)
        return out
