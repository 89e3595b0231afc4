"""The local issuer's HTTP plumbing: ``http.server`` in a thread, GET and POST, counted hits.

A route is ``fn(issuer)`` (the original form, GET only in spirit) or ``fn(issuer, request)``;
it returns ``(status, body, content_type)`` or a :class:`Reply` with extra headers.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .issuer import LocalIssuer

__all__ = ["IssuerHTTPServer", "IssuerRequest", "Reply", "Route", "SlowRoute", "json_reply", "make_handler"]

log = logging.getLogger("s2s_guard.testing")
_MAX_BODY = 1024 * 1024


@dataclass(frozen=True, slots=True)
class IssuerRequest:
    """One request the issuer received: method, path, query, headers and form fields."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # names in lower case
    form: dict[str, list[str]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        """The single value of a form field; ``None`` when absent or repeated."""
        values = self.form.get(name, [])
        return values[0] if len(values) == 1 else None


@dataclass(frozen=True, slots=True)
class Reply:
    """A route's answer."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


Route = Callable[..., "Reply | tuple[int, bytes, str]"]


def json_reply(status: int, payload: Any, **headers: str) -> Reply:
    """A JSON answer, never cached (RFC 6749 §5.1 ``Cache-Control: no-store``)."""
    return Reply(status, json.dumps(payload).encode(), "application/json",
                 {"Cache-Control": "no-store", **headers})


def _takes_request(route: Route) -> bool:
    try:
        return len(inspect.signature(route).parameters) >= 2
    except (TypeError, ValueError):
        return False


def _dispatch(issuer: LocalIssuer, request: IssuerRequest) -> Reply:
    issuer.hits[request.path] += 1
    issuer.requests.append(request)
    delay = issuer.delays.get(request.path)
    if delay:
        time.sleep(delay)  # a slow upstream, for timeout and single-flight tests
    route = issuer.routes.get(request.path)
    if issuer.fail_with is not None:
        return Reply(issuer.fail_with, b"{}")
    if request.path in issuer.disabled:
        return json_reply(503, {"error": "temporarily_unavailable"}, **{"Retry-After": "1"})
    if route is None:
        return json_reply(404, {"error": "not_found"})
    try:
        reply = route(issuer, request) if _takes_request(route) else route(issuer)
    except Exception:  # a broken test route answers 500 rather than dropping the connection
        log.exception("local issuer route %s failed", request.path)
        return json_reply(500, {"error": "server_error"})
    return reply if isinstance(reply, Reply) else Reply(*reply)


class IssuerHTTPServer(ThreadingHTTPServer):
    """A thread per request, daemonic, with a listen backlog of 128: the default 5 drops
    connections when a test suite or a load test opens many at once."""

    request_queue_size = 128
    daemon_threads = True


class SlowRoute:
    """Wraps the issuer's (two-argument) route at ``path``: answers after a settable ``delay``,
    counting the requests (``calls``) and how many are in it at once (``in_flight``, ``peak``)."""

    def __init__(self, issuer: LocalIssuer, path: str, delay: float = 0.0) -> None:
        self.route, self.delay = issuer.routes[path], delay
        self.calls = self.in_flight = self.peak = 0
        self._lock = threading.Lock()
        issuer.routes[path] = self

    def __call__(self, issuer: LocalIssuer, request: IssuerRequest) -> Any:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self.route(issuer, request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def slow_down(self, delay: float) -> None:
        """Set a new delay and restart the counts (``peak`` from the requests in it now)."""
        with self._lock:
            self.delay, self.peak, self.calls = delay, self.in_flight, 0


def make_handler(issuer: LocalIssuer) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``issuer``."""

    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so a stopped issuer is really gone.

        def handle(self) -> None:
            """Serve one request; a client hanging up mid-way is not an issuer error, so no traceback."""
            try:
                super().handle()
            except ConnectionError:  # BrokenPipeError, ConnectionResetError, ConnectionAbortedError
                self.close_connection = True

        def _serve(self, form: dict[str, list[str]]) -> None:
            path, _, query = self.path.partition("?")
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = IssuerRequest(self.command, path, parse_qs(query), headers, form)
            reply = _dispatch(issuer, request)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            self._serve({})

        def do_POST(self) -> None:  # noqa: N802
            length = min(int(self.headers.get("Content-Length") or 0), _MAX_BODY)
            body = self.rfile.read(length).decode("utf-8", "replace")
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            form = parse_qs(body, keep_blank_values=True) if kind == "application/x-www-form-urlencoded" else {}
            self._serve(form)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
