"""RFC 9449 §11.1: the jti replay cache, per worker in memory and shared by workers through Redis.

Two guards on one real redis-server (``redis_url``, from conftest.py) stand for two worker
processes behind a load balancer.
"""

from __future__ import annotations

import pytest

from s2s_guard import Guard
from s2s_guard.errors import InvalidDPoPProof
from s2s_guard.sources.cache import MemoryCache
from s2s_guard.sources.redis_cache import RedisCache
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing.dpop import DPoPKey, bound_token

URL = "https://api.example.com/orders"
CACHE_SECRET = "a-redis-record-hmac-key-of-32-bytes-or-more"


def worker(issuer: LocalIssuer, redis_url: str) -> Guard:
    return Guard.from_config({**issuer.guard_config(dpop="allowed"),
                              "cache": {"backend": "redis", "url": redis_url, "secret": CACHE_SECRET}})


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
                                   "cache": {"backend": "redis", "url": "redis://127.0.0.1:1/0", "timeout": 0.2,
                                             "secret": CACHE_SECRET}})
        proof = key.proof("GET", URL, access_token=token)
        call(guard, token, proof)  # Redis unreachable: the memory layer answers
        with pytest.raises(InvalidDPoPProof):
            call(guard, token, proof)
        guard.close()
