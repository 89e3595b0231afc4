"""Real servers on 127.0.0.1 for the tests: free ports, uvicorn and wsgiref in threads, redis-server.

Test folders are not packages: pytest puts ``tests/`` on ``sys.path`` when it loads the root
``conftest.py``, so every folder imports this module as ``loopback``. Django's neutral settings
live here too, since the Django apps served here and the in-process ones need the same.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def run_in_thread(serve: Callable[[], object], started: Callable[[], bool]) -> threading.Thread:
    """Start a server loop in a daemon thread and wait (10 s at most) until it says it is up."""
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not started():
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    return thread


@contextmanager
def serve_uvicorn(app: Any, **config: Any) -> Iterator[int]:
    """uvicorn in a thread on a free loopback port; yields the port.

    ``config`` overrides the defaults (no lifespan, no websockets) or adds options (``ssl_*``, ``http``).
    """
    import uvicorn

    options = {"host": HOST, "port": 0, "log_level": "warning", "lifespan": "off", "ws": "none", **config}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = run_in_thread(server.run, lambda: server.started)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(5)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_wsgi(app: Any) -> Iterator[int]:
    """wsgiref in a thread on a free loopback port, without request logs; yields the port."""
    server = make_server(HOST, 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def configure_django() -> None:
    """Configure Django once (whoever runs first) with neutral settings and DRF installed.

    Settings are process-wide: tests add S2S_GUARD, middleware and URLs with ``override_settings``.
    """
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="s2s-guard-tests", ALLOWED_HOSTS=["*"], DATABASES={},
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
            MIDDLEWARE=[], ROOT_URLCONF=None, LOGGING_CONFIG=None)
    django.setup()


# -- redis-server -----------------------------------------------------------------------------------

class RedisServer:
    """A private redis-server (no persistence) on a free loopback port.

    ``stop()`` then ``start()`` (or ``restart()``) keeps the port and URL: outage and restart tests.
    """

    def __init__(self, binary: str) -> None:
        self.binary, self.port = binary, free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._wait_for_pong(self.proc)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _wait_for_pong(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A :class:`RedisServer` for a fixture, stopped afterwards; skips when redis-server is absent."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (make test / .ci/run install it with apt-get)")
    server = RedisServer(binary)
    try:
        yield server
    finally:
        server.stop()
