"""RFC 9449 §4.3 proof checks, sans-I/O, at a fixed ``now``: one test per rule, plus RFC fixtures."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from s2s_guard.core.dpop import (DPoPProof, access_token_hash, check_proof, dpop_token, issue_nonce,
                                 jwk_thumbprint, nonce_issued_at, normalize_htu)
from s2s_guard.core.keys import b64url
from s2s_guard.errors import InvalidDPoPProof, InvalidRequest
from s2s_guard.testing.dpop import DPoPKey

NOW = 1_700_000_000
URL = "https://api.example.com/orders"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
ALGS = ("ES256", "PS256", "RS256", "EdDSA")

# RFC 9449 §4.1 Figure 2 (a proof to a token endpoint, no ath) and Figure 9's thumbprint of its key.
RFC_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklD"
    "UkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2"
    "R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBz"
    "Oi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLv"
    "qRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg")
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
# RFC 7638 §3.1: the example RSA key and its thumbprint.
RFC7638_JWK = {
    "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPeb"
         "WKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQ"
         "MicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2Nc"
         "Rwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey("ES256")


def check(proof: str, *, method: str = "GET", url: str = URL, token: str | None = TOKEN,
          now: float = NOW, window: float = 60, algorithms: tuple[str, ...] = ALGS) -> DPoPProof:
    return check_proof(proof, method=method, url=url, access_token=token, algorithms=algorithms,
                       now=now, iat_window=window)


def good(key: DPoPKey, **overrides: Any) -> str:
    return key.proof("GET", URL, access_token=TOKEN, iat=NOW, **overrides)


def refused(proof: str, **kwargs: Any) -> str:
    with pytest.raises(InvalidDPoPProof) as info:
        check(proof, **kwargs)
    assert info.value.status_code == 401 and info.value.error == "invalid_dpop_proof"
    return info.value.detail


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    def part(obj: dict[str, Any]) -> str:
        return b64url(json.dumps(obj).encode())
    return f"{part(header)}.{part(payload)}.{b64url(signature)}"


# -- fixtures from the RFCs ------------------------------------------------------------------------

def test_rfc9449_example_proof_verifies_and_has_the_published_thumbprint() -> None:
    proof = check(RFC_PROOF, method="POST", url="https://server.example.com/token", token=None,
                  now=1562262616, algorithms=("ES256",))
    assert proof == DPoPProof(jkt=RFC_JKT, jti="-BwC3ESc6acc2lTc", iat=1562262616, nonce=None)


def test_rfc9449_example_proof_needs_ath_at_a_resource_server() -> None:
    assert "ath" in refused(RFC_PROOF, method="POST", url="https://server.example.com/token",
                            now=1562262616, algorithms=("ES256",))


def test_rfc7638_thumbprint_example() -> None:
    assert jwk_thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT  # members other than e, kty, n are ignored


def test_ath_is_base64url_sha256_of_the_token() -> None:
    # RFC 9449 §7.1 example: the token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU" and its ath.
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == \
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


# -- a good proof, every key type ----------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "ES384", "PS256", "RS256", "EdDSA"])
def test_proof_of_each_algorithm_is_accepted(alg: str) -> None:
    key = DPoPKey(alg)
    proof = check(key.proof("POST", URL, access_token=TOKEN, iat=NOW), method="POST",
                  algorithms=("ES256", "ES384", "PS256", "RS256", "EdDSA"))
    assert proof.jkt == key.jkt and proof.iat == NOW and proof.nonce is None


def test_query_and_fragment_are_ignored(key: DPoPKey) -> None:
    proof = key.proof("GET", URL, access_token=TOKEN, iat=NOW)
    check(proof, url=URL + "?page=2#top")


# -- header rules (§4.3 steps 2, 4-7) --------------------------------------------------------------

def test_not_a_jws_is_refused() -> None:
    assert "compact JWS" in refused("not-a-jwt")


def test_oversized_proof_is_refused(key: DPoPKey) -> None:
    assert "exceeds" in refused(good(key, pad="x" * 9000))


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", None, 1])
def test_typ_must_be_dpop_jwt(key: DPoPKey, typ: Any) -> None:
    proof = good(key, headers={"typ": typ})
    assert "typ" in refused(proof)


def test_typ_compares_case_insensitively(key: DPoPKey) -> None:
    check(good(key, headers={"typ": "DPoP+JWT"}))


def test_alg_none_is_refused(key: DPoPKey) -> None:
    payload = {"jti": "1", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)}
    assert "alg" in refused(unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}, payload))


def test_symmetric_alg_is_refused(key: DPoPKey) -> None:
    payload = {"jti": "1", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)}
    proof = jwt.encode(payload, "s" * 32, algorithm="HS256",
                       headers={"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": b64url(b"s" * 32)}})
    assert "alg" in refused(proof)


def test_alg_outside_the_configured_list_is_refused() -> None:
    key = DPoPKey("RS256")
    assert "alg" in refused(key.proof("GET", URL, access_token=TOKEN, iat=NOW), algorithms=("ES256",))


def test_missing_jwk_is_refused(key: DPoPKey) -> None:
    assert "jwk" in refused(good(key, headers={"jwk": None}))


def test_private_key_in_jwk_is_refused(key: DPoPKey) -> None:
    private = {**key.jwk, "d": b64url(b"\x01" * 32)}
    assert "private" in refused(good(key, headers={"jwk": private}))


def test_jwk_of_another_type_than_alg_is_refused(key: DPoPKey) -> None:
    rsa = DPoPKey("RS256")
    assert "fit" in refused(good(key, headers={"jwk": rsa.jwk}))


def test_signature_by_another_key_is_refused(key: DPoPKey) -> None:
    other = DPoPKey("ES256")
    assert "signature" in refused(good(key, headers={"jwk": other.jwk}))


def test_crit_is_refused(key: DPoPKey) -> None:
    assert "crit" in refused(good(key, headers={"crit": ["exp"], "exp": 1}))


# -- claim rules (§4.3 steps 3, 8, 9, 11, 12) ------------------------------------------------------

@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat", "ath"])
def test_required_claims(key: DPoPKey, claim: str) -> None:
    header = jwt.get_unverified_header(good(key))
    payload = jwt.decode(good(key), options={"verify_signature": False})
    del payload[claim]
    assert claim in refused(jwt.encode(payload, key.private_key, algorithm="ES256", headers=header))


def test_htm_must_be_the_method(key: DPoPKey) -> None:
    assert "htm" in refused(good(key), method="POST")
    assert "htm" in refused(key.proof("get", URL, access_token=TOKEN, iat=NOW))  # case-sensitive


@pytest.mark.parametrize("url", ["https://api.example.com/other", "http://api.example.com/orders",
                                 "https://evil.example.com/orders", "https://api.example.com:8443/orders"])
def test_htu_must_be_the_request_uri(key: DPoPKey, url: str) -> None:
    assert "htu" in refused(good(key), url=url)


@pytest.mark.parametrize("htu", [
    "HTTPS://API.Example.COM/orders",  # §6.2.2.1 case of scheme and host
    "https://api.example.com:443/orders",  # §6.2.3 default port
    "https://api.example.com/a/../orders",  # §6.2.2.3 dot segments
    "https://api.example.com/%6Frders",  # §6.2.2.2 unreserved percent-encoding
    "https://api.example.com/orders?x=1#f",  # §4.3 query and fragment ignored
])
def test_htu_is_normalized_before_comparison(key: DPoPKey, htu: str) -> None:
    check(good(key, htu=htu))


def test_htu_percent_encoding_case_is_normalized() -> None:
    assert normalize_htu("https://h/a%2fb") == normalize_htu("https://h/a%2Fb") == "https://h/a%2Fb"
    assert normalize_htu("https://h/a%2Fb") != normalize_htu("https://h/a/b")  # reserved: not decoded
    assert normalize_htu("http://[::1]:80") == "http://[::1]/"


def test_unparsable_htu_is_refused(key: DPoPKey) -> None:
    assert "htu" in refused(good(key, htu="https://api.example.com:99999/orders"))


@pytest.mark.parametrize("delta", [-61, 61, -3600])
def test_iat_outside_the_window_is_refused(key: DPoPKey, delta: int) -> None:
    assert "iat" in refused(key.proof("GET", URL, access_token=TOKEN, iat=NOW + delta))


@pytest.mark.parametrize("delta", [-60, 0, 60])
def test_iat_inside_the_window_is_accepted(key: DPoPKey, delta: int) -> None:
    check(key.proof("GET", URL, access_token=TOKEN, iat=NOW + delta))


@pytest.mark.parametrize("iat", [True, str(NOW), None])
def test_iat_must_be_a_number(key: DPoPKey, iat: Any) -> None:
    payload = {**jwt.decode(good(key), options={"verify_signature": False}), "iat": iat}
    proof = jwt.encode(payload, key.private_key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": key.jwk})
    assert "iat" in refused(proof)


def test_ath_must_hash_this_token(key: DPoPKey) -> None:
    assert "ath" in refused(key.proof("GET", URL, access_token="another-token", iat=NOW))


def test_nonce_must_be_a_string(key: DPoPKey) -> None:
    assert "nonce" in refused(good(key, nonce=""))
    assert check(good(key, nonce="abc")).nonce == "abc"


# -- the Authorization header and server nonces ----------------------------------------------------

def test_dpop_token_reads_only_the_dpop_scheme() -> None:
    assert dpop_token(["DPoP abc.def"]) == "abc.def"
    assert dpop_token(["dpop  abc"]) == "abc"
    assert dpop_token(["Bearer abc"]) is None
    assert dpop_token([]) is None
    assert dpop_token(["DPoP a", "DPoP b"]) is None  # the Bearer path refuses duplicates
    with pytest.raises(InvalidRequest):
        dpop_token(["DPoP"])
    with pytest.raises(InvalidRequest):
        dpop_token(["DPoP a,b"])


def test_nonces_carry_their_time_and_only_ours_are_accepted() -> None:
    secret = b"k" * 32
    nonce = issue_nonce(secret, NOW)
    assert nonce_issued_at(nonce, secret) == NOW
    assert nonce_issued_at(nonce, b"x" * 32) is None
    assert nonce_issued_at("not-ours", secret) is None
    assert nonce_issued_at(base64.urlsafe_b64encode(b"\0" * 24).decode().rstrip("="), secret) is None
