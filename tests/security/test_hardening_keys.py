"""Issue 12, keys and signatures: whose key verifies a token, and how many spellings it has.

Each test names the rule it rests on. Tokens are otherwise valid (fresh, right issuer and
audience, correctly signed), so each refusal is for the reason under test; positive controls
say so in their docstrings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from s2s_guard import AuthError, ConfigurationError, Guard
from s2s_guard.core.keys import b64url

from loopback import serve_wsgi
from security_kit import AUD, NOW, Forge, bearer, expect_accepted, expect_refused, public_jwk

INVALID = (401, "invalid_token")
TENANT_A = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TENANT_B = "9188040d-6c67-4c5b-b112-36a304b66dad"
TEMPLATE = "https://login.microsoftonline.com/{tenantid}/v2.0"
APP = "6e74172b-be56-4843-9ff4-e66a39bb12e3"


def v2_iss(tenant: str) -> str:
    return f"https://login.microsoftonline.com/{tenant}/v2.0"


def v1_iss(tenant: str) -> str:
    return f"https://sts.windows.net/{tenant}/"


def entra_claims(tenant: str, *, ver: str = "2.0", **overrides: Any) -> dict[str, Any]:
    """An Entra app-only access token's claims for ``tenant`` (v1.0: sts.windows.net and appid)."""
    app = {"azp": APP} if ver == "2.0" else {"appid": APP}
    base = {"iss": v2_iss(tenant) if ver == "2.0" else v1_iss(tenant), "aud": AUD, "iat": NOW,
            "nbf": NOW, "exp": NOW + 300, "ver": ver, "tid": tenant, "oid": "daemon-oid",
            "sub": "daemon-oid", "idtyp": "app", "roles": ["Orders.Read"], **app}
    return {**base, **overrides}


def entra_guard(jwks: dict[str, Any] | None = None, *, issuers: Iterable[str] = (TEMPLATE,),
                jwks_uri: str | None = None) -> Guard:
    """Entra issuers (templates take any tenant) trusting ``jwks`` inline or at ``jwks_uri``."""
    entries = []
    for i, issuer in enumerate(issuers):
        entry: dict[str, Any] = {"name": f"entra-{i}", "issuer": issuer, "profile": "entra",
                                 "algorithms": ["RS256"]}
        entry.update({"jwks_uri": jwks_uri} if jwks_uri is not None else {"jwks": jwks})
        if "{tenantid}" in issuer:
            entry["tenants"] = "any"
        entries.append(entry)
    config = {"audience": [AUD], "issuers": entries, "cache": {"verified": False}}
    return Guard.from_config(config, clock=lambda: NOW)


def tenant_key_jwks(forge: Forge, issuer: str) -> dict[str, Any]:
    """Entra's key document shape: one RSA key carrying the ``issuer`` it was published for."""
    return {"keys": [public_jwk(forge.rsa, kid="rsa-1", use="sig", issuer=issuer)]}


@contextmanager
def jwks_server(document: dict[str, Any]) -> Iterator[str]:
    """A real JWKS endpoint on 127.0.0.1 serving ``document``; yields its URL."""
    body = json.dumps(document).encode()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    with serve_wsgi(app) as port:
        yield f"http://127.0.0.1:{port}/discovery/v2.0/keys"


# -- item 2: an Entra signing key belongs to the token's issuer ---------------------------------

def test_entra_tenant_key_does_not_verify_another_tenants_token(forge: Forge) -> None:
    """RFC 8725 §3.8; Microsoft.IdentityModel signing-key issuer validation (IDX40005): a key whose
    ``issuer`` names tenant A never verifies a token that claims tenant B (multi-tenant template)."""
    guard = entra_guard(tenant_key_jwks(forge, v2_iss(TENANT_A)))
    forged = forge.token(entra_claims(TENANT_B), forge.header("RS256"))
    expect_refused(guard, bearer(forged), *INVALID, "unknown_kid")


def test_entra_tenant_key_still_verifies_its_own_tenant(forge: Forge) -> None:
    """Positive control (Microsoft.IdentityModel signing-key issuer validation): tenant A's key verifies
    tenant A's v2.0 token, and its v1.0 token (``sts.windows.net``; keys carry the v2.0 issuer)."""
    guard = entra_guard(tenant_key_jwks(forge, v2_iss(TENANT_A)), issuers=(TEMPLATE, v1_iss(TENANT_A)))
    assert expect_accepted(guard, bearer(forge.token(entra_claims(TENANT_A)))).issuer == v2_iss(TENANT_A)
    v1 = forge.token(entra_claims(TENANT_A, ver="1.0"))
    assert expect_accepted(guard, bearer(v1)).issuer == v1_iss(TENANT_A)


def test_entra_tenant_key_does_not_verify_another_tenants_v1_token(forge: Forge) -> None:
    """RFC 8725 §3.8; Microsoft.IdentityModel signing-key issuer validation: a v1.0 token
    (``iss = https://sts.windows.net/{B}/``) is not verified by a key published for tenant A."""
    guard = entra_guard(tenant_key_jwks(forge, v2_iss(TENANT_A)), issuers=(v1_iss(TENANT_B),))
    forged = forge.token(entra_claims(TENANT_B, ver="1.0"))
    expect_refused(guard, bearer(forged), *INVALID, "unknown_kid")


def test_entra_tenant_key_from_a_served_jwks(forge: Forge) -> None:
    """RFC 8725 §3.8 (keys belong to the issuer), over a real JWKS endpoint on 127.0.0.1: the
    ``issuer`` member survives parsing of a fetched key document; a single-tenant issuer B whose
    key set holds tenant A's key refuses B-claiming tokens signed with it."""
    with jwks_server(tenant_key_jwks(forge, v2_iss(TENANT_A))) as url:
        guard = entra_guard(issuers=(v2_iss(TENANT_B), v2_iss(TENANT_A)), jwks_uri=url)
        expect_refused(guard, bearer(forge.token(entra_claims(TENANT_B))), *INVALID, "unknown_kid")
        expect_accepted(guard, bearer(forge.token(entra_claims(TENANT_A))))


def test_entra_key_bound_to_a_template_needs_tid(forge: Forge, guard_with: Callable[..., Guard]) -> None:
    """Microsoft.IdentityModel (IDX40009: no tid with an issuer-bound key), RFC 8725 §3.8: a key
    published for ``{tenantid}`` verifies nothing for a token without ``tid``, whatever the profile."""
    jwks = tenant_key_jwks(forge, TEMPLATE)
    guard = guard_with(issuer=v2_iss(TENANT_A), jwks=jwks, algorithms=["RS256"])
    claims = {k: v for k, v in entra_claims(TENANT_A).items() if k != "tid"}
    expect_refused(guard, bearer(forge.token(claims)), *INVALID, "unknown_kid")


# -- item 7: one token, one accepted signature spelling ------------------------------------------

def _leading_zero_token(forge: Forge, alg: str) -> tuple[str, str]:
    """A token whose signature starts with a zero octet, and that spelling without it."""
    for i in range(5000):  # about 1 in 256 signatures starts with 0x00
        token = forge.token(forge.claims(jti=f"jti-{i}"), forge.header(alg, kid="rsa-1"), alg=alg)
        head, body, sig = token.split(".")
        raw = b64url_decode(sig)
        if raw[0] == 0:
            return token, f"{head}.{body}.{b64url(raw[1:])}"
    raise AssertionError("no signature with a leading zero octet")


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_pss_signature_without_its_leading_zero_is_refused(guard_with: Callable[..., Guard],
                                                          forge: Forge) -> None:
    """RFC 8017 §8.1.2 step 1 (an RSASSA-PSS signature is exactly k octets): stripping a leading
    zero octet must not give a revoked PS256 token a second, accepted spelling."""
    guard = guard_with(algorithms=["PS256"])
    token, stripped = _leading_zero_token(forge, "PS256")
    expect_accepted(guard, bearer(token))
    guard.revoke(hashlib.sha256(token.encode()).hexdigest())  # revoked by its token hash
    expect_refused(guard, bearer(token), *INVALID)
    expect_refused(guard, bearer(stripped), *INVALID, "bad_signature")


def test_rsa_signature_longer_or_shorter_than_the_modulus(guard_with: Callable[..., Guard],
                                                         forge: Forge) -> None:
    """Positive control (RFC 8017 §8.2.2 step 1, §8.1.2 step 1): RS256 without its leading zero, and
    PS256 or RS256 with an extra one, are refused (``cryptography``/OpenSSL already refused these)."""
    guard = guard_with(algorithms=["RS256", "PS256"])
    _, stripped = _leading_zero_token(forge, "RS256")
    expect_refused(guard, bearer(stripped), *INVALID, "bad_signature")
    for alg in ("RS256", "PS256"):
        head, body, sig = forge.token(header=forge.header(alg, kid="rsa-1"), alg=alg).split(".")
        padded = b64url(b"\x00" + b64url_decode(sig))
        expect_refused(guard, bearer(f"{head}.{body}.{padded}"), *INVALID, "bad_signature")


# -- JWK use, key_ops, RSA exponent and size (RFC 7517 §4.2/§4.3, RFC 7518 §3.3) ---------------

@pytest.mark.parametrize("members", [{"key_ops": ["encrypt"]}, {"key_ops": ["sign"]}, {"key_ops": []},
                                     {"key_ops": "verify"}, {"use": "sig", "key_ops": ["wrapKey"]}],
                         ids=repr)
def test_jwk_not_for_verification_is_skipped(guard_with: Callable[..., Guard], forge: Forge,
                                             members: dict[str, Any]) -> None:
    """RFC 7517 §4.2 (``use``) and §4.3 (``key_ops``, an array that must include "verify"): a key
    published for anything but verifying signatures never verifies one."""
    guard = guard_with(jwks={"keys": [public_jwk(forge.rsa, kid="rsa-1", **members)]})
    expect_refused(guard, bearer(forge.token()), *INVALID, "unknown_kid")


def test_jwk_for_verification_is_used(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """Positive control (RFC 7517 §4.3): ``key_ops`` naming "verify" (alone or with "sign") is usable."""
    for ops in (["verify"], ["sign", "verify"]):
        guard = guard_with(jwks={"keys": [public_jwk(forge.rsa, kid="rsa-1", use="sig", key_ops=ops)]})
        expect_accepted(guard, bearer(forge.token()))


@pytest.fixture(scope="module")
def small_exponent() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=3, key_size=2048)


def test_rsa_key_with_small_public_exponent_is_skipped(guard_with: Callable[..., Guard], forge: Forge,
                                                       small_exponent: rsa.RSAPrivateKey,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """RFC 8725 §3.5 / NIST SP 800-56B §6.2.1 (e >= 65537): an e = 3 key is skipped with a warning
    naming its kid and issuer; the rest of the set keeps working."""
    jwks = {"keys": [public_jwk(small_exponent, kid="e3", use="sig"), *forge.jwks()["keys"]]}
    with caplog.at_level(logging.WARNING, logger="s2s_guard.keys"):
        guard = guard_with(jwks=jwks, name="orders-idp")
    forged = forge.token(header=forge.header("RS256", kid="e3"), key=small_exponent)
    expect_refused(guard, bearer(forged), *INVALID, "unknown_kid")
    expect_accepted(guard, bearer(forge.token()))
    assert any("'e3'" in r.getMessage() and "orders-idp" in r.getMessage() for r in caplog.records)


@pytest.fixture(scope="module")
def rsa_3072() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def test_min_rsa_bits_raises_the_floor(guard_with: Callable[..., Guard], forge: Forge,
                                       rsa_3072: rsa.RSAPrivateKey) -> None:
    """RFC 7518 §3.3 (2048 bits is the floor, not the ceiling): ``min_rsa_bits = 3072`` skips the
    2048-bit key and keeps the 3072-bit one, for inline and fetched (127.0.0.1) JWK Sets."""
    jwks = {"keys": [public_jwk(forge.rsa, kid="rsa-1", use="sig"),
                     public_jwk(rsa_3072, kid="rsa-3072", use="sig")]}
    strong = forge.token(header=forge.header("RS256", kid="rsa-3072"), key=rsa_3072)
    with jwks_server(jwks) as url:
        for source in ({"jwks": jwks}, {"jwks": None, "jwks_uri": url}):
            guard = Guard.from_config({"audience": [AUD], "issuers": [
                {"issuer": forge.claims()["iss"], "algorithms": ["RS256"], "min_rsa_bits": 3072,
                 **{k: v for k, v in source.items() if v is not None}}]}, clock=lambda: NOW)
            expect_refused(guard, bearer(forge.token()), *INVALID, "unknown_kid")
            expect_accepted(guard, bearer(strong))


@pytest.mark.parametrize("bits", [1024, 2047, "4096", True])
def test_min_rsa_bits_never_below_2048(bits: object, forge: Forge) -> None:
    """RFC 7518 §3.3 (a key of 2048 bits or larger MUST be used): the floor cannot be lowered."""
    config = {"audience": [AUD], "issuers": [{"issuer": "https://issuer.example", "algorithms": ["RS256"],
                                              "jwks": forge.jwks(), "min_rsa_bits": bits}]}
    with pytest.raises(ConfigurationError) as info:
        Guard.from_config(config)
    assert info.value.key == "issuers[0].min_rsa_bits" and ">= 2048" in str(info.value)


# -- RFC 7515 header members ------------------------------------------------------------------

@pytest.mark.parametrize("typ", [1, ["at+jwt"], {"t": 1}, None, True], ids=repr)
def test_typ_header_must_be_a_string(guard: Guard, forge: Forge, typ: object) -> None:
    """RFC 7515 §4.1.9: ``typ``, when present, is a string, even when no ``typ`` is configured."""
    token = forge.token(header={"alg": "RS256", "kid": "rsa-1", "typ": typ})
    expect_refused(guard, bearer(token), *INVALID, "bad_type")


@pytest.mark.parametrize("zip_value", ["DEF", "", None], ids=repr)
def test_zip_header_in_a_jws_is_refused(guard: Guard, forge: Forge, zip_value: object) -> None:
    """RFC 7516 §4.1.3 (``zip`` is a JWE header), RFC 8725 §3.6 (no compression before signing or
    encryption): a JWS carrying ``zip`` is refused, whatever its value."""
    token = forge.token(header={**forge.header("RS256"), "zip": zip_value})
    expect_refused(guard, bearer(token), *INVALID, "malformed")


# -- Entra: appid and azp name one app -------------------------------------------------------------

def test_entra_appid_and_azp_that_disagree_are_refused(forge: Forge) -> None:
    """Microsoft identity platform access token claims (``azp`` replaces v1.0's ``appid``): a token
    naming two different apps is refused as invalid_token, for v1.0 and v2.0 alike."""
    guard = entra_guard({"keys": [public_jwk(forge.rsa, kid="rsa-1", use="sig")]},
                        issuers=(TEMPLATE, v1_iss(TENANT_A)))
    other = "0f0f0f0f-0000-4000-8000-00000000beef"
    for claims in (entra_claims(TENANT_A, appid=other), entra_claims(TENANT_A, ver="1.0", azp=other)):
        expect_refused(guard, bearer(forge.token(claims)), *INVALID, "invalid_claim")
    expect_accepted(guard, bearer(forge.token(entra_claims(TENANT_A, appid=APP))))  # agreeing: control


def test_a_header_checked_for_one_issuer_is_checked_again_for_another() -> None:
    """RFC 8725 §3.1 (algorithms per issuer, from configuration): the router remembers header
    segments that passed its checks per issuer, never across issuers. The same header bytes that
    an RS256 issuer accepts are refused for an issuer allowing only ES256."""
    import jwt as pyjwt
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1"}
    issuers = [{"name": name, "issuer": f"https://{name}.example", "algorithms": [alg], "jwks": {"keys": [jwk]}}
               for name, alg in (("rs", "RS256"), ("es", "ES256"))]
    guard = Guard.from_config({"audience": ["api://orders"], "issuers": issuers, "cache": {"verified": False}})
    now = int(time.time())

    def token(iss: str) -> str:
        claims = {"iss": iss, "aud": "api://orders", "sub": "d", "client_id": "d", "iat": now, "exp": now + 60}
        return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    first, second = token("https://rs.example"), token("https://es.example")
    assert first.split(".")[0] == second.split(".")[0]  # the same header segment
    assert guard.authenticate_sync("Bearer " + first).app is not None
    with pytest.raises(AuthError) as refused:
        guard.authenticate_sync("Bearer " + second)
    assert refused.value.reason == "disallowed_algorithm"
