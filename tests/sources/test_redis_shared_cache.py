"""The Redis shared layer against a real redis-server on a loopback port: two guards stand for
two worker processes; an outage leaves the memory layer working and never fails open."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import anyio
import pytest
import redis

from s2s_guard import AuthError, Guard, InvalidToken
from s2s_guard.sources.redis_cache import RedisCache
from s2s_guard.testing import LocalIssuer

HTTPServer = Any  # tests/sources/conftest.py: the scriptable loopback server
AUD = "api://orders"
ISS = "https://as.example.test"
CACHE_SECRET = "a-redis-record-hmac-key-of-32-bytes-or-more"


def intro_guard(url: str, redis_url: str, **cache: Any) -> Guard:
    return Guard.from_config({
        "audience": [AUD], "issuers": [{"issuer": ISS, "validation": "introspect"}],
        "introspection": {"endpoint": url, "client_id": "api", "client_secret": "s"},
        "cache": {"backend": "redis", "url": redis_url, "revoked_refresh": 0, "secret": CACHE_SECRET, **cache}})


@pytest.fixture
def introspection(http_server: HTTPServer) -> HTTPServer:
    doc = {"active": True, "iss": ISS, "aud": AUD, "client_id": "billing", "jti": "j-1",
           "exp": int(time.time()) + 600}
    http_server.routes["/introspect"] = lambda r: (200, {"Content-Type": "application/json"}, json.dumps(
        doc if r.form["token"].startswith("good") else {"active": False}).encode())
    return http_server


def outcome(guard: Guard, token: str) -> Any:
    try:
        return guard.authenticate_sync("Bearer " + token)
    except AuthError as exc:
        return exc


def test_workers_share_introspection_results(introspection: HTTPServer, redis_db: str) -> None:
    url = introspection.url + "/introspect"
    one, two = intro_guard(url, redis_db), intro_guard(url, redis_db, verified=False)
    assert outcome(one, "good-1").policy == "app-only"
    assert outcome(two, "good-1").policy == "app-only"
    assert isinstance(outcome(one, "bad-1"), InvalidToken)
    assert isinstance(outcome(two, "bad-1"), InvalidToken)
    assert introspection.hits["/introspect"] == 2  # one call per token across both workers
    keys = redis.Redis.from_url(redis_db).keys("*")
    assert keys and not any(b"good-1" in k or b"bad-1" in k for k in keys)  # hashes, never tokens
    one.close()
    two.close()


def test_workers_share_verified_tokens_async(http_server: HTTPServer, redis_db: str) -> None:
    idp = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("ES256",))
    http_server.json("/jwks", idp.jwks())
    config = {"audience": [AUD], "issuers": [{"issuer": ISS, "algorithms": ["ES256"],
                                              "jwks_uri": http_server.url + "/jwks"}],
              "cache": {"backend": "redis", "url": redis_db, "secret": CACHE_SECRET}}
    token = "Bearer " + idp.app_token("daemon", alg="ES256")

    async def main() -> None:
        one, two = Guard.from_config(config), Guard.from_config(config)
        assert (await one.authenticate(token)).app.client_id == "daemon"  # type: ignore[union-attr]
        principal = await two.authenticate(token)
        assert principal.app is not None and principal.app.client_id == "daemon"
        await one.aclose()
        await two.aclose()

    anyio.run(main)
    assert http_server.hits["/jwks"] == 1  # the second worker trusted the shared result


def test_a_shared_ecdsa_principal_keeps_its_twin_hash(http_server: HTTPServer, redis_db: str) -> None:
    """SEC 1 §4.1.4: a worker that took an ES256 principal from Redis still refuses a hash
    revocation of the token's (r, n - s) twin."""
    idp = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("ES256",))
    http_server.json("/jwks", idp.jwks())
    config = {"audience": [AUD], "issuers": [{"issuer": ISS, "algorithms": ["ES256"],
                                              "jwks_uri": http_server.url + "/jwks"}],
              "cache": {"backend": "redis", "url": redis_db, "revoked_refresh": 0, "secret": CACHE_SECRET}}
    token = idp.app_token("daemon", alg="ES256")
    one, two = Guard.from_config(config), Guard.from_config(config)
    twin_sha = one.authenticate_sync("Bearer " + token).token_twin_sha256
    assert twin_sha and twin_sha != hashlib.sha256(token.encode()).hexdigest()
    assert two.authenticate_sync("Bearer " + token).token_twin_sha256 == twin_sha  # rebuilt from Redis
    assert http_server.hits["/jwks"] == 1
    one.revoke(twin_sha)
    assert isinstance(outcome(two, token), InvalidToken)
    one.close()
    two.close()


def test_revoked_set_is_honoured_by_every_worker(introspection: HTTPServer, redis_db: str) -> None:
    url = introspection.url + "/introspect"
    one, two = intro_guard(url, redis_db), intro_guard(url, redis_db)
    assert outcome(one, "good-1").policy == "app-only"
    assert outcome(two, "good-1").policy == "app-only"
    one.revoke(jti="j-1")  # by jti (positional is ambiguous with introspection: a jti or an opaque token)
    err = outcome(two, "good-1")
    assert isinstance(err, InvalidToken) and err.detail == "token revoked"
    one.close()
    two.close()


def test_revoked_by_token_hash_async(introspection: HTTPServer, redis_db: str) -> None:
    url = introspection.url + "/introspect"

    async def main() -> None:
        one, two = intro_guard(url, redis_db), intro_guard(url, redis_db)
        await one.arevoke(hashlib.sha256(b"good-2").hexdigest())
        with pytest.raises(InvalidToken):
            await two.authenticate("Bearer good-2")
        assert (await two.authenticate("Bearer good-3")).policy == "app-only"
        await one.aclose()
        await two.aclose()

    anyio.run(main)


def test_configured_revoked_entries(introspection: HTTPServer, redis_db: str) -> None:
    guard = intro_guard(introspection.url + "/introspect", redis_db, revoked=["j-1"])
    assert isinstance(outcome(guard, "good-1"), InvalidToken)
    guard.close()


def test_redis_outage_keeps_memory_working_and_fails_closed(introspection: HTTPServer,
                                                            redis_server: Any) -> None:
    url = introspection.url + "/introspect"
    guard = intro_guard(url, redis_server.url)
    assert outcome(guard, "good-1").policy == "app-only"
    guard.revoke(hashlib.sha256(b"good-1").hexdigest())
    redis_server.stop()
    err = outcome(guard, "good-1")  # revoked locally: still refused with Redis gone
    assert isinstance(err, InvalidToken) and err.detail == "token revoked"
    assert outcome(guard, "good-2").policy == "app-only"  # introspection and memory still work
    assert outcome(guard, "good-2").policy == "app-only"
    assert isinstance(outcome(guard, "bad-9"), InvalidToken)  # never fail open
    assert introspection.hits["/introspect"] == 3
    guard.close()


def test_redis_outage_async(introspection: HTTPServer, redis_server: Any) -> None:
    url = introspection.url + "/introspect"

    async def main() -> None:
        guard = intro_guard(url, redis_server.url)
        assert (await guard.authenticate("Bearer good-1")).policy == "app-only"
        redis_server.stop()
        assert (await guard.authenticate("Bearer good-2")).policy == "app-only"
        with pytest.raises(InvalidToken):
            await guard.authenticate("Bearer bad-2")
        await guard.aclose()

    anyio.run(main)


def test_redis_never_reachable(introspection: HTTPServer, dead_url: str) -> None:
    url = introspection.url + "/introspect"
    guard = intro_guard(url, dead_url.replace("http://", "redis://") + "/0")
    assert outcome(guard, "good-1").policy == "app-only"
    assert isinstance(outcome(guard, "bad-1"), InvalidToken)
    guard.close()


def test_redis_cache_values_expire(redis_db: str) -> None:
    cache = RedisCache(redis_db, prefix="t:")
    cache.set_sync("k", b"v", 0.05)
    assert cache.get_sync("k") == b"v"
    time.sleep(0.1)
    assert cache.get_sync("k") is None
    cache.set_sync("gone", b"v", 0)  # nothing to keep
    assert cache.get_sync("gone") is None
    cache.close()


def test_workers_share_fetched_jwks_documents(http_server: HTTPServer, redis_db: str) -> None:
    idp = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("ES256",))
    http_server.json("/jwks", idp.jwks())
    config = {"audience": [AUD], "issuers": [{"issuer": ISS, "algorithms": ["ES256"],
                                              "jwks_uri": http_server.url + "/jwks"}],
              "cache": {"backend": "redis", "url": redis_db, "verified": False, "secret": CACHE_SECRET}}
    one, two = Guard.from_config(config), Guard.from_config(config)
    assert outcome(one, idp.app_token(alg="ES256")).policy == "app-only"
    assert outcome(two, idp.app_token(alg="ES256")).policy == "app-only"

    async def third() -> None:
        guard = Guard.from_config(config)
        assert (await guard.authenticate("Bearer " + idp.app_token(alg="ES256"))).policy == "app-only"
        await guard.aclose()

    anyio.run(third)
    assert http_server.hits["/jwks"] == 1  # the other workers adopted the shared document
    one.close()
    two.close()


def test_revoked_by_sha256_keyword_reaches_every_worker(introspection: HTTPServer, redis_db: str) -> None:
    url = introspection.url + "/introspect"
    one, two = intro_guard(url, redis_db), intro_guard(url, redis_db)
    assert outcome(two, "good-4").policy == "app-only"
    one.revoke(sha256=hashlib.sha256(b"good-4").hexdigest())  # unambiguous, even with introspection
    err = outcome(two, "good-4")
    assert isinstance(err, InvalidToken) and err.detail == "token revoked"
    one.close()
    two.close()
