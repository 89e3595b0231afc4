"""Key refreshes, stale keys, introspection calls and cache lookups, counted against real
servers on 127.0.0.1 (a LocalIssuer serving /jwks and /introspect) with a settable guard clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from telemetry_kit import AUD, Recorded

from s2s_guard import AuthError, Guard
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing._server import IssuerRequest, Reply
from settable_clock import Clock

SECRET = "introspection-secret"


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    """A private issuer per test: these tests make its endpoints fail."""
    with LocalIssuer(audience=AUD) as iss:
        yield iss


def jwks_guard(idp: LocalIssuer, otel: Recorded, clock: Clock) -> Guard:
    # a short max-age, no refresh-ahead: a refresh happens when a request finds the keys stale
    config = idp.guard_config(jwks_max_age=60, jwks_min_age=1, jwks_cooldown=5, jwks_refresh_ahead=1.0)
    return Guard.from_config(config, clock=clock, telemetry=otel.telemetry)


def test_refreshes_and_stale_keys_are_counted(idp: LocalIssuer, otel: Recorded) -> None:
    clock = Clock()
    guard = jwks_guard(idp, otel, clock)
    guard.authenticate_sync("Bearer " + idp.app_token())
    assert otel.count("s2s_guard.jwks.refreshes", issuer="local", result="ok") == 1
    assert otel.count("s2s_guard.keys.stale_served") == 0
    idp.fail_with = 503  # the JWKS server fails after the first fetch
    clock.now += 61  # past max-age: the next request refreshes, fails, and keeps the old keys
    guard.authenticate_sync("Bearer " + idp.app_token())
    assert otel.count("s2s_guard.jwks.refreshes", issuer="local", result="error") == 1
    assert otel.count("s2s_guard.keys.stale_served", issuer="local") == 1
    clock.now += 1  # within the cooldown: no fetch, stale keys served again
    guard.authenticate_sync("Bearer " + idp.app_token())
    assert otel.count("s2s_guard.jwks.refreshes") == 2
    assert otel.count("s2s_guard.keys.stale_served", issuer="local") == 2
    assert otel.count("s2s_guard.decisions", outcome="accepted") == 3


def test_a_304_is_counted_as_not_modified(idp: LocalIssuer, otel: Recorded) -> None:
    body = json.dumps(idp.jwks()).encode()

    def jwks(issuer: LocalIssuer, request: IssuerRequest) -> Reply:
        if request.header("if-none-match") == '"v1"':
            return Reply(304, b"", headers={"ETag": '"v1"'})
        return Reply(200, body, headers={"ETag": '"v1"', "Cache-Control": "max-age=60"})

    idp.routes["/jwks"] = jwks
    clock = Clock()
    guard = jwks_guard(idp, otel, clock)
    guard.authenticate_sync("Bearer " + idp.app_token())
    clock.now += 61
    guard.authenticate_sync("Bearer " + idp.app_token())
    assert otel.count("s2s_guard.jwks.refreshes", issuer="local", result="ok") == 1
    assert otel.count("s2s_guard.jwks.refreshes", issuer="local", result="not_modified") == 1
    assert otel.count("s2s_guard.keys.stale_served") == 0


def introspection_guard(idp: LocalIssuer, otel: Recorded, **cache: Any) -> Guard:
    idp.register_client("orders-api", secret=SECRET)
    config = {**idp.guard_config(), "cache": cache, "telemetry": {"audit": False},
              "introspection": {"endpoint": idp.introspection_url, "client_id": "orders-api",
                                "client_secret": SECRET}}
    return Guard.from_config(config, telemetry=otel.telemetry)


def test_introspection_calls_and_cache_hits_are_counted(idp: LocalIssuer, otel: Recorded) -> None:
    guard = introspection_guard(idp, otel, verified=False)  # every request asks the introspection cache
    token = idp.issue_opaque({"client_id": "billing", "scope": "orders.read"})
    for _ in range(3):
        assert guard.authenticate_sync(f"Bearer {token}").app.client_id == "billing"  # type: ignore[union-attr]
    assert otel.count("s2s_guard.introspection.calls", issuer="local", result="active") == 1
    assert otel.count("s2s_guard.cache.lookups", cache="introspection", hit=False) == 1
    assert otel.count("s2s_guard.cache.lookups", cache="introspection", hit=True) == 2
    assert otel.count("s2s_guard.cache.lookups", cache="verified") == 0  # that cache is off
    assert otel.count("s2s_guard.decisions", outcome="accepted", issuer="local") == 3


def test_inactive_and_failed_introspection_are_counted(idp: LocalIssuer, otel: Recorded) -> None:
    guard = introspection_guard(idp, otel)
    with pytest.raises(AuthError):
        guard.authenticate_sync("Bearer opaque-and-unknown")
    idp.disabled.add("/introspect")  # 503 from the endpoint
    with pytest.raises(AuthError) as caught:
        guard.authenticate_sync("Bearer another-unknown-token")
    assert caught.value.status_code == 503
    assert otel.count("s2s_guard.introspection.calls", issuer="local", result="inactive") == 1
    assert otel.count("s2s_guard.introspection.calls", issuer="local", result="error") == 1
    assert otel.count("s2s_guard.decisions", outcome="refused", issuer="local", status=503) == 1
    assert otel.count("s2s_guard.decisions", outcome="refused", issuer="local", status=401) == 1
