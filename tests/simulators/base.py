"""A threaded HTTP server with JSON routes, run in the background for a test."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Route = tuple[str, re.Pattern, Callable[..., tuple[int, Any]]]


class Simulator:
    """Subclasses register routes with `self.route(method, pattern, handler)`; a handler
    gets (query, body, *groups) and returns (status, json-able body or None)."""

    api_key = "sim-api-key"
    latency = 0.0  # seconds added to every answer
    error_rate = 0.0  # share of requests answered 503, as an overloaded server would

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = self._listen(0)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.down = False
        self._chaos = random.Random(11)
        self._failing: dict[tuple[str, str], int] = {}

    def _listen(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        server.daemon_threads = True
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, pattern: str, handler: Callable[..., tuple[int, Any]]) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def start(self) -> Simulator:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.go_down()

    def fail_next(self, method: str, path: str, times: int = 1) -> None:
        """Answer the next `times` requests to `method path` (`path` may end in "/" to
        match every path under it) with 503, as a Lidarr going down between two calls
        of one step would look to the caller."""
        with self.lock:
            self._failing[(method, path)] = times

    def _fails_now(self, method: str, path: str) -> bool:
        for (failing_method, failing_path), left in self._failing.items():
            under = failing_path.endswith("/") and path.startswith(failing_path)
            if left and failing_method == method and (path == failing_path or under):
                self._failing[(failing_method, failing_path)] = left - 1
                return True
        return False

    def go_down(self) -> None:
        """Stop listening (connections are refused), as a stopped container would."""
        if not self.down:
            self.server.shutdown()
            self.server.server_close()
        self.down = True

    def come_back(self) -> None:
        self.server = self._listen(self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.down = False

    def authorized(self, headers: Any, query: dict) -> bool:
        return headers.get("X-Api-Key") == self.api_key

    def dispatch(self, method: str, raw_path: str, headers: Any, raw_body: bytes) -> tuple:
        parts = urlsplit(raw_path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        if self.latency:
            time.sleep(self.latency)
        with self.lock:
            self.requests.append((method, parts.path))
            overloaded = self.error_rate and self._chaos.random() < self.error_rate
            overloaded = overloaded or self._fails_now(method, parts.path)
        if overloaded:
            return 503, {"message": "Service Unavailable"}
        if not self.authorized(headers, query):
            return 401, None
        body = json.loads(raw_body) if raw_body.strip() else None
        for route_method, pattern, handler in self.routes:
            match = pattern.match(parts.path)
            if match and route_method == method:
                with self.lock:
                    return handler(query, body, *match.groups())
        return 404, None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = simulator.dispatch(self.command, self.path, self.headers, raw)
                payload = (
                    b""
                    if body is None
                    else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
                )
                self.send_response(status)
                if body is not None:
                    kind = "text/plain" if isinstance(body, str) else "application/json"
                    self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
