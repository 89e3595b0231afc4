"""RFC 9449 §11.1: the jti replay cache, per worker in memory and shared by workers through Redis.

Two guards on one real redis-server stand for two worker processes behind a load balancer.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from s2s_guard import Guard
from s2s_guard.errors import InvalidDPoPProof
from s2s_guard.sources.cache import MemoryCache
from s2s_guard.sources.redis_cache import RedisCache
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing.dpop import DPoPKey, bound_token

URL = "https://api.example.com/orders"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A private redis-server on a free loopback port for this test (the test may stop it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def worker(issuer: LocalIssuer, redis_url: str) -> Guard:
    return Guard.from_config({**issuer.guard_config(dpop="allowed"),
                              "cache": {"backend": "redis", "url": redis_url}})


def call(guard: Guard, token: str, proof: str) -> object:
    return guard.authenticate_sync(f"DPoP {token}", dpop_proof=proof, method="GET", url=URL)


def test_memory_add_is_set_if_absent() -> None:
    cache = MemoryCache(10)
    assert cache.add("k", 1, expires_at=10, now=0) is True
    assert cache.add("k", 2, expires_at=10, now=5) is False
    assert cache.add("k", 3, expires_at=20, now=10) is True  # the first entry expired
    assert cache.get("k", 11) == 3


def test_redis_add_is_set_if_absent(redis_url: str) -> None:
    cache = RedisCache(redis_url, prefix="t:")
    assert cache.add_sync("k", b"1", 5) is True
    assert cache.add_sync("k", b"1", 5) is False
    cache.close()


@pytest.mark.anyio
async def test_redis_async_add(redis_url: str) -> None:
    cache = RedisCache(redis_url, prefix="a:")
    assert await cache.aadd("k", b"1", 5) is True
    assert await cache.aadd("k", b"1", 5) is False
    await cache.aclose()
    cache.close()


def test_a_proof_used_at_one_worker_is_refused_at_another(redis_url: str) -> None:
    with LocalIssuer(audience="api://orders", algorithms=("RS256",)) as issuer:
        key = DPoPKey()
        token = bound_token(issuer, key)
        one, two = worker(issuer, redis_url), worker(issuer, redis_url)
        proof = key.proof("GET", URL, access_token=token)
        call(one, token, proof)
        with pytest.raises(InvalidDPoPProof):
            call(two, token, proof)  # seen by the other worker, through Redis
        call(two, token, key.proof("GET", URL, access_token=token))  # a fresh proof is fine anywhere
        one.close()
        two.close()


def test_redis_outage_keeps_each_worker_refusing_its_own_replays(redis_url: str) -> None:
    with LocalIssuer(audience="api://orders", algorithms=("RS256",)) as issuer:
        key = DPoPKey()
        token = bound_token(issuer, key)
        guard = Guard.from_config({**issuer.guard_config(dpop="allowed"),
                                   "cache": {"backend": "redis", "url": "redis://127.0.0.1:1/0", "timeout": 0.2}})
        proof = key.proof("GET", URL, access_token=token)
        call(guard, token, proof)  # Redis unreachable: the memory layer answers
        with pytest.raises(InvalidDPoPProof):
            call(guard, token, proof)
        guard.close()
