"""The per-request shortcuts in core decide exactly what the long way decides.

Parsed headers are remembered per header segment, key selection per (alg, identifier),
prepared verifiers per key, and a JSON text that is exactly one value skips ``decode``'s
whitespace handling; each must keep every refusal of the long way and must not let one
token's data leak into another's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from s2s_guard.core import jws as jws_module
from s2s_guard.core.claims import check_claims
from s2s_guard.core.jws import CompactJWS, parse_compact, parse_json_object
from s2s_guard.core.keys import KeySet, VerificationKey, verify_signature
from s2s_guard.errors import (InvalidAudience, InvalidClaim, MalformedToken, TokenExpired,
                              TokenIssuedInFuture, TokenNotYetValid, UnknownKey)

RawJws = Callable[..., str]
KeyFactory = Callable[[str], Any]
JwkFactory = Callable[..., dict[str, Any]]
NOW = 1_700_000_000


def test_compact_builder_makes_what_the_constructor_makes(raw_jws: RawJws) -> None:
    jws = parse_compact(raw_jws({"alg": "RS256"}, {"iss": "a"}))
    assert jws == CompactJWS(jws.header, jws.payload, jws.signing_input, jws.signature)


def test_a_remembered_header_is_a_fresh_copy_each_time(raw_jws: RawJws) -> None:
    token = raw_jws({"alg": "RS256", "kid": "k1"}, {"iss": "a"})
    first = parse_compact(token)
    first.header["alg"] = "none"  # a careless caller must not change the next token's header
    assert parse_compact(token).header == {"alg": "RS256", "kid": "k1"}


def test_header_memory_is_bounded(raw_jws: RawJws) -> None:
    for i in range(jws_module._HEADERS_MAX * 2):
        parse_compact(raw_jws({"alg": "RS256", "kid": f"k{i}"}, {}))
    assert len(jws_module._HEADERS) <= jws_module._HEADERS_MAX


def test_a_bad_header_is_refused_every_time(raw_jws: RawJws) -> None:
    token = raw_jws(b'{"alg": "RS256", "alg": "none"}', {"iss": "a"})
    for _ in range(2):
        with pytest.raises(MalformedToken):
            parse_compact(token)


@pytest.mark.parametrize("raw", [
    b'{"a":1,"a" :2}',           # a duplicate whose colon follows whitespace
    b'{"a":1,"a"\t:2}',
    b'{"a":1,"a"\n:2,"b":":"}',  # and a value that opens with a colon
    b'{"a":1, "a":2}',
    b'{"a":":x","a":1}',
])
def test_duplicates_refused_whatever_the_spacing(raw: bytes) -> None:
    with pytest.raises(MalformedToken):
        parse_json_object(raw, "payload")


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"a" :1,"b":2}', {"a": 1, "b": 2}),
    (b'{"a":":x"}', {"a": ":x"}),
    (b'{ "a" : [1, "b"] , "c":"d e" }', {"a": [1, "b"], "c": "d e"}),
])
def test_spacing_and_colons_in_values_are_not_duplicates(raw: bytes, expected: dict[str, Any]) -> None:
    assert parse_json_object(raw, "payload") == expected


def test_selection_is_remembered_only_for_known_keys(private_key: KeyFactory, public_jwk: JwkFactory) -> None:
    keys = KeySet.from_jwks({"keys": [public_jwk(private_key("RS256"), kid="a")]})
    for i in range(100):
        with pytest.raises(UnknownKey):
            keys.select({"kid": f"unknown-{i}"}, "RS256")
    assert keys.select({"kid": "a"}, "RS256") == keys.select({"kid": "a"}, "RS256")
    with pytest.raises(UnknownKey):
        keys.select({"kid": "a"}, "ES256")  # the same kid, another algorithm: not the memo's answer
    assert len(keys._selected) == 1


def test_prepared_verifier_matches_verify_signature() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = VerificationKey(key=private.public_key(), kid="a")
    data = b"header.payload"
    for alg, pad in (("RS256", padding.PKCS1v15()),
                     ("PS256", padding.PSS(padding.MGF1(hashes.SHA256()), 32))):
        signature = private.sign(data, pad, hashes.SHA256())
        for _ in range(2):  # prepared on first use, then reused
            assert key.verify(alg, data, signature) and verify_signature(alg, key.key, data, signature)
            assert not key.verify(alg, data + b"x", signature)
    ec_key = VerificationKey(key=ec.generate_private_key(ec.SECP256R1()).public_key())
    assert not ec_key.verify("ES256", data, bytes(64))  # CVE-2022-21449: r = s = 0


@pytest.mark.parametrize(("claims", "error"), [
    ({"exp": NOW + 60}, None),
    ({"exp": NOW + 60, "nbf": NOW + 60, "iat": NOW + 60}, None),  # within the 60 s leeway
    ({"exp": NOW - 60}, TokenExpired),
    ({"exp": NOW + 60, "nbf": NOW + 121}, TokenNotYetValid),
    ({"exp": NOW + 60, "iat": NOW + 121}, TokenIssuedInFuture),
    ({"exp": True}, InvalidClaim),
    ({"exp": NOW + 60, "nbf": -1}, InvalidClaim),
    ({"exp": 253402300800}, InvalidClaim),
    ({"exp": NOW + 60.5, "nbf": float(NOW)}, None),
    ({"exp": NOW + 60, "sub": 7}, InvalidClaim),
    ({"exp": NOW + 60, "client_id": None}, InvalidClaim),
    ({"exp": NOW + 60, "aud": ["x", "api://a"]}, None),
    ({"exp": NOW + 60, "aud": "x"}, InvalidAudience),
])
def test_claim_checks(claims: dict[str, Any], error: type[Exception] | None) -> None:
    full = {"iss": "https://idp", "aud": "api://a", **claims}
    if error is None:
        check_claims(full, issuer="https://idp", audiences={"api://a"}, leeway=60, now=NOW)
    else:
        with pytest.raises(error):
            check_claims(full, issuer="https://idp", audiences={"api://a"}, leeway=60, now=NOW)
