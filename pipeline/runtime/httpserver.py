"""``/metrics``, ``/healthz`` and ``/readyz`` on one small threaded HTTP server.

Health and readiness are callables returning ``(ok, message)``, so the daemon decides
what they mean (for example: commits still advancing while there is lag).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from rnnstream.errors import ConfigError

__all__ = ["MetricsServer", "Check"]

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, str]]


def _always_ok() -> tuple[bool, str]:
    return True, "ok"


class MetricsServer:
    """Serves a registry. ``port=0`` picks a free port (see :attr:`port`)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        address: str = "127.0.0.1",
        port: int = 9464,
        health: Check = _always_ok,
        ready: Check = _always_ok,
    ) -> None:
        registry_ = registry
        health_, ready_ = health, ready

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(registry_), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    ok, msg = (health_ if path == "/healthz" else ready_)()
                    self._send(200 if ok else 503, (msg + "\n").encode(), "text/plain; charset=utf-8")
                else:
                    self._send(404, b"not found\n", "text/plain; charset=utf-8")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                """Scrapes every few seconds would flood the log."""

        try:
            self._server = ThreadingHTTPServer((address, port), Handler)
        except OSError as exc:
            raise ConfigError(f"metrics.port: cannot listen on {address}:{port}: {exc.strerror}") from None
        self._server.daemon_threads = True
        self.address = address
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", self.address, self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
