"""A small threaded HTTP server for the sandbox services, bound to 127.0.0.1 on a free port.

Each sandbox service (Koji hub, PDC, ResultsDB, Bugzilla, datagrepper) is an :class:`App`: a list of routes
(method, path regex) → handler(Request) → Response. The standard library server is enough for a test
sandbox and starts in milliseconds; what matters is that the wire format is the real one.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class HTTPError(Exception):
    """Raised by a handler to answer with ``status`` and a JSON body ``{"detail": message}``."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body if body is not None else {"detail": message}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the matched route

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HTTPError(400, f"request body is not JSON: {exc}") from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json"})


Handler = Callable[[Request], Response]


class App:
    """Routes requests to handlers; unknown paths answer 404 JSON, errors 500 JSON (logged)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method, re.compile(f"^{pattern}$"), handler))
            return handler

        return register

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def dispatch(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if not match:
                continue
            if method not in (request.method, "*"):
                allowed = True
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            try:
                return handler(request)
            except HTTPError as exc:
                return Response.json(exc.body, exc.status)
            except Exception as exc:  # a bug in the sandbox must show up as a 500, not a hang
                log.exception("%s: %s %s failed", self.name, request.method, request.path)
                return Response.json({"detail": f"internal error: {exc}"}, 500)
        if allowed:
            return Response.json({"detail": "method not allowed"}, 405)
        return Response.json({"detail": f"not found: {request.path}"}, 404)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, each response waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        response = self.server.app.dispatch(request)
        self.send_response(response.status)
        headers = {"Content-Type": "application/octet-stream", **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.server.app.name, format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: App, port: int) -> None:
        self.app = app
        super().__init__((LOOPBACK, port), _Handler)


class HTTPService:
    """Serves an :class:`App` on 127.0.0.1 in a background thread. ``port=0`` picks a free port."""

    def __init__(self, app: App, port: int = 0) -> None:
        self.app = app
        self._server = _Server(app, port)
        # a short poll interval makes stop() (shutdown) return in ~50 ms instead of 0.5 s
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"http-{app.name}", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> HTTPService:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; a service never started only closes its socket (shutdown() would
        wait for a serve_forever that never ran)."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
