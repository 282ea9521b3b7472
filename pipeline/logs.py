"""Logging setup: plain text for terminals, JSON lines for daemons (one object per line)."""

from __future__ import annotations

import json
import logging
import sys
import time

__all__ = ["setup_logging", "JsonFormatter", "RateLimitedLogger"]


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "msg": ...}`` plus any ``extra`` fields."""

    _skip = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in self._skip:
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class RateLimitedLogger:
    """Logs at most ``burst`` lines per ``window_s`` per kind, then one summary of what it held back.

    A flood of bad records must stay visible without drowning the log.
    """

    def __init__(self, logger: logging.Logger, *, burst: int = 10, window_s: float = 60.0) -> None:
        self.logger = logger
        self.burst = burst
        self.window_s = window_s
        self._state: dict[str, list[float]] = {}  # kind -> [window start, count, suppressed]

    def warning(self, kind: str, msg: str, *args, **extra) -> None:
        now = time.monotonic()
        st = self._state.setdefault(kind, [now, 0, 0])
        if now - st[0] > self.window_s:
            if st[2]:
                self.logger.warning("%d more %s records were not logged in the last %.0fs", st[2], kind, self.window_s)
            st[:] = [now, 0, 0]
        if st[1] < self.burst:
            st[1] += 1
            self.logger.warning(msg, *args, extra=extra or None)
        else:
            st[2] += 1
