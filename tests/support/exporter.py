"""A metrics exporter on a loopback port whose sample values the test sets."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TestExporter:
    """Serves `/metrics` in the Prometheus text format; `set()` changes what the next scrape sees."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, float] = {}
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200 if self.path.startswith("/metrics") else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.target = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def set(self, series: str, value: float) -> None:
        """series is a full series name with labels, e.g. 'tocsin_test_up{job="x"}'."""
        with self._lock:
            self._samples[series] = value

    def remove(self, series: str) -> None:
        with self._lock:
            self._samples.pop(series, None)

    def render(self) -> str:
        with self._lock:
            return "".join(f"{k} {v}\n" for k, v in sorted(self._samples.items()))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
