"""Shared fixtures: generated signing keys, public JWKs and a raw compact-JWS builder.

Keys are generated once per session (RSA generation is the slow part); helpers are fixtures
returning callables, since test directories are not packages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from s2s_guard.core.keys import b64url

PrivateKey = (rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
              | ed448.Ed448PrivateKey)
KeyFactory = Callable[[str], PrivateKey]
JwkFactory = Callable[..., dict[str, Any]]
RawJws = Callable[..., str]

_EC_CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}


def _generate(name: str) -> PrivateKey:
    if name.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if name in _EC_CURVES:
        return ec.generate_private_key(_EC_CURVES[name]())
    if name == "Ed448":
        return ed448.Ed448PrivateKey.generate()
    if name in ("EdDSA", "Ed25519"):
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"no key for {name}")


@pytest.fixture(scope="session")
def private_key() -> KeyFactory:
    """``private_key(alg)``: one cached key per family (all RS*/PS* share a 2048-bit RSA key)."""
    cache: dict[str, PrivateKey] = {}

    def get(name: str) -> PrivateKey:
        family = "RSA" if name.startswith(("RS", "PS")) else name
        if family not in cache:
            cache[family] = _generate(name)
        return cache[family]

    return get


@pytest.fixture(scope="session")
def public_jwk() -> JwkFactory:
    """``public_jwk(key, **members)``: the public JWK of a private key, plus extra members."""

    def build(key: PrivateKey, **members: Any) -> dict[str, Any]:
        public = key.public_key()
        jwk: dict[str, Any]
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, **members}

    return build


@pytest.fixture(scope="session")
def raw_jws() -> RawJws:
    """``raw_jws(header, payload, signature=b"sig")``: a compact JWS from objects or raw bytes."""

    def build(header: object, payload: object, signature: bytes = b"sig") -> str:
        parts = [part if isinstance(part, bytes) else json.dumps(part).encode()
                 for part in (header, payload)]
        return ".".join([b64url(parts[0]), b64url(parts[1]), b64url(signature)])

    return build
