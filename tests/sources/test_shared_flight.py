"""Cluster-wide single flight and pooled connections, against real servers on loopback.

Two guards with memory caches of their own, sharing one redis-server, stand for two worker
processes; they are cold at the same moment. The identity provider answers slowly (``delay``)
so their misses overlap, as a cold burst's do.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import redis

from s2s_guard import AuthError, Guard
from s2s_guard.sources.redis_cache import RedisCache
from s2s_guard.sources.shared_flight import LOCK_PREFIX
from s2s_guard.sources.signed import namespace_for
from s2s_guard.testing import LocalIssuer

HTTPServer = Any  # tests/sources/conftest.py: the scriptable loopback server
AUD = "api://orders"
ISS = "https://as.example.test"
CACHE_SECRET = "a-redis-record-hmac-key-of-32-bytes-or-more"
DELAY = 0.3  # the identity provider's answer time: long enough for the misses to overlap


def introspecting(server: HTTPServer, redis_url: str | None, *, timeout: float = 5.0) -> dict[str, Any]:
    doc = {"active": True, "iss": ISS, "aud": AUD, "client_id": "billing", "exp": int(time.time()) + 600}
    server.json("/introspect", doc)
    config: dict[str, Any] = {
        "audience": [AUD], "issuers": [{"issuer": ISS, "validation": "introspect"}],
        "introspection": {"endpoint": server.url + "/introspect", "client_id": "api", "client_secret": "s",
                          "timeout": timeout}}
    if redis_url is not None:
        config["cache"] = {"backend": "redis", "url": redis_url, "revoked_refresh": 0, "secret": CACHE_SECRET}
    return config


def jwt_config(server: HTTPServer, idp: LocalIssuer, redis_url: str) -> dict[str, Any]:
    server.json("/jwks", idp.jwks())
    return {"audience": [AUD], "issuers": [{"issuer": ISS, "algorithms": ["ES256"],
                                            "jwks_uri": server.url + "/jwks"}],
            "cache": {"backend": "redis", "url": redis_url, "revoked_refresh": 0, "secret": CACHE_SECRET}}


def burst(guards: list[Guard], tokens: list[str], per_guard: int = 8) -> list[Any]:
    """Every guard authenticates every token ``per_guard`` times, all threads released at once."""
    jobs = [(g, t) for g in guards for t in tokens for _ in range(per_guard)]
    start, results = threading.Barrier(len(jobs)), [None] * len(jobs)

    def run(i: int, guard: Guard, token: str) -> None:
        start.wait()
        try:
            results[i] = guard.authenticate_sync("Bearer " + token).policy
        except AuthError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, g, t)) for i, (g, t) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def closing(*guards: Guard) -> None:
    for guard in guards:
        guard.close()


def test_a_cold_burst_across_workers_makes_one_introspection_call_per_token(http_server: HTTPServer,
                                                                           redis_db: str) -> None:
    http_server.delay = DELAY
    config = introspecting(http_server, redis_db)
    one, two = Guard.from_config(config), Guard.from_config(config)
    results = burst([one, two], ["tok-a", "tok-b"])
    assert set(results) == {"app-only"}
    assert http_server.hits["/introspect"] == 2  # one per token, not one per token and worker
    closing(one, two)


def test_a_cold_async_burst_across_workers_makes_one_call(http_server: HTTPServer, redis_db: str) -> None:
    http_server.delay = DELAY
    config = introspecting(http_server, redis_db)

    async def main() -> None:
        guards = [Guard.from_config(config) for _ in range(3)]
        principals = await asyncio.gather(*(g.authenticate("Bearer tok-a") for g in guards for _ in range(5)))
        assert {p.policy for p in principals} == {"app-only"}
        for guard in guards:
            await guard.aclose()

    anyio.run(main)
    assert http_server.hits["/introspect"] == 1


def test_a_cold_burst_across_workers_fetches_the_jwks_once(http_server: HTTPServer, redis_db: str) -> None:
    idp = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("ES256",))
    http_server.delay = DELAY
    config = jwt_config(http_server, idp, redis_db)
    guards = [Guard.from_config(config) for _ in range(3)]
    tokens = [idp.app_token(f"app-{i}", alg="ES256") for i in range(3)]
    assert set(burst(guards, tokens, per_guard=3)) == {"app-only"}
    assert http_server.hits["/jwks"] == 1
    closing(*guards)


def test_a_cold_async_burst_across_workers_fetches_the_jwks_once(http_server: HTTPServer,
                                                                 redis_db: str) -> None:
    idp = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("ES256",))
    http_server.delay = DELAY
    config = jwt_config(http_server, idp, redis_db)
    token = "Bearer " + idp.app_token(alg="ES256")

    async def main() -> None:
        guards = [Guard.from_config(config) for _ in range(3)]
        principals = await asyncio.gather(*(g.authenticate(token) for g in guards for _ in range(4)))
        assert {p.policy for p in principals} == {"app-only"}
        for guard in guards:
            await guard.aclose()

    anyio.run(main)
    assert http_server.hits["/jwks"] == 1


def plant_lock(redis_url: str, config: dict[str, Any], token: str, px: int | None) -> str:
    """Leave the lock a dead worker held on ``token``'s introspection; the lock's full key."""
    guard = Guard.from_config(config)
    sha = hashlib.sha256(token.encode()).hexdigest()
    key = "s2s_guard:" + LOCK_PREFIX + f"i:{namespace_for(guard.config)}:{sha}"
    guard.close()
    client = redis.Redis.from_url(redis_url)
    client.set(key, b"a-worker-that-died", px=px)
    client.close()
    return key


@pytest.mark.parametrize("px", [400, None], ids=["expiring", "never-expiring"])
def test_a_dead_lock_holder_delays_the_others_by_at_most_the_lock_ttl(http_server: HTTPServer,
                                                                      redis_db: str, px: int | None) -> None:
    """A holder that died leaves its lock; the others wait out the lock's lifetime (introspection
    ``timeout`` x 2), then fetch. A lock that never expires (planted) cannot hold them longer."""
    config = introspecting(http_server, redis_db, timeout=0.2)
    key = plant_lock(redis_db, config, "tok-a", px)
    guard = Guard.from_config(config)
    assert guard.authenticate_sync("Bearer tok-a").policy == "app-only"
    assert http_server.hits["/introspect"] == 1
    client = redis.Redis.from_url(redis_db)
    if px is not None:
        assert client.get(key) is None  # expired, taken over and released by its new holder
    else:
        assert client.get(key) == b"a-worker-that-died"  # never deleted by a worker that does not hold it
    client.close()
    guard.close()


def test_a_dead_lock_holder_async(http_server: HTTPServer, redis_db: str) -> None:
    config = introspecting(http_server, redis_db, timeout=0.2)
    plant_lock(redis_db, config, "tok-a", None)

    async def main() -> None:
        guard = Guard.from_config(config)
        assert (await guard.authenticate("Bearer tok-a")).policy == "app-only"
        await guard.aclose()

    anyio.run(main)
    assert http_server.hits["/introspect"] == 1


def test_redis_down_keeps_the_per_process_single_flight(http_server: HTTPServer, redis_server: Any) -> None:
    http_server.delay = DELAY
    config = introspecting(http_server, redis_server.url)
    redis_server.stop()
    guard = Guard.from_config(config)
    assert set(burst([guard], ["tok-a"], per_guard=12)) == {"app-only"}
    assert http_server.hits["/introspect"] == 1
    guard.close()


def test_a_lock_is_released_only_by_its_holder(redis_db: str) -> None:
    cache = RedisCache(redis_db)
    assert cache.lock_sync("lock:x", b"me", 5) is True
    assert cache.lock_sync("lock:x", b"other", 5) is False
    cache.unlock_sync("lock:x", b"other")  # not the holder: no effect
    assert cache.lock_sync("lock:x", b"other", 5) is False
    cache.unlock_sync("lock:x", b"me")
    assert cache.lock_sync("lock:x", b"other", 5) is True

    async def main() -> None:
        assert await cache.alock("lock:x", b"me", 5) is False
        await cache.aunlock("lock:x", b"me")
        assert await cache.alock("lock:x", b"me", 5) is False
        await cache.aunlock("lock:x", b"other")
        assert await cache.alock("lock:x", b"me", 5) is True
        await cache.aclose()

    anyio.run(main)
    cache.close()


def test_an_unreachable_redis_answers_none_to_lock(dead_url: str) -> None:
    cache = RedisCache(dead_url.replace("http://", "redis://"), timeout=0.2)
    assert cache.lock_sync("lock:x", b"me", 5) is None
    cache.unlock_sync("lock:x", b"me")  # an outage is logged, never raised
    cache.close()


# -- pooled connections -------------------------------------------------------------------------

def sequential(new_http_server: Callable[..., HTTPServer]) -> tuple[HTTPServer, dict[str, Any]]:
    server = new_http_server(keep_alive=True)
    return server, introspecting(server, None)


def test_sync_calls_reuse_one_connection(new_http_server: Callable[..., HTTPServer]) -> None:
    server, config = sequential(new_http_server)
    guard = Guard.from_config(config)
    for i in range(5):
        assert guard.authenticate_sync(f"Bearer tok-{i}").policy == "app-only"
    assert server.hits["/introspect"] == 5
    assert server.connections == 1
    guard.close()


def test_async_calls_reuse_one_connection_and_aclose_closes_it(new_http_server: Callable[..., HTTPServer]) -> None:
    server, config = sequential(new_http_server)

    async def main() -> None:
        guard = Guard.from_config(config)
        for i in range(5):
            assert (await guard.authenticate(f"Bearer tok-{i}")).policy == "app-only"
        await guard.aclose()
        assert (await guard.authenticate("Bearer tok-after")).policy == "app-only"  # a new pool
        await guard.aclose()

    anyio.run(main)
    assert server.hits["/introspect"] == 6
    assert server.connections == 2


def test_jwks_refetches_reuse_one_connection(new_http_server: Callable[..., HTTPServer]) -> None:
    server = new_http_server(keep_alive=True)
    idp = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("ES256",))
    server.json("/jwks", idp.jwks())
    config = {"audience": [AUD], "issuers": [{"issuer": ISS, "algorithms": ["ES256"], "jwks_cooldown": 0,
                                              "jwks_uri": server.url + "/jwks"}]}

    async def main() -> None:
        guard = Guard.from_config(config)
        for i in range(3):  # each unknown kid refetches (no cooldown)
            header = {"alg": "ES256", "kid": f"unknown-{i}"}
            with pytest.raises(AuthError):
                await guard.authenticate("Bearer " + idp.mint({"sub": "x"}, alg="ES256", headers=header))
        await guard.aclose()

    anyio.run(main)
    assert server.hits["/jwks"] >= 3
    assert server.connections == 1


def test_shared_results_are_signed_records(http_server: HTTPServer, redis_db: str) -> None:
    """The lock holder publishes through the HMAC-signed layer: a waiter adopts only a signed record."""
    config = introspecting(http_server, redis_db)
    guard = Guard.from_config(config)
    assert guard.authenticate_sync("Bearer tok-a").policy == "app-only"
    client = redis.Redis.from_url(redis_db)
    keys = [k for k in client.keys("*") if b":i:" in k]
    assert keys and all(not client.get(k).startswith(b"{") for k in keys)  # type: ignore[union-attr]
    assert not any(k.startswith(b"s2s_guard:" + LOCK_PREFIX.encode()) for k in client.keys("*"))
    client.close()
    guard.close()


# -- discovery documents ------------------------------------------------------------------------

def discovered(server: HTTPServer, redis_url: str, validation: str) -> dict[str, Any]:
    server.json("/.well-known/openid-configuration", {
        "issuer": ISS, "jwks_uri": server.url + "/jwks", "introspection_endpoint": server.url + "/introspect"})
    issuer: dict[str, Any] = {"issuer": ISS, "algorithms": ["ES256"],
                              "discovery": server.url + "/.well-known/openid-configuration"}
    config: dict[str, Any] = {"audience": [AUD], "issuers": [issuer],
                              "cache": {"backend": "redis", "url": redis_url, "revoked_refresh": 0,
                                        "secret": CACHE_SECRET}}
    if validation == "introspect":
        issuer["validation"] = "introspect"
        config["introspection"] = {"client_id": "api", "client_secret": "s"}
        server.json("/introspect", {"active": True, "iss": ISS, "aud": AUD, "client_id": "billing",
                                    "exp": int(time.time()) + 600})
    return config


def test_workers_fetch_a_discovery_document_once_for_introspection(http_server: HTTPServer,
                                                                   redis_db: str) -> None:
    http_server.delay = DELAY
    config = discovered(http_server, redis_db, "introspect")
    guards = [Guard.from_config(config) for _ in range(3)]
    assert set(burst(guards, ["tok-a", "tok-b"], per_guard=3)) == {"app-only"}
    assert http_server.hits["/.well-known/openid-configuration"] == 1
    assert http_server.hits["/introspect"] == 2
    closing(*guards)


def test_workers_fetch_a_discovery_document_once_for_keys_async(http_server: HTTPServer, redis_db: str) -> None:
    idp = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("ES256",))
    http_server.json("/jwks", idp.jwks())
    http_server.delay = DELAY
    config = discovered(http_server, redis_db, "jwt")
    token = "Bearer " + idp.app_token(alg="ES256")

    async def main() -> None:
        guards = [Guard.from_config(config) for _ in range(3)]
        principals = await asyncio.gather(*(g.authenticate(token) for g in guards for _ in range(3)))
        assert {p.policy for p in principals} == {"app-only"}
        for guard in guards:
            await guard.aclose()

    anyio.run(main)
    assert http_server.hits["/.well-known/openid-configuration"] == 1
    assert http_server.hits["/jwks"] == 1


def test_concurrent_first_requests_wait_for_the_one_discovery_fetch(http_server: HTTPServer) -> None:
    """RFC 8414 §3 / RFC 7662 §2: with no shared layer, the first requests for distinct opaque
    tokens all wait for the one discovery fetch that finds the introspection endpoint; none fails
    for want of a document another thread is still fetching (which also tripped the outage breaker)."""
    http_server.delay = DELAY
    config = discovered(http_server, "", "introspect")
    del config["cache"]
    guard = Guard.from_config(config)
    tokens = [f"tok-{i}" for i in range(6)]
    assert set(burst([guard], tokens, per_guard=2)) == {"app-only"}
    assert http_server.hits["/.well-known/openid-configuration"] == 1
    assert http_server.hits["/introspect"] == len(tokens)
    closing(guard)


def test_concurrent_first_async_requests_wait_for_the_one_discovery_fetch(http_server: HTTPServer) -> None:
    """Async twin: the event loop's first requests share the one discovery fetch."""
    http_server.delay = DELAY
    config = discovered(http_server, "", "introspect")
    del config["cache"]

    async def main() -> None:
        guard = Guard.from_config(config)
        principals = await asyncio.gather(*(guard.authenticate(f"Bearer tok-{i}") for i in range(6)))
        assert {p.policy for p in principals} == {"app-only"}
        await guard.aclose()

    anyio.run(main)
    assert http_server.hits["/.well-known/openid-configuration"] == 1
    assert http_server.hits["/introspect"] == 6


# -- refresh ahead --------------------------------------------------------------------------------

def test_one_worker_refreshes_ahead_for_the_deployment(http_server: HTTPServer, redis_db: str) -> None:
    from settable_clock import Clock

    clock = Clock()
    idp = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("ES256",))
    config = jwt_config(http_server, idp, redis_db)
    config["cache"]["verified"] = False  # every request asks its key source
    guards = [Guard.from_config(config, clock=clock) for _ in range(2)]
    token = idp.app_token(alg="ES256", ttl=3600)
    assert [g.authenticate_sync("Bearer " + token).policy for g in guards] == ["app-only"] * 2
    assert http_server.hits["/jwks"] == 1
    http_server.delay = DELAY
    clock.now += 500  # past refresh_ahead (80% of the 600 s max-age), still fresh
    assert set(burst(guards, [token], per_guard=2)) == {"app-only"}  # each starts its refresh
    for thread in threading.enumerate():
        if thread.name.startswith("s2s_guard-"):
            thread.join(30)  # the background refreshes
    assert http_server.hits["/jwks"] == 2  # one refresh for both workers
    closing(*guards)
