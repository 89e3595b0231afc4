"""The verified-token cache (SHA-256 → principal until exp) and the memory layer."""

from __future__ import annotations

import time
from typing import Any

import pytest

from s2s_guard import AuthError, Guard, InsufficientScope, InvalidToken, Requirement, TokenExpired
from s2s_guard.sources.cache import MemoryCache
from s2s_guard.testing import LocalIssuer

AUD = "api://orders"
ISS = "https://idp.example.test"


@pytest.fixture
def idp() -> LocalIssuer:
    return LocalIssuer(issuer=ISS, audience=AUD, algorithms=("EdDSA",))


def make_guard(idp: LocalIssuer, clock: Any = time.time, **cache: Any) -> tuple[Guard, list[int]]:
    guard = Guard.from_config({"audience": [AUD], "leeway": 0, "cache": cache, "issuers": [
        {"issuer": ISS, "algorithms": ["EdDSA"], "jwks": idp.jwks()}]}, clock=clock)
    checks = [0]
    finish = guard._finish

    def counting(*args: Any, **kwargs: Any) -> Any:
        checks[0] += 1
        return finish(*args, **kwargs)

    guard._finish = counting  # type: ignore[method-assign]
    return guard, checks


def outcome(guard: Guard, token: str, requirement: Requirement | None = None) -> Any:
    try:
        return guard.authenticate_sync("Bearer " + token, requirement)
    except AuthError as exc:
        return exc


def test_a_reused_token_costs_one_signature_check(idp: LocalIssuer) -> None:
    guard, checks = make_guard(idp)
    token = idp.app_token(alg="EdDSA", scopes="orders.read")
    for _ in range(100):
        assert outcome(guard, token).policy == "app-only"
    assert checks[0] == 1


def test_cache_off_checks_every_time(idp: LocalIssuer) -> None:
    guard, checks = make_guard(idp, verified=False)
    token = idp.app_token(alg="EdDSA")
    for _ in range(3):
        outcome(guard, token)
    assert checks[0] == 3


def test_requirement_is_checked_on_every_cached_request(idp: LocalIssuer) -> None:
    guard, _ = make_guard(idp)
    token = idp.app_token(alg="EdDSA", scopes="orders.read")
    assert outcome(guard, token, Requirement(scopes=["orders.read"])).policy == "app-only"
    assert isinstance(outcome(guard, token, Requirement(scopes=["orders.write"])), InsufficientScope)
    assert isinstance(outcome(guard, token, Requirement(policy="user+app")), InsufficientScope)


def test_a_cached_principal_ends_at_exp(idp: LocalIssuer) -> None:
    now = [time.time()]
    guard, checks = make_guard(idp, clock=lambda: now[0])
    token = idp.app_token(alg="EdDSA", ttl=60)
    assert outcome(guard, token).policy == "app-only"
    now[0] += 61
    assert isinstance(outcome(guard, token), TokenExpired)
    assert checks[0] == 2


def test_revoked_tokens_are_refused_even_when_cached(idp: LocalIssuer) -> None:
    guard, _ = make_guard(idp)
    token = idp.mint({"client_id": "a", "sub": "a", "jti": "to-revoke"}, alg="EdDSA")
    assert outcome(guard, token).policy == "app-only"
    guard.revoke("to-revoke")
    err = outcome(guard, token)
    assert isinstance(err, InvalidToken) and err.status_code == 401


def test_memory_cache_is_bounded_and_expires() -> None:
    cache = MemoryCache(maxsize=100)
    for i in range(1000):
        cache.set(f"k{i}", i, expires_at=10.0)
    assert len(cache) == 100 and cache.get("k999", 0.0) == 999 and cache.get("k0", 0.0) is None
    assert cache.get("k999", 10.0) is None and len(cache) == 99
    cache.delete("k998")
    assert cache.get("k998", 0.0) is None


def test_lookup_is_the_warm_path(idp: LocalIssuer) -> None:
    guard, checks = make_guard(idp)
    token = idp.mint({"client_id": "a", "sub": "a", "scope": "orders.read", "jti": "j9"}, alg="EdDSA")
    header = ("Bearer " + token).encode()
    assert guard.lookup(header) is None  # not verified yet: the caller authenticates
    principal = outcome(guard, token)
    assert guard.lookup(header) is principal and checks[0] == 1
    assert guard.lookup(b"Basic abc") is None and guard.lookup(header + b"x") is None
    with pytest.raises(InsufficientScope):
        guard.lookup(header, Requirement(scopes=["orders.write"]))
    guard.revoke("j9")
    with pytest.raises(InvalidToken):
        guard.lookup(header)


def test_lookup_respects_expiry_and_cache_off(idp: LocalIssuer) -> None:
    now = [time.time()]
    guard, _ = make_guard(idp, clock=lambda: now[0])
    token = idp.app_token(alg="EdDSA", ttl=30)
    outcome(guard, token)
    now[0] += 31
    assert guard.lookup(("Bearer " + token).encode()) is None
    off, _ = make_guard(idp, verified=False)
    outcome(off, token)
    assert off.lookup(("Bearer " + token).encode()) is None


def test_middleware_serves_warm_requests_and_refuses_two_headers(idp: LocalIssuer) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from s2s_guard import GuardMiddleware

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse(request.user.identity + " " + ",".join(request.auth.scopes))

    guard, checks = make_guard(idp)
    app = GuardMiddleware(Starlette(routes=[Route("/", hello)]), guard=guard)
    token = idp.app_token("svc", alg="EdDSA", scopes="b a")
    with TestClient(app) as client:
        for _ in range(3):
            response = client.get("/", headers={"Authorization": "Bearer " + token})
            assert response.status_code == 200 and response.text == "svc a,b"
        two = client.get("/", headers=[("Authorization", "Bearer " + token), ("Authorization", "Bearer x")])
        assert two.status_code == 400
        query = client.get("/?access_token=" + token, headers={"Authorization": "Bearer " + token})
        assert query.status_code == 400
    assert checks[0] == 1
