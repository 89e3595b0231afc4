"""The sans-I/O introspection core: request building, response parsing and RFC 9701, no network."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from s2s_guard.core.flow import HTTPResponse, cache_max_age, retry_after
from s2s_guard.core.introspection import (INTROSPECTION_JWT, IntrospectionResult, build_request,
                                          client_assertion, parse_response, response_jws,
                                          verify_jwt_response)
from s2s_guard.core.keys import KeySet, VerificationKey
from s2s_guard.errors import BadSignature, InvalidTokenType

NOW = 1_700_000_000.0


def test_basic_auth_form_encodes_id_and_secret() -> None:
    request = build_request("tok", endpoint="https://as/introspect", client_id="my app",
                            auth_method="client_secret_basic", client_secret="p:w/d")
    user, _, secret = base64.b64decode(request.headers["Authorization"][6:]).decode().partition(":")
    assert (user, secret) == ("my+app".replace("+", "%20"), "p%3Aw%2Fd")  # RFC 6749 §2.3.1
    assert parse_qs(request.body.decode()) == {"token": ["tok"], "token_type_hint": ["access_token"]}
    assert request.method == "POST" and request.timeout == 5.0


def test_post_and_private_key_jwt_bodies() -> None:
    post = build_request("t", endpoint="https://as/i", client_id="c", auth_method="client_secret_post",
                         client_secret="s")
    assert parse_qs(post.body.decode())["client_secret"] == ["s"] and "Authorization" not in post.headers
    signed = build_request("t", endpoint="https://as/i", client_id="c", auth_method="private_key_jwt",
                           assertion="a.b.c", accept_jwt=True)
    form = parse_qs(signed.body.decode())
    assert form["client_assertion"] == ["a.b.c"] and signed.headers["Accept"] == INTROSPECTION_JWT


def test_client_assertion_claims() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assertion = client_assertion(client_id="c", audience="https://as", key=key, alg="ES256", kid=None,
                                 now=NOW, jti="j")
    claims = jwt.decode(assertion, key.public_key(), algorithms=["ES256"], audience="https://as",
                        options={"verify_exp": False, "verify_iat": False})
    assert claims == {"iss": "c", "sub": "c", "aud": "https://as", "iat": int(NOW), "exp": int(NOW) + 60,
                      "jti": "j"}


@pytest.mark.parametrize(("body", "active"), [
    ({"active": True, "aud": "x"}, True), ({"active": False}, False), ({"active": "true"}, False),
    ({"active": 1}, False), ({}, False)])
def test_only_the_json_boolean_true_is_active(body: dict[str, object], active: bool) -> None:
    assert parse_response(HTTPResponse(200, {}, json.dumps(body).encode())).active is active


@pytest.mark.parametrize("response", [HTTPResponse(0, error="refused"), HTTPResponse(500),
                                      HTTPResponse(200, {}, b"[]")])
def test_unusable_responses_raise(response: HTTPResponse) -> None:
    with pytest.raises(ValueError):
        parse_response(response)


def test_expiry_of_cached_results() -> None:
    active = IntrospectionResult(active=True, claims={"active": True, "exp": NOW + 50})
    assert active.expires_at(NOW, cache_ttl=300, negative_ttl=10) == NOW + 50
    assert IntrospectionResult(active=True, claims={"exp": NOW + 900}).expires_at(
        NOW, cache_ttl=300, negative_ttl=10) == NOW + 300
    assert IntrospectionResult(active=False).expires_at(NOW, cache_ttl=300, negative_ttl=10) == NOW + 10
    assert IntrospectionResult(active=False, error="x").expires_at(NOW, cache_ttl=300, negative_ttl=10) == NOW
    assert IntrospectionResult.from_json(active.to_json()) == active
    with pytest.raises(ValueError):
        IntrospectionResult.from_json(b'{"active": "yes", "claims": {}}')


def _jwt_response(key: ec.EllipticCurvePrivateKey, typ: str = "token-introspection+jwt") -> HTTPResponse:
    body = jwt.encode({"iss": "https://as", "aud": "rs", "iat": int(NOW),
                       "token_introspection": {"active": True, "aud": "api"}},
                      key, algorithm="ES256", headers={"typ": typ, "kid": "k"})
    return HTTPResponse(200, {"content-type": INTROSPECTION_JWT + "; charset=utf-8"}, body.encode())


def test_rfc9701_response_verified_with_the_servers_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    keys = KeySet([VerificationKey(key=key.public_key(), kid="k")])
    jws = response_jws(_jwt_response(key))
    assert jws is not None
    result = verify_jwt_response(jws, keys, algorithms=["ES256"], issuer="https://as", client_id="rs",
                                 leeway=60, now=NOW)
    assert result.active and result.claims["aud"] == "api"
    other = KeySet([VerificationKey(key=ec.generate_private_key(ec.SECP256R1()).public_key(), kid="k")])
    with pytest.raises(BadSignature):
        verify_jwt_response(jws, other, algorithms=["ES256"], issuer="https://as", client_id="rs",
                            leeway=60, now=NOW)
    wrong_typ = response_jws(_jwt_response(key, typ="JWT"))
    assert wrong_typ is not None
    with pytest.raises(InvalidTokenType):  # RFC 9701 §5: explicit typing
        verify_jwt_response(wrong_typ, keys, algorithms=["ES256"], issuer="https://as", client_id="rs",
                            leeway=60, now=NOW)


def test_plain_json_is_not_a_jws() -> None:
    assert response_jws(HTTPResponse(200, {"content-type": "application/json"}, b"{}")) is None


@pytest.mark.parametrize(("value", "age"), [
    ("max-age=300", 300.0), ("public, max-age=60, must-revalidate", 60.0), ("no-store", 0.0),
    ("no-cache, max-age=100", 0.0), ("private", None), ("", None), ('max-age="20"', 20.0)])
def test_cache_control_max_age(value: str, age: float | None) -> None:
    assert cache_max_age({"cache-control": value}) == age


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0) == 1 and retry_after(1.2) == 2 and retry_after(30) == 30
