"""Named attacks on signatures, algorithms, keys and headers: one test per attack, each citing its source.

Every forged token is otherwise valid (fresh, right issuer and audience), so each refusal is
for the reason under test; the first test shows the forge's honest tokens are accepted.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from s2s_guard import Guard
from s2s_guard.core.keys import b64url
from s2s_guard.testing import LocalIssuer

from security_kit import (AUD, ISS, P256_ORDER, SECRET, Forge, bearer, expect_accepted,
                          expect_refused, public_jwk)

INVALID = (401, "invalid_token")


def test_honest_tokens_are_accepted(guard: Guard, forge: Forge) -> None:
    """Positive control (RFC 7515 §5.2): the forge's correctly signed tokens pass for every algorithm."""
    for alg in ("RS256", "ES256", "EdDSA"):
        principal = expect_accepted(guard, bearer(forge.token(alg=alg)))
        assert principal.policy == "app-only" and principal.app is not None


# -- "alg": "none" and algorithm allow-lists (RFC 8725 §2.1, §3.1) -----------------------------

@pytest.mark.parametrize("spelling", ["none", "None", "NONE", "nOnE", " none", "none\u0000"])
@pytest.mark.parametrize("signature", [b"", b"\x00" * 32], ids=["unsigned", "with-signature"])
def test_alg_none_in_every_spelling(guard: Guard, forge: Forge, spelling: str, signature: bytes) -> None:
    """RFC 8725 §2.1 and §3.1; CVE-2022-23540 (jsonwebtoken): "none" is never an accepted algorithm."""
    token = forge.token(header={"alg": spelling, "typ": "at+jwt"}, signature=signature)
    expect_refused(guard, bearer(token), *INVALID, "disallowed_algorithm")


def test_alg_none_outer_token_outside_sharepoint_profile(guard: Guard, forge: Forge) -> None:
    """RFC 8725 §3.1: an unsecured token wrapping a signed one is only SharePoint's, never the jwt profile's."""
    outer = forge.claims(actortoken=forge.token())
    token = forge.token(outer, header={"alg": "none", "typ": "JWT"}, signature=b"")
    expect_refused(guard, bearer(token), *INVALID, "disallowed_algorithm")


@pytest.mark.parametrize("alg", [None, ["RS256"], {"RS256": True}, 256, ""], ids=repr)
def test_alg_missing_or_not_a_string(guard: Guard, forge: Forge, alg: object) -> None:
    """RFC 7515 §4.1.1: ``alg`` is a required string; anything else is refused before any key is chosen."""
    header = {"typ": "at+jwt", "kid": "rsa-1"} if alg is None else {"alg": alg, "typ": "at+jwt", "kid": "rsa-1"}
    token = forge.token(header=header, signature=forge.token().split(".")[2].encode())
    expect_refused(guard, bearer(token), *INVALID, "disallowed_algorithm")


def test_algorithm_outside_the_allow_list(guard: Guard, forge: Forge) -> None:
    """RFC 8725 §3.1: PS256 correctly signed with the trusted RSA key is refused when only RS256 is allowed."""
    token = forge.token(alg="PS256")
    expect_refused(guard, bearer(token), *INVALID, "disallowed_algorithm")


# -- RSA/ECDSA public key used as an HMAC secret (key confusion) --------------------------------

def _public_pem(forge: Forge) -> bytes:
    return forge.rsa.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def test_hs256_with_public_key_pem_as_secret(guard: Guard, forge: Forge) -> None:
    """CVE-2017-11424 (PyJWT), CVE-2024-37568 (Authlib), CVE-2015-9235 (jsonwebtoken): RS/HS confusion, PEM."""
    token = forge.token(header=forge.header("HS256", kid="rsa-1"), alg="HS256", key=_public_pem(forge))
    expect_refused(guard, bearer(token), *INVALID, "disallowed_algorithm")


def test_hs256_with_public_jwk_as_secret(guard: Guard, forge: Forge) -> None:
    """RFC 8725 §2.1 key confusion, JWK form: the public JWK's JSON (or its modulus) as the HMAC key."""
    jwk = public_jwk(forge.rsa, kid="rsa-1", use="sig")
    for secret in (json.dumps(jwk).encode(), json.dumps(jwk, separators=(",", ":")).encode(),
                   base64.urlsafe_b64decode(jwk["n"] + "==")):
        token = forge.token(header=forge.header("HS256", kid="rsa-1"), alg="HS256", key=secret)
        expect_refused(guard, bearer(token), *INVALID, "disallowed_algorithm")


def test_hs256_with_openssh_public_key_as_secret(guard: Guard, forge: Forge) -> None:
    """CVE-2022-29217 (PyJWT), CVE-2024-33663 (python-jose): an OpenSSH-format public key as HMAC secret."""
    for key in (forge.ec, forge.ed, forge.rsa):
        ssh = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
        token = forge.token(header=forge.header("HS256"), alg="HS256", key=ssh)
        expect_refused(guard, bearer(token), *INVALID, "disallowed_algorithm")


def test_hs256_with_whitespace_padded_pem_as_secret(guard: Guard, forge: Forge) -> None:
    """CVE-2023-48223 (fast-jwt): a PEM with leading whitespace slipped past a public-key check."""
    token = forge.token(header=forge.header("HS256"), alg="HS256", key=b"\n  " + _public_pem(forge))
    expect_refused(guard, bearer(token), *INVALID, "disallowed_algorithm")


def test_public_key_as_secret_where_hmac_is_also_allowed(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 8725 §3.1-3.2: with HS256 allowed (own secret), an HMAC made with the public key still fails."""
    guard = guard_with(algorithms=["RS256", "HS256"], secret=SECRET)
    expect_accepted(guard, bearer(forge.token(alg="HS256", header={"alg": "HS256", "typ": "at+jwt"})))
    token = forge.token(header=forge.header("HS256", kid="rsa-1"), alg="HS256", key=_public_pem(forge))
    expect_refused(guard, bearer(token), *INVALID, "bad_signature")


def test_symmetric_key_from_jwks_is_never_used(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 8725 §3.1 (panva/jose refuses "oct" keys from a JWK Set): a published oct key is not a secret."""
    oct_key = b"published-in-the-jwks-for-all-to-see!!"
    jwks = forge.jwks()
    jwks["keys"].append({"kty": "oct", "kid": "oct-1", "k": b64url(oct_key), "use": "sig"})
    guard = guard_with(algorithms=["RS256", "HS256"], secret=SECRET, jwks=jwks)
    token = forge.token(header={"alg": "HS256", "kid": "oct-1", "typ": "at+jwt"}, alg="HS256", key=oct_key)
    expect_refused(guard, bearer(token), *INVALID, "bad_signature")


def test_kid_of_another_key_type(guard: Guard, forge: Forge) -> None:
    """RFC 7517 §4.4, RFC 8725 §3.1: RS256 naming the EC key's kid finds no key that can verify it."""
    token = forge.token(header=forge.header("RS256", kid="ec-1"))
    expect_refused(guard, bearer(token), *INVALID, "unknown_kid")


def test_jwk_alg_pin_is_enforced(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 7517 §4.4: a JWK pinned to RS256 does not verify PS256, even with PS256 allowed."""
    jwks = {"keys": [public_jwk(forge.rsa, kid="rsa-1", use="sig", alg="RS256")]}
    guard = guard_with(algorithms=["RS256", "PS256"], jwks=jwks)
    expect_refused(guard, bearer(forge.token(alg="PS256")), *INVALID, "unknown_kid")


def test_weak_rsa_key_in_jwks_is_skipped(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 7518 §3.3 (2048 bits or larger MUST be used): a weaker RSA key is never used, even if published."""
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    guard = guard_with(jwks={"keys": [public_jwk(weak, kid="weak", use="sig")]})
    token = forge.token(header=forge.header("RS256", kid="weak"), key=weak)
    expect_refused(guard, bearer(token), *INVALID, "unknown_kid")


def test_encryption_key_in_jwks_is_skipped(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 7517 §4.2: a key published with ``use: enc`` does not verify signatures."""
    guard = guard_with(jwks={"keys": [public_jwk(forge.rsa, kid="rsa-1", use="enc")]})
    expect_refused(guard, bearer(forge.token()), *INVALID, "unknown_kid")


# -- signatures --------------------------------------------------------------------------------

def _ec_token(forge: Forge, r: int, s: int) -> str:
    return forge.token(alg="ES256", signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"))


@pytest.mark.parametrize(("r", "s"), [(0, 0), (0, 1), (1, 0), (P256_ORDER, P256_ORDER)],
                         ids=["r=s=0", "r=0", "s=0", "r=s=n"])
def test_ecdsa_psychic_signature(guard: Guard, forge: Forge, r: int, s: int) -> None:
    """CVE-2022-21449 ("psychic signatures"): r or s zero (or the group order) never verifies."""
    expect_refused(guard, bearer(_ec_token(forge, r, s)), *INVALID, "bad_signature")


def test_ecdsa_der_signature_refused(guard: Guard, forge: Forge) -> None:
    """RFC 7518 §3.4: a JWS ECDSA signature is raw R || S; an ASN.1 DER signature is not accepted."""
    token = forge.token(alg="ES256")
    head, body, _ = token.split(".")
    der = forge.ec.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    expect_refused(guard, bearer(f"{head}.{body}.{b64url(der)}"), *INVALID, "bad_signature")


def test_truncated_and_stripped_signatures(guard: Guard, forge: Forge) -> None:
    """RFC 7515 §5.2: an empty or truncated signature never verifies (RS256, ES256, EdDSA)."""
    for alg in ("RS256", "ES256", "EdDSA"):
        head, body, sig = forge.token(alg=alg).split(".")
        for cut in ("", sig[: len(sig) // 8 * 4]):  # whole base64 quanta: canonical, just short
            expect_refused(guard, bearer(f"{head}.{body}.{cut}"), *INVALID, "bad_signature")


def test_payload_tampered_after_signing(guard: Guard, forge: Forge) -> None:
    """RFC 7515 §5.2: raising one's scope in the payload breaks the signature."""
    head, _, sig = forge.token().split(".")
    body = b64url(json.dumps(forge.claims(scope="orders.read orders.admin")).encode())
    expect_refused(guard, bearer(f"{head}.{body}.{sig}"), *INVALID, "bad_signature")


def test_signature_spliced_from_another_token(guard: Guard, forge: Forge) -> None:
    """RFC 7515 §5.2: a valid signature of one token does not carry over to another payload."""
    head, body, _ = forge.token(forge.claims(sub="mallory", client_id="mallory")).split(".")
    sig = forge.token().split(".")[2]
    expect_refused(guard, bearer(f"{head}.{body}.{sig}"), *INVALID, "bad_signature")


def test_token_signed_by_an_untrusted_key_with_a_trusted_kid(guard: Guard, forge: Forge, attacker: Forge) -> None:
    """RFC 7515 §10.1: the kid names the key; a different key under the same kid fails verification."""
    for alg in ("RS256", "ES256", "EdDSA"):
        expect_refused(guard, bearer(attacker.token(alg=alg)), *INVALID, "bad_signature")


# -- header-supplied keys and key references (never trusted) ------------------------------------

def test_embedded_jwk_header_is_ignored(guard: Guard, forge: Forge, attacker: Forge) -> None:
    """CVE-2018-0114 (node-jose), RFC 8725 §3.10: a key embedded in the ``jwk`` header is never used."""
    jwk = public_jwk(attacker.rsa, kid="mallory")
    named = attacker.token(header={"alg": "RS256", "typ": "at+jwt", "kid": "mallory", "jwk": jwk})
    expect_refused(guard, bearer(named), *INVALID, "unknown_kid")
    unnamed = attacker.token(header={"alg": "RS256", "typ": "at+jwt", "jwk": jwk})
    expect_refused(guard, bearer(unnamed), *INVALID, "bad_signature")


@pytest.mark.parametrize("member", ["jku", "x5u"])
def test_key_url_header_is_never_fetched(guard: Guard, attacker: Forge, member: str) -> None:
    """RFC 8725 §3.10: following ``jku``/``x5u`` is server-side request forgery; the URL is not fetched."""
    with LocalIssuer(issuer=ISS, audience=AUD, algorithms=("RS256",)) as evil:
        header = {"alg": "RS256", "typ": "at+jwt", "kid": evil.keys[0].kid, member: evil.jwks_uri}
        token = evil.mint(attacker.claims(), headers=header)
        expect_refused(guard, bearer(token), *INVALID, "unknown_kid")
        assert sum(evil.hits.values()) == 0


def test_x5c_header_certificate_is_ignored(guard: Guard, attacker: Forge) -> None:
    """RFC 8725 §3.10, RFC 7515 §4.1.6: a self-signed chain in ``x5c`` does not make its key trusted."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer.example")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(attacker.rsa.public_key()).serial_number(1)
            .not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2040, 1, 1))
            .sign(attacker.rsa, hashes.SHA256()))
    x5c = [base64.b64encode(cert.public_bytes(Encoding.DER)).decode()]
    token = attacker.token(header={"alg": "RS256", "typ": "at+jwt", "x5c": x5c})
    expect_refused(guard, bearer(token), *INVALID, "bad_signature")


# -- kid: path traversal, injection, wrong types, floods (RFC 8725 §3.10) -------------------------

@pytest.mark.parametrize("kid", ["../../../../../../dev/null", "/dev/null", "..\\..\\windows\\win.ini",
                                 "file:///etc/passwd", "rsa-1/../rsa-1"])
def test_kid_path_traversal(guard: Guard, forge: Forge, kid: str) -> None:
    """RFC 8725 §3.10: a kid is looked up, never opened; an empty-key HS256 "/dev/null" trick fails too."""
    expect_refused(guard, bearer(forge.token(header=forge.header("RS256", kid=kid))), *INVALID, "unknown_kid")
    hs = forge.token(header={"alg": "HS256", "kid": kid, "typ": "at+jwt"}, alg="HS256", key=b"")
    expect_refused(guard, bearer(hs), *INVALID, "disallowed_algorithm")


def test_kid_path_traversal_on_an_hmac_issuer(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 8725 §3.10: with HS256 allowed, a kid naming an empty file does not make the key empty."""
    guard = guard_with(algorithms=["HS256"], secret=SECRET, jwks=None)
    token = forge.token(header={"alg": "HS256", "kid": "../../../../dev/null", "typ": "at+jwt"},
                        alg="HS256", key=b"")
    expect_refused(guard, bearer(token), *INVALID, "bad_signature")


@pytest.mark.parametrize("kid", ["' OR '1'='1", "rsa-1' --", "*)(uid=*", "${jndi:ldap://x/a}", "rsa-1\u0000"])
def test_kid_injection(guard: Guard, forge: Forge, kid: str) -> None:
    """RFC 8725 §3.10: SQL, LDAP and lookup injection in kid find nothing (a kid is compared, not run)."""
    expect_refused(guard, bearer(forge.token(header=forge.header("RS256", kid=kid))), *INVALID, "unknown_kid")


@pytest.mark.parametrize("kid", [None, 1, ["rsa-1"], {"$ne": None}, True], ids=repr)
def test_kid_of_the_wrong_type(guard: Guard, forge: Forge, kid: object) -> None:
    """RFC 7515 §4.1.4 (kid is a string): NoSQL-style ``{"$ne": null}`` and other non-strings are malformed."""
    expect_refused(guard, bearer(forge.token(header=forge.header("RS256", kid=kid))), *INVALID, "malformed")


def test_kid_flood_does_not_hammer_the_jwks_server(forge: Forge) -> None:
    """RFC 8725 §3.10, panva/jose cooldown: 40 unknown kids cost at most one refetch per cooldown."""
    with LocalIssuer(issuer=ISS, audience=AUD, algorithms=("RS256",)) as issuer:
        guard = Guard.from_config({"audience": [AUD], "issuers": [
            {"issuer": ISS, "algorithms": ["RS256"], "jwks_uri": issuer.jwks_uri}]})
        assert guard.authenticate_sync(bearer(issuer.app_token("daemon"))).identity == "daemon"
        for i in range(40):
            token = issuer.mint(forge.claims(), headers={"kid": f"random-{i}"})
            expect_refused(guard, bearer(token), *INVALID, "unknown_kid")
        assert issuer.hits["/jwks"] <= 2


# -- crit, b64, cty, typ ------------------------------------------------------------------------

@pytest.mark.parametrize("crit", [["exp"], ["b64"], [], ["https://example.com/unknown"], "exp"], ids=repr)
def test_crit_header_refused(guard: Guard, forge: Forge, crit: object) -> None:
    """RFC 7515 §4.1.11: extensions we do not implement (or an empty/invalid list) must be refused."""
    extra = {"b64": False} if crit == ["b64"] else {"exp": 1} if crit == ["exp"] else {}
    token = forge.token(header=forge.header("RS256", crit=crit, **extra))
    expect_refused(guard, bearer(token), *INVALID, "unsupported_crit")


@pytest.mark.parametrize("b64", [False, "false", 0, None], ids=repr)
def test_unencoded_payload_b64_refused(guard: Guard, forge: Forge, b64: object) -> None:
    """RFC 7797 §3: ``b64`` other than true changes what is signed; not supported, so refused."""
    expect_refused(guard, bearer(forge.token(header=forge.header("RS256", b64=b64))), *INVALID, "unsupported_crit")


@pytest.mark.parametrize("cty", ["JWT", "jwt", "application/jwt", "Application/JWT"])
def test_nested_jwt_cty_refused(guard: Guard, forge: Forge, cty: str) -> None:
    """RFC 7519 §5.2, RFC 8725 §2.8: a nested JWT (``cty: JWT``) is not an access token here."""
    inner = forge.token()
    token = forge.token(inner.encode(), header=forge.header("RS256", cty=cty))
    expect_refused(guard, bearer(token), *INVALID, "malformed")
    token = forge.token(header=forge.header("RS256", cty=cty))
    expect_refused(guard, bearer(token), *INVALID, "malformed")


@pytest.mark.parametrize("typ", ["JWT", "jwt", "id_token+jwt", "secevent+jwt", None, 1, "at+jwt "], ids=repr)
def test_token_type_confusion(guard_with: Callable[..., Guard], forge: Forge, typ: object) -> None:
    """RFC 8725 §3.11, RFC 9068 §4: with ``typ = "at+jwt"`` required, other JWT kinds are refused."""
    guard = guard_with(typ="at+jwt")
    header = forge.header("RS256") | {"typ": typ}
    if typ is None:
        del header["typ"]
    expect_refused(guard, bearer(forge.token(header=header)), *INVALID, "bad_type")


def test_explicit_typ_accepts_media_type_forms(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 7515 §4.1.9: ``application/at+jwt`` and case variants name the same type (positive control)."""
    guard = guard_with(typ="at+jwt")
    for typ in ("at+jwt", "AT+JWT", "application/at+jwt"):
        expect_accepted(guard, bearer(forge.token(header=forge.header("RS256", typ=typ))))


def test_id_token_used_as_access_token(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 9068 §4, RFC 8725 §2.8: an ID token (typ JWT, aud = the client) is refused by typ and by aud."""
    id_token = forge.token(forge.claims(aud="daemon", nonce="n-0S6_WzA2Mj", auth_time=1_699_999_000),
                           header=forge.header("RS256", typ="JWT"))
    expect_refused(guard_with(typ="at+jwt"), bearer(id_token), *INVALID, "bad_type")
    expect_refused(guard_with(), bearer(id_token), *INVALID, "bad_audience")


# -- other serializations -----------------------------------------------------------------------

def test_jwe_compression_bomb_refused(guard: Guard) -> None:
    """CVE-2024-33664 (python-jose), CVE-2024-28102 (jwcrypto): JWE with ``zip: DEF`` is not decrypted."""
    header = b64url(json.dumps({"alg": "RSA-OAEP", "enc": "A256GCM", "zip": "DEF", "kid": "rsa-1"}).encode())
    jwe = ".".join([header, "A" * 342, "AAAAAAAAAAAAAAAA", "A" * 2000, "AAAAAAAAAAAAAAAAAAAAAA"])
    expect_refused(guard, bearer(jwe), *INVALID, "malformed")


def test_jwe_pbes2_huge_iteration_count_refused(guard: Guard) -> None:
    """RFC 7518 §4.8.1.2 (p2c): a PBES2 JWE with p2c = 2^31 is never processed (known CPU DoS)."""
    header = b64url(json.dumps({"alg": "PBES2-HS512+A256KW", "enc": "A256GCM", "p2c": 2**31,
                                "p2s": "AAAAAAAAAAAAAAAAAAAAAA"}).encode())
    jwe = ".".join([header, "A" * 54, "A" * 16, "A" * 16, "A" * 22])
    expect_refused(guard, bearer(jwe), *INVALID, "malformed")


def test_mixed_json_serialization_forgery_refused(guard: Guard, forge: Forge) -> None:
    """CVE-2022-39227 (python-jwt): JSON serialization smuggled around a compact token is not a bearer token."""
    head, body, sig = forge.token().split(".")
    forged = b64url(json.dumps(forge.claims(scope="orders.admin")).encode())
    smuggled = json.dumps({f" {head}.{forged}.": "", "protected": head, "payload": body, "signature": sig})
    expect_refused(guard, bearer(smuggled), 400, "invalid_request")


# -- ECDSA signature malleability and revocation ------------------------------------------------

def _high_s_twin(token: str) -> str:
    """The same ES256 token with (r, n - s): a second valid signature anyone can compute."""
    head, body, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    s = int.from_bytes(raw[32:], "big")
    return f"{head}.{body}.{b64url(raw[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"


def test_revocation_by_jti_survives_ecdsa_malleability(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """SEC 1 §4.1.4 ECDSA malleability (r, n - s), RFC 7519 §4.1.7: a jti revocation covers every spelling."""
    token = forge.token(forge.claims(jti="revoked-1"), alg="ES256")
    twin = _high_s_twin(token)
    expect_accepted(guard_with(), bearer(twin))  # both signatures verify: ECDSA itself is malleable
    guard = guard_with(top={"cache": {"revoked": ["revoked-1"]}})
    for spelling in (token, twin):
        expect_refused(guard, bearer(spelling), *INVALID)


def test_revocation_by_token_hash_survives_ecdsa_malleability(guard_with: Callable[..., Guard],
                                                              forge: Forge) -> None:
    """SEC 1 §4.1.4 ECDSA malleability: revoking an ES256 token by SHA-256 should refuse its (r, n - s) twin."""
    token = forge.token(alg="ES256")
    guard = guard_with(top={"cache": {"revoked": [hashlib.sha256(token.encode()).hexdigest()]}})
    expect_refused(guard, bearer(token), *INVALID)
    expect_refused(guard, bearer(_high_s_twin(token)), *INVALID)
