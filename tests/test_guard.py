"""Guard end to end against a real JWKS server on 127.0.0.1: both drivers, rotation, outages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from s2s_guard import (AuthError, Guard, InsufficientScope, Requirement, ServiceUnavailable,
                       TokenExpired, UnknownIssuer, UnknownKey)
from s2s_guard.testing import LocalIssuer

AUD = "api://orders"


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("RS256", "ES256")) as iss:
        yield iss


def make_guard(iss: LocalIssuer, **issuer_cfg: Any) -> Guard:
    cfg = {"issuer": iss.issuer, "algorithms": ["RS256", "ES256"], "jwks_uri": iss.jwks_uri,
           **issuer_cfg}
    return Guard.from_config({"audience": [AUD], "issuers": [cfg]})


def both(guard: Guard, header: Any, requirement: Requirement | None = None) -> Any:
    """Run the sync and the async driver and insist they agree."""
    try:
        sync = guard.authenticate_sync(header, requirement)
    except AuthError as exc:
        sync = exc
    try:
        result = anyio.run(guard.authenticate, header, requirement)
    except AuthError as exc:
        result = exc
    assert type(sync) is type(result)
    return result


def test_app_only_and_user_tokens(issuer: LocalIssuer) -> None:
    guard = make_guard(issuer)
    app = both(guard, "Bearer " + issuer.app_token("daemon", scopes="orders.read"))
    assert app.policy == "app-only" and app.app.client_id == "daemon" and app.user is None
    user = both(guard, "Bearer " + issuer.user_token("alice", "web", scopes="orders.read"))
    assert user.policy == "user+app" and user.user.id == "alice" and user.app.client_id == "web"
    assert user.scopes == {"orders.read"} and user.is_authenticated and user.identity == "alice"


def test_requirement_is_enforced(issuer: LocalIssuer) -> None:
    guard = make_guard(issuer)
    token = "Bearer " + issuer.user_token(scopes="orders.read")
    err = both(guard, token, Requirement(policy="app-only"))
    assert isinstance(err, InsufficientScope) and err.status_code == 403
    err = both(guard, token, Requirement(scopes=["orders.write", "orders.read"]))
    assert isinstance(err, InsufficientScope) and err.scope == "orders.write orders.read"


def test_jwks_fetched_once_and_cached(issuer: LocalIssuer) -> None:
    guard = make_guard(issuer)
    for _ in range(5):
        both(guard, "Bearer " + issuer.app_token())
    assert issuer.hits["/jwks"] == 1


def test_key_rotation_by_kid(issuer: LocalIssuer) -> None:
    guard = make_guard(issuer, jwks_cooldown=0)
    both(guard, "Bearer " + issuer.app_token())
    issuer.rotate("RS256")
    principal = both(guard, "Bearer " + issuer.app_token())
    assert principal.policy == "app-only"
    assert issuer.hits["/jwks"] == 2  # the new kid triggered exactly one refetch


def test_unknown_kid_refetch_is_rate_limited(issuer: LocalIssuer) -> None:
    guard = make_guard(issuer)  # default cooldown: 30 s
    both(guard, "Bearer " + issuer.app_token())
    for i in range(5):
        err = both(guard, "Bearer " + issuer.app_token(headers={"kid": f"nope-{i}"}))
        assert isinstance(err, UnknownKey)
    assert issuer.hits["/jwks"] <= 2


def test_unreachable_jwks_fails_closed_with_503(issuer: LocalIssuer) -> None:
    guard = make_guard(issuer)
    issuer.fail_with = 500
    err = both(guard, "Bearer " + issuer.app_token())
    assert isinstance(err, ServiceUnavailable)
    assert err.status_code == 503 and "Retry-After" in err.headers


def test_stopped_jwks_server_fails_closed() -> None:
    iss = LocalIssuer(audience=AUD).start()
    guard = make_guard(iss)
    token = "Bearer " + iss.app_token()
    iss.stop()
    err = both(guard, token)
    assert isinstance(err, ServiceUnavailable)


def test_cached_keys_survive_an_outage(issuer: LocalIssuer) -> None:
    guard = make_guard(issuer)
    both(guard, "Bearer " + issuer.app_token())
    issuer.fail_with = 503
    assert both(guard, "Bearer " + issuer.app_token()).policy == "app-only"


def test_expired_and_unknown_issuer(issuer: LocalIssuer) -> None:
    guard = make_guard(issuer)
    assert isinstance(both(guard, "Bearer " + issuer.app_token(ttl=-120)), TokenExpired)
    token = issuer.app_token(claims={"iss": issuer.issuer + "/"})
    assert isinstance(both(guard, "Bearer " + token), UnknownIssuer)


def test_fixed_clock_decides_expiry(issuer: LocalIssuer) -> None:
    token = "Bearer " + issuer.app_token(ttl=300)
    late = Guard.from_config(make_guard(issuer).config, clock=lambda: issuer.clock() + 400)
    assert isinstance(both(late, token), TokenExpired)
    within_leeway = Guard.from_config(make_guard(issuer).config, clock=lambda: issuer.clock() + 330)
    assert both(within_leeway, token).policy == "app-only"


def test_errors_carry_realm_and_never_the_token(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    guard = make_guard(issuer)
    token = issuer.app_token(claims={"aud": "api://other"})
    with caplog.at_level(logging.DEBUG, logger="s2s_guard"):
        err = both(guard, "Bearer " + token)
    assert err.www_authenticate.startswith('Bearer realm="api://orders", error="invalid_token"')
    assert "wrong audience" in err.www_authenticate
    assert token not in caplog.text and token not in str(err) and token not in err.body().decode()
