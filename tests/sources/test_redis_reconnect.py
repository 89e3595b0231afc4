"""Redis outages and restarts against a real redis-server: a down server fails fast, and the
first command after a restart succeeds although the pooled connections died with the old
server (one immediate retry on a fresh connection, never on a timeout)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import anyio
import pytest
from loopback import RedisServer

from s2s_guard.sources.redis_cache import RedisCache

TIMEOUT = 0.3


class StaleningProxy:
    """A loopback forwarder to Redis; after ``sever()`` every open connection stays silent until
    the client writes, then is reset: a NAT or load balancer that forgot it, with no FIN to see."""

    def __init__(self, upstream: int) -> None:
        self.upstream, self.generation = upstream, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        threading.Thread(target=self._accept, daemon=True).start()

    def sever(self) -> None:
        self.generation += 1

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._forward, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._back, args=(upstream, client), daemon=True).start()

    def _forward(self, client: socket.socket, upstream: socket.socket) -> None:
        generation = self.generation
        with client, upstream:
            while data := client.recv(65536):
                if generation != self.generation:  # stale: answer the write with a RST
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                upstream.sendall(data)

    def _back(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(65536):
                client.sendall(data)
        except OSError:
            pass


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    """The test's own redis-server (conftest.py), which it stops and starts again on the same port."""
    return redis_server


@pytest.fixture
def proxy(server: RedisServer) -> Iterator[StaleningProxy]:
    forwarder = StaleningProxy(server.port)
    yield forwarder
    forwarder.close()


def test_sync_client_fails_fast_then_reconnects(server: RedisServer) -> None:
    cache = RedisCache(server.url, timeout=TIMEOUT, backoff=0.0)
    assert cache.add_sync("k", b"1", 60) is True
    server.stop()
    started = time.monotonic()
    assert cache.get_sync("k") is None  # logged and swallowed, never raised
    assert cache.add_sync("k", b"1", 60) is None
    assert time.monotonic() - started < TIMEOUT  # refused: no timeout paid, no backoff sleeps
    server.start()
    assert cache.add_sync("k", b"2", 60) is True  # the very first command after the restart
    assert cache.get_sync("k") == b"2"
    cache.close()


def test_async_client_fails_fast_then_reconnects(server: RedisServer) -> None:
    async def main() -> None:
        cache = RedisCache(server.url, timeout=TIMEOUT, backoff=0.0)
        assert await cache.aadd("a", b"1", 60) is True
        server.restart()  # no await in between: the loop has not read the old server's FIN yet
        assert await cache.aadd("a", b"2", 60) is True  # was "Connection closed by server"
        server.stop()
        started = time.monotonic()
        assert await cache.aget("a") is None
        assert await cache.aadd("a", b"1", 60) is None
        assert time.monotonic() - started < TIMEOUT
        server.start()
        assert await cache.aadd("a", b"3", 60) is True
        assert await cache.aget("a") == b"3"
        await cache.aclose()

    anyio.run(main)


def test_stale_pooled_connections_are_replaced(proxy: StaleningProxy) -> None:
    cache = RedisCache(proxy.url, timeout=TIMEOUT, backoff=0.0)
    assert cache.add_sync("s", b"1", 60) is True
    proxy.sever()
    assert cache.get_sync("s") == b"1"  # reset on write, retried on a fresh connection
    cache.close()

    async def main() -> None:
        assert await cache.aget("s") == b"1"
        proxy.sever()
        assert await cache.aget("s") == b"1"
        await cache.aclose()

    anyio.run(main)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel backlog) and never answers: a hung Redis."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as sock:
        port: int = sock.getsockname()[1]
        yield port


def test_a_silent_redis_costs_one_timeout_not_two(silent_port: int) -> None:
    cache = RedisCache(f"redis://127.0.0.1:{silent_port}/0", timeout=TIMEOUT, backoff=0.0)
    started = time.monotonic()
    assert cache.get_sync("k") is None
    assert time.monotonic() - started < TIMEOUT * 1.8  # a TimeoutError is never retried

    async def main() -> None:
        started = time.monotonic()
        assert await cache.aget("k") is None
        assert time.monotonic() - started < TIMEOUT * 1.8
        await cache.aclose()

    anyio.run(main)
    cache.close()
