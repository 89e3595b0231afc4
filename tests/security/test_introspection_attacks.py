"""Named attacks on introspected (opaque) tokens, RFC 7662, against a real endpoint on 127.0.0.1.

The endpoint answers what each test sets, as a compromised, buggy or merely different
authorization server might: the guard accepts only ``"active": true`` with this API's
audience, fresh times and well-typed claims, and fails closed (503) when it cannot ask.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from s2s_guard import Guard
from s2s_guard.core.keys import b64url

from security_kit import (AUD, ISS, NOW, Forge, IntrospectionServer, bearer, expect_accepted,
                          expect_refused, make_guard)

INVALID = (401, "invalid_token")
OPAQUE = bearer("2YotnFZFEjr1zCsicMWpAA")  # RFC 6749 §1.4's example access token


@pytest.fixture
def endpoint() -> Iterator[IntrospectionServer]:
    with IntrospectionServer() as server:
        yield server


def introspecting_guard(forge: Forge, endpoint: IntrospectionServer, **introspection: Any) -> Guard:
    """JWTs from ``ISS`` locally; other tokens through ``endpoint`` as client ``orders-api``."""
    block = {"endpoint": endpoint.url, "client_id": "orders-api", "timeout": 2,
             "client_secret": "orders-api-secret-0123456789abcdef", **introspection}
    return make_guard(forge, top={"introspection": block})


def active(**members: Any) -> dict[str, Any]:
    """An active response for an app-only token meant for this API."""
    return {"active": True, "client_id": "daemon", "scope": "orders.read", "aud": AUD, "iss": ISS,
            "exp": NOW + 300, "iat": NOW, "token_type": "Bearer", **members}


def test_honest_active_response_is_accepted(forge: Forge, endpoint: IntrospectionServer) -> None:
    """Positive control (RFC 7662 §2.2): an active response for this audience maps to the app."""
    endpoint.answer(active())
    principal = expect_accepted(introspecting_guard(forge, endpoint), OPAQUE)
    assert principal.policy == "app-only" and principal.app is not None and principal.app.client_id == "daemon"


@pytest.mark.parametrize("flag", ["true", "True", 1, "1", "yes", None, [True], {"value": True}, "missing"],
                         ids=repr)
def test_active_must_be_the_json_boolean_true(forge: Forge, endpoint: IntrospectionServer, flag: object) -> None:
    """RFC 7662 §2.2: ``active`` is a boolean; "true", 1 or a missing member is not active."""
    body = active(active=flag)
    if flag == "missing":
        del body["active"]
    endpoint.answer(body)
    expect_refused(introspecting_guard(forge, endpoint), OPAQUE, *INVALID)


def test_active_response_without_audience(forge: Forge, endpoint: IntrospectionServer) -> None:
    """RFC 8707 §2, RFC 8725 §3.9: an endpoint answers for any token it issued; no aud is refused."""
    body = active()
    del body["aud"]
    endpoint.answer(body)
    expect_refused(introspecting_guard(forge, endpoint), OPAQUE, *INVALID, "bad_audience")


@pytest.mark.parametrize("aud", ["api://billing", ["api://billing"], "api://orders/", "API://ORDERS"])
def test_token_introspected_for_another_audience(forge: Forge, endpoint: IntrospectionServer, aud: object) -> None:
    """RFC 8707 §2: a token issued for another resource, reused here, is refused."""
    endpoint.answer(active(aud=aud))
    expect_refused(introspecting_guard(forge, endpoint), OPAQUE, *INVALID, "bad_audience")


def test_introspected_token_expired(forge: Forge, endpoint: IntrospectionServer) -> None:
    """RFC 7662 §2.2 exp, RFC 7519 §4.1.4: an endpoint that says active for an expired token is overruled."""
    endpoint.answer(active(exp=NOW - 3600))
    expect_refused(introspecting_guard(forge, endpoint), OPAQUE, *INVALID, "expired")


def test_introspected_from_another_issuer(forge: Forge, endpoint: IntrospectionServer) -> None:
    """RFC 8725 §3.8: an ``iss`` in the response must be the configured issuer, compared exactly."""
    endpoint.answer(active(iss=ISS + ".evil.example"))
    expect_refused(introspecting_guard(forge, endpoint), OPAQUE, *INVALID, "unknown_issuer")


@pytest.mark.parametrize("member", [{"scope": ["orders.read"]}, {"client_id": 42}, {"exp": str(NOW + 300)},
                                    {"aud": [AUD, 1]}, {"sub": None}], ids=repr)
def test_introspected_claims_of_the_wrong_type(forge: Forge, endpoint: IntrospectionServer,
                                               member: dict[str, Any]) -> None:
    """RFC 7662 §2.2 (scope a string, exp an integer), RFC 7519 §2: the same type rules as a JWT."""
    endpoint.answer(active(**member))
    expect_refused(introspecting_guard(forge, endpoint), OPAQUE, *INVALID, "invalid_claim")


@pytest.mark.parametrize("body", [b"<html>ok</html>", b"[true]", b'{"active": true', b"",
                                  b'{"active": true, "active": false}'], ids=repr)
def test_garbage_introspection_response_fails_closed(forge: Forge, endpoint: IntrospectionServer,
                                                     body: bytes) -> None:
    """RFC 7662 §2.2 and fail-closed: an unreadable answer is "cannot validate now" (503), never acceptance."""
    endpoint.answer(body)
    expect_refused(introspecting_guard(forge, endpoint), OPAQUE, 503, "temporarily_unavailable")


@pytest.mark.parametrize("status", [500, 401, 302])
def test_introspection_endpoint_error_fails_closed(forge: Forge, endpoint: IntrospectionServer,
                                                   status: int) -> None:
    """RFC 7662 §2.3: an error from the endpoint is 503 with Retry-After, never acceptance."""
    endpoint.answer(active(), status=status)
    expect_refused(introspecting_guard(forge, endpoint), OPAQUE, 503, "temporarily_unavailable")


def test_oversized_introspection_response_fails_closed(forge: Forge, endpoint: IntrospectionServer) -> None:
    """CWE-400 (resource exhaustion), RFC 7662 §2.2: a response of megabytes is not parsed (503)."""
    endpoint.answer(active(padding="x" * 2_000_000))
    expect_refused(introspecting_guard(forge, endpoint), OPAQUE, 503, "temporarily_unavailable")


def test_forged_jwt_of_a_local_issuer_is_not_introspected(forge: Forge, attacker: Forge,
                                                          endpoint: IntrospectionServer) -> None:
    """RFC 8725 §3.1: a JWT from a locally validated issuer that fails is refused, not sent to be rescued."""
    endpoint.answer(active())
    guard = introspecting_guard(forge, endpoint)
    expect_refused(guard, bearer(attacker.token()), *INVALID, "bad_signature")
    assert endpoint.calls == 0


def test_unsigned_jwt_introspection_response(forge: Forge, endpoint: IntrospectionServer) -> None:
    """RFC 9701 §5, RFC 8725 §3.1: a JWT introspection response with alg none is not believed."""
    header = b64url(json.dumps({"alg": "none", "typ": "token-introspection+jwt"}).encode())
    claims = b64url(json.dumps({"iss": ISS, "aud": "orders-api", "iat": NOW,
                                "token_introspection": active()}).encode())
    endpoint.answer(f"{header}.{claims}.".encode(), content_type="application/token-introspection+jwt")
    guard = introspecting_guard(forge, endpoint, jwt_response=True)
    expect_refused(guard, OPAQUE, 503, "temporarily_unavailable")
