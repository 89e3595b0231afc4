"""Requirements (403 insufficient_scope) and the RFC 6750 §3 challenge every AuthError carries."""

from __future__ import annotations

from typing import Any

import pytest

from s2s_guard import Guard
from s2s_guard.errors import (AuthError, BadSignature, ConfigurationError, InsufficientScope,
                              InvalidRequest, InvalidToken, MissingToken, ServiceUnavailable,
                              TokenExpired)
from s2s_guard.policy import Requirement
from s2s_guard.principal import AppPrincipal, Policy, Principal, UserPrincipal

ISS = "https://issuer.example"
APP = AppPrincipal(client_id="web-app", issuer=ISS)
USER = UserPrincipal(id="alice", issuer=ISS)
PRINCIPALS = {
    "app-only": Principal(app=APP, user=None, scopes=frozenset({"orders.read"})),
    "user+app": Principal(app=APP, user=USER, scopes=frozenset({"orders.read"})),
    "user-only": Principal(app=None, user=USER, scopes=frozenset({"orders.read"})),
}


def guard() -> Guard:
    return Guard.from_config({"audience": "api://orders", "realm": "orders", "issuers": [
        {"issuer": ISS, "algorithms": ["HS256"], "secret": "s" * 32}]})


@pytest.mark.parametrize("kind", list(PRINCIPALS))
def test_principal_policy(kind: Policy) -> None:
    assert PRINCIPALS[kind].policy == kind


@pytest.mark.parametrize(("required", "kind", "allowed"), [
    ("app-only", "app-only", True),
    ("app-only", "user+app", False),
    ("app-only", "user-only", False),
    ("user+app", "app-only", False),
    ("user+app", "user+app", True),
    ("user+app", "user-only", False),
    ("user-only", "app-only", False),
    ("user-only", "user+app", True),    # only the user's rights count; the app is ignored
    ("user-only", "user-only", True),
    (None, "app-only", True),
    (None, "user+app", True),
    (None, "user-only", True),
])
def test_policy_table(required: Policy | None, kind: Policy, allowed: bool) -> None:
    requirement = Requirement(policy=required)
    if allowed:
        requirement.check(PRINCIPALS[kind])
    else:
        with pytest.raises(InsufficientScope) as info:
            requirement.check(PRINCIPALS[kind])
        assert info.value.status_code == 403  # an authorization failure is never invalid_token
        assert info.value.scope is None


@pytest.mark.parametrize("kind", list(PRINCIPALS))
def test_missing_scopes_name_every_required_scope(kind: Policy) -> None:
    requirement = Requirement(scopes=["orders.read", "orders.write", "orders.admin"])
    with pytest.raises(InsufficientScope) as info:
        requirement.check(PRINCIPALS[kind])
    assert info.value.scope == "orders.read orders.write orders.admin"
    challenge = info.value.www_authenticate
    assert challenge is not None
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="orders.read orders.write orders.admin"' in challenge


def test_policy_failure_names_the_scopes_too() -> None:
    with pytest.raises(InsufficientScope) as info:
        Requirement(policy="app-only", scopes=["orders.read"]).check(PRINCIPALS["user+app"])
    assert info.value.scope == "orders.read"


@pytest.mark.parametrize("scopes", [(), ["orders.read"], "orders.read"])
def test_granted_scopes_pass(scopes: Any) -> None:
    Requirement(policy="user+app", scopes=scopes).check(PRINCIPALS["user+app"])


def test_a_single_scope_string_is_one_scope() -> None:
    assert Requirement(scopes="orders.read").scopes == ("orders.read",)


@pytest.mark.parametrize("policy", ["app", "App-Only", "user_only", "", "any"])
def test_invalid_policy_name(policy: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        Requirement(policy=policy)
    assert info.value.key == "policy"


def test_guard_authorize_adds_the_realm() -> None:
    with pytest.raises(InsufficientScope) as info:
        guard().authorize(PRINCIPALS["app-only"], Requirement(scopes=["orders.write"]))
    assert info.value.www_authenticate == (
        'Bearer realm="orders", error="insufficient_scope", '
        'error_description="The access token lacks a scope this resource requires", '
        'scope="orders.write"')


# -- RFC 6750 §3 challenges --------------------------------------------------------------------

@pytest.mark.parametrize(("exc", "challenge"), [
    (MissingToken(), "Bearer"),
    (MissingToken(realm="api"), 'Bearer realm="api"'),
    (InvalidRequest(realm="api"),
     'Bearer realm="api", error="invalid_request", '
     'error_description="The request carries a malformed Bearer credential"'),
    (TokenExpired(), 'Bearer error="invalid_token", error_description="The access token expired"'),
    (InsufficientScope(scope="a b"),
     'Bearer error="insufficient_scope", '
     'error_description="The access token does not grant what this resource requires", scope="a b"'),
])
def test_www_authenticate_format(exc: AuthError, challenge: str) -> None:
    assert exc.www_authenticate == challenge
    assert exc.headers["WWW-Authenticate"] == challenge
    assert exc.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("cls", [InvalidToken, TokenExpired, BadSignature, InvalidRequest,
                                 InsufficientScope, MissingToken, ServiceUnavailable])
def test_description_never_contains_detail(cls: type[AuthError]) -> None:
    detail = "kid=secret-kid token=eyJhbGciOi upstream said no"
    exc = cls(detail, realm="api")
    assert exc.detail == detail
    for text in (exc.description or "", str(exc.www_authenticate), exc.body().decode(),
                 str(exc.to_dict()), *exc.headers.values()):
        assert "secret-kid" not in text
        assert "eyJhbGciOi" not in text


def test_characters_outside_rfc6750_set_are_stripped() -> None:
    exc = InsufficientScope(realm='my "realm"\\\r\nx\u00e9', scope='a "b"\\ c\u2028')
    assert exc.www_authenticate == (
        'Bearer realm="my realmx", error="insufficient_scope", '
        'error_description="The access token does not grant what this resource requires", '
        'scope="a b c"')


def test_service_unavailable_is_503_without_challenge() -> None:
    exc = ServiceUnavailable("jwks.example: connection refused")
    assert exc.status_code == 503
    assert exc.headers["Retry-After"] == "5"
    assert "WWW-Authenticate" not in exc.headers
    assert ServiceUnavailable(retry_after=30).headers["Retry-After"] == "30"


def test_body_is_rfc6750_json() -> None:
    assert TokenExpired("exp 12").body() == (
        b'{"error": "invalid_token", "error_description": "The access token expired"}')
    assert MissingToken().body() == b'{"error_description": "Bearer access token required"}'
