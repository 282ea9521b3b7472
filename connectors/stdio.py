"""Standard input as a source; JSON lines on standard output or in a file as sinks.

Sinks write one JSON object per output row. ``JsonlSink.flush`` fsyncs a regular file, so a
checkpoint taken after it never runs ahead of the output file. Any path that can be opened
for writing works: a pipe, a FIFO, ``/dev/null`` or ``/dev/stdout`` is flushed but not
fsynced (fsync means nothing there and fails with EINVAL). A failing write is one
:class:`ConnectorError` naming the sink.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import queue
import stat
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from rnnstream.config import StdinSourceConfig
from rnnstream.connectors.decode import RecordDecoder
from rnnstream.connectors.csvblock import decode_csv_block
from rnnstream.connectors.encode import encode_jsonl
from rnnstream.connectors.files import BLOCK_BYTES
from rnnstream.connectors.jsonblock import decode_json_block
from rnnstream.errors import ConnectorError
from rnnstream.engine.keys import KeyTable
from rnnstream.engine.records import DeadRecord, OutputBatch, RecordBatch

__all__ = ["StdinSource", "StdoutSink", "JsonlSink", "JsonlDeadLetters", "dead_to_json", "is_regular"]


class StdinSource:
    """Reads blocks on a thread so ``poll`` never blocks longer than its timeout; decodes whole
    lines a block at a time (JSON lines, or CSV with its header as the first line)."""

    def __init__(self, cfg: StdinSourceConfig, keys: KeyTable, *, width: int, stream: IO[bytes] | None = None) -> None:
        self.name = cfg.name
        self.cfg = cfg
        self.decoder = RecordDecoder(
            cfg.name, keys, width=width, key_field=cfg.key_field, ts_field=cfg.ts_field,
            value_fields=list(cfg.value_fields), max_record_bytes=cfg.max_record_bytes,
            text_field=cfg.text_field, max_text_bytes=cfg.max_text_bytes,
        )
        self._stream = stream if stream is not None else sys.stdin.buffer
        # At most a few blocks wait between the reader and the pipeline.
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._eof = False
        self._lines = 0
        self._tail = b""  # bytes after the last whole line, until the rest of that line arrives
        self._header: list[str] | None = None
        threading.Thread(target=self._pump, name="stdin-reader", daemon=True).start()

    def _pump(self) -> None:
        # Blocks of bytes, one queue item per read, never one per record. read1: what has
        # arrived, up to a block, without waiting for the block to fill.
        while block := self._stream.read1(BLOCK_BYTES):
            self._q.put(block)
        self._q.put(None)

    @property
    def exhausted(self) -> bool:
        return self._eof and self._q.empty() and not self._tail

    def position(self) -> dict[str, Any]:
        return {"lines": self._lines}

    def seek(self, position: Any) -> None:
        """Standard input cannot rewind; a restart continues with whatever comes next."""

    def commit(self, position: Any) -> None:
        """Nothing to commit."""

    def poll(self, timeout_s: float) -> RecordBatch | None:
        """Whole lines from the blocks read so far (the partial last line waits for the next)."""
        parts = [self._tail]
        size = len(self._tail)
        deadline = time.monotonic() + timeout_s
        while size < BLOCK_BYTES and not self._eof and b"\n" not in self._tail:
            try:
                item = self._q.get(timeout=max(0.0, deadline - time.monotonic()) if size == len(self._tail) else 0)
            except queue.Empty:
                break
            if item is None:
                self._eof = True
                break
            parts.append(item)
            size += len(item)
        data = b"".join(parts)
        cut = len(data) if self._eof else data.rfind(b"\n") + 1
        newlines = np.flatnonzero(np.frombuffer(data, np.uint8, count=cut) == 10)
        if newlines.size > self.cfg.batch_records:  # at most batch_records lines per batch; the rest waits
            cut = int(newlines[self.cfg.batch_records - 1]) + 1
        data, self._tail = data[:cut], data[cut:]
        if not data:
            return None
        if self.cfg.format == "csv":
            if self._header is None:
                data = self._take_header(data)
                if self._header is None:
                    return None
            batch = decode_csv_block(self.decoder, data, self._header)
        else:
            batch = decode_json_block(self.decoder, data)
        self._lines += len(batch) + len(batch.dead)
        batch.position = self.position()
        return batch if len(batch) or batch.dead else None

    def _take_header(self, data: bytes) -> bytes:
        """The CSV header is the first non-blank line; returns what follows it."""
        for line in data.splitlines(keepends=True):
            data = data[len(line):]
            if line.strip():
                self._header = next(csv.reader(io.StringIO(line.decode("utf-8", "replace").strip())), [])
                break
        return data

    def close(self) -> None:
        """The reader thread is a daemon; it ends with the process."""


def is_regular(stream: IO[str]) -> bool:
    """Whether ``stream`` is a regular file, the only kind where fsync makes data durable."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError):  # closed, or no file descriptor (a StringIO in tests)
        return False


class _JsonLines:
    binary = False  # a text stream (standard output, shared with other writers); a file sink writes bytes

    def __init__(self, name: str, stream: IO, *, float_precision: int | None = None) -> None:
        self.name = name
        self._out = stream
        self.float_precision = float_precision

    def write(self, batch: OutputBatch) -> None:
        if len(batch):
            data = encode_jsonl(batch, float_precision=self.float_precision)
            try:
                self._out.write(data if self.binary else data.decode())
            except OSError as exc:
                raise ConnectorError(f"sink {self.name!r}: write failed: {exc.strerror or exc}") from None

    def flush(self) -> None:
        try:
            self._out.flush()
        except OSError as exc:
            raise ConnectorError(f"sink {self.name!r}: write failed: {exc.strerror or exc}") from None


class StdoutSink(_JsonLines):
    def __init__(self, name: str = "stdout", stream: IO[str] | None = None, *,
                 float_precision: int | None = None) -> None:
        super().__init__(name, stream if stream is not None else sys.stdout, float_precision=float_precision)

    def close(self) -> None:
        self.flush()


class JsonlSink(_JsonLines):
    """Appends JSON lines to a file; ``flush`` makes them durable."""

    binary = True

    def __init__(self, name: str, path: Path, *, float_precision: int | None = None) -> None:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            stream = open(path, "ab")
        except OSError as exc:
            raise ConnectorError(f"sink {name!r}: cannot open {path}: {exc.strerror}") from None
        super().__init__(name, stream, float_precision=float_precision)
        self._sync = is_regular(stream)

    def flush(self) -> None:
        super().flush()
        if self._sync:
            try:
                os.fsync(self._out.fileno())
            except OSError as exc:
                raise ConnectorError(f"sink {self.name!r}: fsync failed: {exc.strerror or exc}") from None

    def close(self) -> None:
        self.flush()
        self._out.close()


def dead_to_json(rec: DeadRecord) -> dict[str, Any]:
    """A dead record as JSON: the raw payload as text when it is UTF-8, else base64."""
    try:
        raw: dict[str, str] = {"raw": rec.raw.decode("utf-8")}
    except UnicodeDecodeError:
        raw = {"raw_base64": base64.b64encode(rec.raw).decode("ascii")}
    return {"source": rec.source, "reason": rec.reason, "detail": rec.detail, "position": rec.position, **raw}


class JsonlDeadLetters:
    """Dead letters as JSON lines in a file, or on stderr when ``path`` is None."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            self._out: IO[str] = sys.stderr
            self._own = False
        else:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._out = open(path, "a", encoding="utf-8")
            except OSError as exc:
                raise ConnectorError(f"dead_letter: cannot open {path}: {exc.strerror}") from None
            self._own = True
        self._sync = self._own and is_regular(self._out)

    def write_dead(self, records: list[DeadRecord]) -> None:
        self._out.write("".join(json.dumps({"dead_letter": dead_to_json(r)}, default=str) + "\n" for r in records))

    def flush(self) -> None:
        try:
            self._out.flush()
            if self._sync:
                os.fsync(self._out.fileno())
        except OSError as exc:
            raise ConnectorError(f"dead_letter: write failed: {exc.strerror or exc}") from None

    def close(self) -> None:
        self.flush()
        if self._own:
            self._out.close()
