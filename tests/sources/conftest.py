"""Real servers on 127.0.0.1 for the source tests: a scriptable HTTP server and redis-server.

``http_server`` answers each path with a handler that returns (status, headers, body), counts
hits, can be slowed (``delay``) or stopped; it stands in for JWKS, discovery and introspection
endpoints. ``redis_url`` starts a private ``redis-server`` on a free loopback port for the
session (``make test`` / ``.ci/run`` install it) and skips only when the binary is absent.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from loopback import RedisServer, free_port, running_redis

Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[["Request"], Reply]


class Request:
    """What the server received: method, path, headers (lower-case) and form fields."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body
        self.form = {k: v[0] for k, v in parse_qs(body.decode("latin-1")).items()}


class HTTPServer:
    """A threaded server: ``routes[path] = handler``; ``hits``, ``requests``, ``delay``, ``stop()``;
    ``connections`` counts accepted TCP connections (``keep_alive=True`` serves HTTP/1.1 keep-alive)."""

    def __init__(self, keep_alive: bool = False) -> None:
        self.keep_alive = keep_alive
        self.connections = 0
        self.routes: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[Request] = []
        self.delay = 0.0
        self._lock = threading.Lock()
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self.port = server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server: ThreadingHTTPServer | None = server

    def json(self, path: str, doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Serve a fixed JSON document at ``path``."""
        import json
        body = json.dumps(doc).encode()
        self.routes[path] = lambda _r: (status, {"Content-Type": "application/json", **(headers or {})}, body)

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(method, handler.path.split("?", 1)[0],
                          {k.lower(): v for k, v in handler.headers.items()}, handler.rfile.read(length))
        with self._lock:
            self.hits[request.path] += 1
            self.requests.append(request)
        if self.delay:
            time.sleep(self.delay)
        route = self.routes.get(request.path)
        status, headers, body = route(request) if route else (404, {}, b"{}")
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout test)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if server.keep_alive else "HTTP/1.0"

            def setup(self) -> None:
                with server._lock:
                    server.connections += 1
                super().setup()

            def do_GET(self) -> None:  # noqa: N802
                server._serve(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                server._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return _Handler

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def new_http_server() -> Iterator[Callable[..., HTTPServer]]:
    """A factory of extra servers (``keep_alive=True`` for HTTP/1.1), all stopped after the test."""
    servers: list[HTTPServer] = []

    def make(keep_alive: bool = False) -> HTTPServer:
        servers.append(HTTPServer(keep_alive))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def http_server(new_http_server: Callable[..., HTTPServer]) -> HTTPServer:
    return new_http_server()


@pytest.fixture
def dead_url() -> str:
    """The URL of a loopback port nobody listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server for the session, stopped at the end."""
    with running_redis() as server:
        yield server.url


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop (outage tests)."""
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[str]:
    """The session's redis, emptied before each test."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    yield redis_url
