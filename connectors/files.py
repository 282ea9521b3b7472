"""Replay a CSV or JSONL file, as fast as possible or at a multiple of its recorded pace.

The position is the byte offset after the last line handed out, so a restart from a
checkpoint resumes at exactly the next line.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from rnnstream.config import FileSourceConfig
from rnnstream.connectors.decode import RecordDecoder
from rnnstream.connectors.blocks import line_bounds
from rnnstream.connectors.csvblock import decode_csv_block
from rnnstream.connectors.jsonblock import decode_json_block
from rnnstream.errors import ConnectorError
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import RecordBatch

__all__ = ["FileSource", "BLOCK_BYTES"]

BLOCK_BYTES = 1 << 20  # JSON lines are read a block at a time, cut at the last whole line
MIN_BLOCK_BYTES = 1 << 16

log = logging.getLogger(__name__)


class FileSource:
    """A finite source over one file. See :class:`~rnnstream.config.FileSourceConfig`."""

    def __init__(self, cfg: FileSourceConfig, keys: KeyTable, *, width: int) -> None:
        self.name = cfg.name
        self.cfg = cfg
        path = Path(cfg.path)
        try:
            self._f = open(path, "rb")
        except OSError as exc:
            raise ConnectorError(f"source {cfg.name!r}: cannot open {path}: {exc.strerror}") from None
        self.decoder = RecordDecoder(
            cfg.name,
            keys,
            width=width,
            key_field=cfg.key_field,
            ts_field=cfg.ts_field,
            value_fields=list(cfg.value_fields),
            max_record_bytes=cfg.max_record_bytes,
            text_field=cfg.text_field,
            max_text_bytes=cfg.max_text_bytes,
        )
        self._header: list[str] | None = None
        self._block = MIN_BLOCK_BYTES
        if cfg.type == "csv":
            first = self._f.readline()
            self._header = next(csv.reader(io.StringIO(first.decode("utf-8", "replace").strip())), [])
            needed = [cfg.key_field, *cfg.value_fields, *([cfg.text_field] if cfg.text_field else [])]
            missing = [c for c in needed if c not in self._header]
            if missing:
                raise ConnectorError(f"source {cfg.name!r}: {path} has no column {missing[0]!r} (header {self._header})")
        self._offset = self._f.tell()
        self._eof = False
        self._held: RecordBatch | None = None
        self._pace: tuple[float, float] | None = None  # (wall start, first event time)

    @property
    def exhausted(self) -> bool:
        return self._eof and self._held is None

    def position(self) -> dict[str, Any]:
        return {"offset": self._offset}

    def seek(self, position: dict[str, Any] | None) -> None:
        if position and "offset" in position:
            self._f.seek(int(position["offset"]))
            self._offset = int(position["offset"])
            self._eof = False
            self._held = None

    def commit(self, position: Any) -> None:
        """Files need no commit: the checkpoint file records the offset."""

    def _read(self) -> RecordBatch | None:
        """A block of whole lines (at most ``batch_records``), decoded column by column."""
        start = self._f.tell()
        data = self._f.read(self._block)
        if not data:
            self._eof = True
            return None
        cut = data.rfind(b"\n")
        while cut < 0:  # one line longer than the block
            more = self._f.read(self._block)
            if not more:
                break  # the file's last line, without a newline
            data += more
            cut = data.rfind(b"\n")
        if cut >= 0:
            data = data[: cut + 1]  # the partial line after it is read again next time
        buf = np.frombuffer(data, np.uint8)
        newlines = np.flatnonzero(buf == 10)
        if newlines.size > self.cfg.batch_records:
            data = data[: int(newlines[self.cfg.batch_records - 1]) + 1]
            newlines = newlines[: self.cfg.batch_records]
        self._f.seek(start + len(data))
        # Read about one batch next time: scanning a much larger block for newlines costs time.
        per_line = len(data) / max(1, newlines.size)
        self._block = int(min(BLOCK_BYTES, max(MIN_BLOCK_BYTES, 1.25 * per_line * self.cfg.batch_records)))
        starts, ends = line_bounds(data)
        if not starts.size:
            self._offset = start + len(data)
            return None
        # Byte offset after each line's newline (or the end of the file): a dead letter's position.
        nl = np.append(newlines, len(data))  # a last line without a newline ends with the file
        after = start + np.minimum(nl[np.searchsorted(nl, ends)] + 1, len(data))
        if self._header is not None:
            batch = decode_csv_block(self.decoder, data, self._header, after)
        else:
            batch = decode_json_block(self.decoder, data, after)
        batch.position = {"offset": start + len(data)}
        return self._finish(batch, after)

    def _finish(self, batch: RecordBatch, ends: np.ndarray) -> RecordBatch:
        # Byte offset after each good row, to cut paced batches at any row.
        dead_ends = np.array([d.position for d in batch.dead], dtype=np.int64)
        batch.meta["_end"] = ends[~np.isin(ends, dead_ends)] if dead_ends.size else ends
        if self.cfg.speed > 0:
            # Paced replay may hold rows for a while; keep key names so the ids are taken at
            # hand-out, after any key the pipeline released in the meantime.
            batch.meta["_keys"] = self.decoder.keys.names(batch.key_ids)
        if batch.position is None:
            batch.position = {"offset": int(ends[-1])}
        return batch

    def poll(self, timeout_s: float) -> RecordBatch | None:
        if self._held is None:
            self._held = self._read()
            if self._held is None:
                return None
        batch = self._held
        if self.cfg.speed <= 0 or len(batch) == 0:
            self._held = None
            self._offset = batch.position["offset"]
            return self._strip(batch)
        return self._paced(batch, timeout_s)

    def _paced(self, batch: RecordBatch, timeout_s: float) -> RecordBatch | None:
        now = time.monotonic()
        if self._pace is None:
            self._pace = (now, float(batch.ts[0]))
        wall0, ts0 = self._pace
        due = wall0 + (batch.ts - ts0) / self.cfg.speed
        n = int(np.searchsorted(due, now, side="right"))
        if n == 0:
            time.sleep(max(0.0, min(timeout_s, float(due[0]) - now)))
            n = int(np.searchsorted(due, time.monotonic(), side="right"))
            if n == 0:
                return None
        # A held row enters the pipeline when it is due, not when it was read: stamp it then,
        # so end-to-end latency measures the pipeline and not the replay's pacing.
        batch.ingest = np.maximum(batch.ingest, due)
        if n >= len(batch):
            self._held = None
            self._offset = batch.position["offset"]
            return self._strip(batch)
        head = batch.take(np.arange(n))
        head.dead = batch.dead
        head.position = {"offset": int(batch.meta["_end"][n - 1])}
        rest = batch.take(np.arange(n, len(batch)))
        self._held = rest
        self._offset = head.position["offset"]
        return self._strip(head)

    def _strip(self, batch: RecordBatch) -> RecordBatch:
        batch.meta.pop("_end", None)
        names = batch.meta.pop("_keys", None)
        if names is not None and len(names):
            batch.key_ids = self.decoder.keys.intern_many(names)
        return batch

    def close(self) -> None:
        self._f.close()
