"""The LocalIssuer's HTTP server under load and rude clients: a burst of connections is all
served (listen backlog 128, not 5), and a client hanging up mid-response leaves no traceback."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from s2s_guard.testing import LocalIssuer, SigningKey, generate_key


@pytest.fixture(scope="module")
def keys() -> list[SigningKey]:
    return [generate_key("ES256", kid="es")]


@pytest.fixture
def issuer(keys: list[SigningKey]) -> Iterator[LocalIssuer]:
    with LocalIssuer(algorithms=("ES256",), keys=keys) as iss:
        yield iss


def _address(issuer: LocalIssuer) -> tuple[str, int]:
    parts = urlsplit(issuer.url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _get(address: tuple[str, int], path: str) -> bytes:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: test\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_a_burst_of_100_connections_is_all_served(issuer: LocalIssuer) -> None:
    address, start = _address(issuer), threading.Barrier(100)
    replies: list[bytes | str] = []

    def client() -> None:
        start.wait()
        try:
            replies.append(_get(address, "/jwks"))
        except OSError as exc:  # a backlog of 5: refused, reset or timed out
            replies.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [r for r in replies if not (isinstance(r, bytes) and r.startswith(b"HTTP/1.0 200"))]
    assert len(replies) == 100 and not failed, failed[:3]


def _handler_threads() -> int:
    return sum("process_request_thread" in t.name for t in threading.enumerate())


def test_a_client_hanging_up_mid_response_leaves_no_traceback(
        issuer: LocalIssuer, capfd: pytest.CaptureFixture[str]) -> None:
    hung_up = threading.Event()

    def big(_issuer: LocalIssuer) -> tuple[int, bytes, str]:
        hung_up.wait(5)  # answer only once the client is gone
        return 200, b"x" * 1_000_000, "text/plain"

    issuer.routes["/big"] = big
    address = _address(issuer)
    sock = socket.create_connection(address, timeout=5)
    sock.sendall(b"GET /big HTTP/1.0\r\nHost: test\r\n\r\n")
    while issuer.hits["/big"] == 0:
        time.sleep(0.01)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # a reset, so the server's first write fails
    hung_up.set()
    deadline = time.monotonic() + 5
    while _handler_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _get(address, "/jwks").startswith(b"HTTP/1.0 200")  # still serving
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err, err
