"""ECDSA's second valid signature (r, n - s): its hash is known, so hash revocations cover both spellings."""

from __future__ import annotations

import base64
import hashlib
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from s2s_guard import Guard
from s2s_guard.core.keys import ecdsa_twin_sha256
from s2s_guard.errors import AuthError

CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
# Independent of the module's table: the orders as SEC 2 prints them.
ORDERS = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ES384": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    "ES512": 0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
}
ISS, AUD = "https://idp.test", "api://orders"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def twin_of(token: str, alg: str) -> str:
    head, body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    size = len(raw) // 2
    s = int.from_bytes(raw[size:], "big")
    return f"{head}.{body}.{b64(raw[:size] + (ORDERS[alg] - s).to_bytes(size, 'big'))}"


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(params=sorted(CURVES))
def signed(request: pytest.FixtureRequest) -> tuple[str, str, Guard]:
    """(alg, token, a guard trusting the key) for each ECDSA algorithm."""
    alg = request.param
    key = ec.generate_private_key(CURVES[alg])
    now = int(time.time())
    token = jwt.encode({"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "sub": "daemon",
                        "client_id": "daemon", "scope": "orders.read"}, key, algorithm=alg,
                       headers={"kid": "k1"})
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "use": "sig"}
    guard = Guard.from_config({"audience": AUD, "issuers": [
        {"issuer": ISS, "algorithms": [alg], "jwks": {"keys": [jwk]}}]})
    return alg, token, guard


def test_twin_hash_is_the_hash_of_the_other_valid_spelling(signed: tuple[str, str, Guard]) -> None:
    alg, token, guard = signed
    head, body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    twin = twin_of(token, alg)
    assert ecdsa_twin_sha256(alg, f"{head}.{body}".encode(), raw) == sha(twin)
    assert guard.authenticate_sync(f"Bearer {twin}").token_twin_sha256 == sha(token)  # it verifies too


@pytest.mark.parametrize("revoke_twin", [False, True], ids=["revoke-original", "revoke-twin"])
def test_a_hash_revocation_refuses_both_spellings_even_when_cached(signed: tuple[str, str, Guard],
                                                                   revoke_twin: bool) -> None:
    alg, token, guard = signed
    twin = twin_of(token, alg)
    for spelling in (token, twin):  # both warm in the verified-token cache first
        guard.authenticate_sync(f"Bearer {spelling}")
    guard.revoke(sha(twin if revoke_twin else token))
    for spelling in (token, twin):
        with pytest.raises(AuthError) as caught:
            guard.authenticate_sync(f"Bearer {spelling}")
        assert (caught.value.status_code, caught.value.error) == (401, "invalid_token")
        with pytest.raises(AuthError):  # the warm path (cached principal) refuses it as well
            guard.lookup(f"Bearer {spelling}".encode())


@pytest.mark.parametrize(("alg", "signature"), [
    ("RS256", b"\x01" * 256), ("EdDSA", b"\x01" * 64), ("HS256", b"\x01" * 32),  # no twin
    ("ES256", b"\x01" * 63),  # odd length: not r || s
    ("ES256", b"\x01" * 32 + b"\x00" * 32),  # s = 0: no valid twin
    ("ES256", b"\x01" * 32 + ORDERS["ES256"].to_bytes(32, "big")),  # s = n: out of range
])
def test_no_twin_where_there_is_none(alg: str, signature: bytes) -> None:
    assert ecdsa_twin_sha256(alg, b"e30.e30", signature) == ""
