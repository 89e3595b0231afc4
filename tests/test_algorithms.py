"""Every supported algorithm end to end through Guard.authenticate_sync, and HMAC key confusion.

Keys are inline JWK Sets and the clock is fixed, so no network is used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from s2s_guard import (BadSignature, ConfigurationError, DisallowedAlgorithm, Guard, Principal,
                       UnknownKey)
from s2s_guard.core.keys import b64url

KeyFactory = Callable[[str], Any]
JwkFactory = Callable[..., dict[str, Any]]
NOW = 1_700_000_000
ISS = "https://issuer.example"
AUD = "api://orders"
SECRET = "a-shared-secret-of-at-least-32-bytes!"
CLAIMS = {"iss": ISS, "aud": AUD, "iat": NOW, "nbf": NOW, "exp": NOW + 300,
          "sub": "alice", "client_id": "web-app", "scope": "orders.read"}
ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
              "ES256", "ES384", "ES512", "EdDSA", "Ed448"]


def guard_for(issuer: dict[str, Any]) -> Guard:
    return Guard.from_config({"audience": [AUD], "issuers": [{"issuer": ISS, **issuer}]},
                             clock=lambda: NOW)


def tamper(token: str, **claims: Any) -> str:
    """The same header and signature over a different payload."""
    header, _, signature = token.split(".")
    payload = b64url(json.dumps({**CLAIMS, **claims}).encode())
    return f"{header}.{payload}.{signature}"


def hs256(claims: dict[str, Any], secret: bytes, header: dict[str, Any] | None = None) -> str:
    """An HS256 token signed by hand (PyJWT refuses PEM keys as HMAC secrets)."""
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


@pytest.fixture
def signed(private_key: KeyFactory, public_jwk: JwkFactory) -> Callable[[str], tuple[Guard, str]]:
    """``signed(name)``: a guard trusting one key, and a token it signed."""

    def make(name: str) -> tuple[Guard, str]:
        alg = "EdDSA" if name == "Ed448" else name
        key = private_key(name)
        guard = guard_for({"algorithms": [alg], "jwks": {"keys": [public_jwk(key, kid="k1")]}})
        return guard, jwt.encode(CLAIMS, key, alg, headers={"kid": "k1"})

    return make


@pytest.mark.parametrize("name", ASYMMETRIC)
def test_algorithm_accepted(signed: Callable[[str], tuple[Guard, str]], name: str) -> None:
    guard, token = signed(name)
    principal = guard.authenticate_sync(f"Bearer {token}")
    assert isinstance(principal, Principal)
    assert principal.policy == "user+app"
    assert principal.identity == "alice"
    assert principal.scopes == frozenset({"orders.read"})


@pytest.mark.parametrize("name", ASYMMETRIC)
def test_tampered_payload_refused(signed: Callable[[str], tuple[Guard, str]], name: str) -> None:
    guard, token = signed(name)
    with pytest.raises(BadSignature) as info:
        guard.authenticate_sync(f"Bearer {tamper(token, scope='orders.read orders.write')}")
    assert info.value.status_code == 401


@pytest.mark.parametrize("name", ["RS256", "ES256", "EdDSA"])
def test_signature_from_another_key_refused(signed: Callable[[str], tuple[Guard, str]],
                                            private_key: KeyFactory, public_jwk: JwkFactory,
                                            name: str) -> None:
    guard, _ = signed(name)
    other = {"RS256": "ES256", "ES256": "EdDSA", "EdDSA": "RS256"}[name]
    forged = jwt.encode(CLAIMS, private_key(other), other, headers={"kid": "k1"})
    with pytest.raises((DisallowedAlgorithm, UnknownKey, BadSignature)):
        guard.authenticate_sync(f"Bearer {forged}")


def test_hs256_accepted_with_a_configured_secret() -> None:
    guard = guard_for({"algorithms": ["HS256"], "secret": SECRET})
    token = jwt.encode(CLAIMS, SECRET, "HS256")
    assert guard.authenticate_sync(f"Bearer {token}").identity == "alice"
    with pytest.raises(BadSignature):
        guard.authenticate_sync(f"Bearer {tamper(token, sub='mallory')}")
    with pytest.raises(BadSignature):
        guard.authenticate_sync(f"Bearer {jwt.encode(CLAIMS, SECRET + 'x', 'HS256')}")


def test_hs256_refused_for_an_asymmetric_issuer(private_key: KeyFactory,
                                                public_jwk: JwkFactory) -> None:
    guard = guard_for({"algorithms": ["RS256"],
                       "jwks": {"keys": [public_jwk(private_key("RS256"), kid="k1")]}})
    with pytest.raises(DisallowedAlgorithm):  # RFC 8725 §3.1: algorithms come from configuration
        guard.authenticate_sync(f"Bearer {jwt.encode(CLAIMS, SECRET, 'HS256')}")


@pytest.mark.parametrize("algorithms", [["RS256"], ["RS256", "HS256"]])
def test_public_key_as_hmac_secret_refused(private_key: KeyFactory, public_jwk: JwkFactory,
                                           algorithms: list[str]) -> None:
    public = private_key("RS256").public_key()
    issuer: dict[str, Any] = {"algorithms": algorithms,
                              "jwks": {"keys": [public_jwk(private_key("RS256"), kid="k1")]}}
    if "HS256" in algorithms:
        issuer["secret"] = SECRET
    guard = guard_for(issuer)
    for encoding, fmt in ((Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
                          (Encoding.PEM, PublicFormat.PKCS1), (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)):
        forged = hs256(CLAIMS, public.public_bytes(encoding, fmt), {"alg": "HS256", "kid": "k1"})
        with pytest.raises((DisallowedAlgorithm, BadSignature)):  # RFC 8725 §2.1 key confusion
            guard.authenticate_sync(f"Bearer {forged}")


def test_hs256_without_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        guard_for({"algorithms": ["HS256"]})
    assert info.value.key == "issuers[0].algorithms"
    assert "secret" in str(info.value)
