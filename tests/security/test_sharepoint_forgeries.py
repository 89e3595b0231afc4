"""Named forgeries of SharePoint high-trust (server-to-server) tokens, [MS-SPS2SAUTH].

The farm trusts one issuer certificate. App-only, the token is the RS256 actor token; user+app,
an unsigned outer token (``alg: none``) names the user and wraps the actor token, which must
be trusted for delegation. Only the actor token is signed, so every claim of the outer token
is attacker-controlled unless the actor token vouches for it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from s2s_guard import Guard
from s2s_guard.core.keys import b64url

from security_kit import NOW, Forge, bearer, expect_accepted, expect_refused

INVALID = (401, "invalid_token")
REALM = "3a8c6b1e-5f0d-4c8e-9f51-2b7d6e0a4c11"
ISSUER_ID = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
OTHER_REALM = "99999999-8888-7777-6666-555555555555"
HOST = "sp.contoso.local"
SP = "00000003-0000-0ff1-ce00-000000000000"
AUDIENCE = f"{SP}/{HOST}@{REALM}"
USER_SID = "s-1-5-21-2127521184-1604012920-1887927527-1001"
AD_IDP = "urn:office:idp:activedirectory"


def certificate(key: rsa.RSAPrivateKey, name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2020, 1, 1)).not_valid_after(datetime.datetime(2040, 1, 1))
            .sign(key, hashes.SHA256()))


def thumbprint(cert: x509.Certificate) -> str:
    """``x5t``: base64url SHA-1 of the DER certificate (RFC 7515 §4.1.7)."""
    return b64url(hashlib.sha1(cert.public_bytes(Encoding.DER)).digest())


class HighTrust:
    """An add-in's certificate and key, and the tokens TokenHelper would build with them."""

    def __init__(self, forge: Forge) -> None:
        self.forge = forge
        self.cert = certificate(forge.rsa, "high-trust issuer")

    def actor(self, *, delegation: bool = False, x5t: str | None = None, key: rsa.RSAPrivateKey | None = None,
              header: dict[str, Any] | None = None, drop: tuple[str, ...] = (), **claims: Any) -> str:
        body: dict[str, Any] = {"aud": AUDIENCE, "iss": f"{ISSUER_ID}@{REALM}", "nameid": f"{CLIENT}@{REALM}",
                                "nbf": NOW - 60, "exp": NOW + 3600, "jti": "actor-jti-1"}
        if delegation:
            body["trustedfordelegation"] = "true"
        body = {k: v for k, v in {**body, **claims}.items() if k not in drop}
        head = header or {"typ": "JWT", "alg": "RS256", "x5t": x5t or thumbprint(self.cert)}
        return self.forge.token(body, head, key=key or self.forge.rsa)

    def outer(self, actor_token: str | None, *, header: dict[str, Any] | None = None, signature: bytes = b"",
              drop: tuple[str, ...] = (), **claims: Any) -> str:
        body: dict[str, Any] = {"aud": AUDIENCE, "iss": f"{CLIENT}@{REALM}", "nbf": NOW - 30, "exp": NOW + 1800,
                                "nameid": USER_SID, "nii": AD_IDP, "actortoken": actor_token}
        body = {k: v for k, v in {**body, **claims}.items() if k not in drop and v is not None}
        head = header or {"typ": "JWT", "alg": "none"}
        return f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(body).encode())}.{b64url(signature)}"

    def user_token(self, **claims: Any) -> str:
        return self.outer(self.actor(delegation=True), **claims)


@pytest.fixture(scope="module")
def trust(forge: Forge) -> HighTrust:
    return HighTrust(forge)


@pytest.fixture(scope="module")
def cert_file(trust: HighTrust, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sharepoint") / "issuer.cer"
    path.write_bytes(trust.cert.public_bytes(Encoding.PEM))
    return path


@pytest.fixture
def sp_guard(cert_file: Path) -> Callable[..., Guard]:
    """A farm trusting ``ISSUER_ID@REALM`` by certificate, for ``CLIENT`` on ``HOST``."""

    def build(**top: Any) -> Guard:
        issuer = {"name": "high-trust", "profile": "sharepoint-high-trust", "issuer_id": ISSUER_ID,
                  "realm": REALM, "certificates": [str(cert_file)], "hosts": [HOST],
                  "algorithms": ["RS256"], "client_ids": [CLIENT]}
        return Guard.from_config({"audience": [AUDIENCE], "issuers": [issuer], **top}, clock=lambda: NOW)

    return build


def test_honest_high_trust_tokens_are_accepted(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """Positive control ([MS-SPS2SAUTH]): an app-only actor token and a user+app outer token pass."""
    guard = sp_guard()
    app = expect_accepted(guard, bearer(trust.actor()))
    assert app.policy == "app-only" and app.app is not None and app.app.client_id == CLIENT
    user = expect_accepted(guard, bearer(trust.user_token()))
    assert user.policy == "user+app" and user.user is not None and user.user.id == USER_SID


# -- the unsigned outer token ----------------------------------------------------------------------

def test_unsigned_outer_without_actor_token(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """RFC 8725 §3.1, [MS-SPS2SAUTH]: alg none is accepted only around a verified actor token."""
    expect_refused(sp_guard(), bearer(trust.outer(None)), *INVALID, "disallowed_algorithm")


def test_unsigned_outer_that_carries_a_signature(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """RFC 7519 §6.1: an unsecured JWT has an empty signature; bytes there are a forgery attempt."""
    token = trust.outer(trust.actor(delegation=True), signature=b"\x01" * 32)
    expect_refused(sp_guard(), bearer(token), *INVALID, "disallowed_algorithm")


def test_unsigned_actor_token(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: the actor token is what carries trust; an unsigned one vouches for nothing."""
    head, body, _ = trust.actor(delegation=True, header={"typ": "JWT", "alg": "none"}).split(".")
    expect_refused(sp_guard(), bearer(trust.outer(f"{head}.{body}.")), *INVALID, "disallowed_algorithm")


def test_unsigned_app_only_token(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """RFC 8725 §3.1: an app-only high-trust token with alg none (no wrapper) is refused."""
    head, body, _ = trust.actor(header={"typ": "JWT", "alg": "none", "x5t": thumbprint(trust.cert)}).split(".")
    expect_refused(sp_guard(), bearer(f"{head}.{body}."), *INVALID, "disallowed_algorithm")


def test_outer_token_with_crit(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """RFC 7515 §4.1.11: a crit header on the outer token is as unsupported as anywhere."""
    token = trust.outer(trust.actor(delegation=True), header={"typ": "JWT", "alg": "none", "crit": ["x"], "x": 1})
    expect_refused(sp_guard(), bearer(token), *INVALID, "unsupported_crit")


def test_nested_actor_tokens(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: one level of wrapping; an actor token wrapping another is refused."""
    inner = trust.actor(delegation=True, actortoken=trust.actor(delegation=True))
    expect_refused(sp_guard(), bearer(trust.outer(inner)), *INVALID, "malformed")


# -- certificates and thumbprints --------------------------------------------------------------------

def test_actor_signed_by_an_untrusted_certificate(sp_guard: Callable[..., Guard], trust: HighTrust,
                                                  attacker: Forge) -> None:
    """[MS-SPS2SAUTH]: a certificate the farm never registered (its own x5t) is an unknown key."""
    evil = certificate(attacker.rsa, "high-trust issuer")
    token = trust.actor(key=attacker.rsa, x5t=thumbprint(evil))
    expect_refused(sp_guard(), bearer(token), *INVALID, "unknown_kid")


def test_x5t_swapped_onto_an_untrusted_signature(sp_guard: Callable[..., Guard], trust: HighTrust,
                                                 attacker: Forge) -> None:
    """RFC 7515 §4.1.7: naming the trusted certificate's x5t does not make another key's signature verify."""
    for token in (trust.actor(key=attacker.rsa), trust.outer(trust.actor(delegation=True, key=attacker.rsa))):
        expect_refused(sp_guard(), bearer(token), *INVALID, "bad_signature")


def test_actor_without_x5t(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: high-trust tokens name their certificate with x5t; a kid alone is refused."""
    token = trust.actor(header={"typ": "JWT", "alg": "RS256", "kid": thumbprint(trust.cert)})
    expect_refused(sp_guard(), bearer(token), *INVALID, "malformed")


def test_kid_and_x5t_naming_different_certificates(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """RFC 7515 §4.1.4/§4.1.7: two identifiers that disagree are refused rather than one picked."""
    token = trust.actor(header={"typ": "JWT", "alg": "RS256", "x5t": thumbprint(trust.cert), "kid": "other"})
    expect_refused(sp_guard(), bearer(token), *INVALID, "malformed")


# -- delegation ----------------------------------------------------------------------------------

def test_delegation_without_trustedfordelegation(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: an app-only actor token wrapped in an outer token cannot act for a user."""
    expect_refused(sp_guard(), bearer(trust.outer(trust.actor())), *INVALID, "invalid_claim")


@pytest.mark.parametrize("value", ["True", "TRUE", "yes", 1, "1", None, "false", False], ids=repr)
def test_trustedfordelegation_other_than_true(sp_guard: Callable[..., Guard], trust: HighTrust,
                                              value: object) -> None:
    """[MS-SPS2SAUTH]: "true" (TokenHelper) or true (node-sp-auth) grants delegation; no other spelling does."""
    token = trust.outer(trust.actor(trustedfordelegation=value))
    expect_refused(sp_guard(), bearer(token), *INVALID, "invalid_claim")


@pytest.mark.parametrize("value", ["true", True], ids=repr)
def test_trustedfordelegation_true_in_either_spelling(sp_guard: Callable[..., Guard], trust: HighTrust,
                                                      value: object) -> None:
    """Positive control: the JSON boolean is the string's meaning, so either wraps a user, and either
    alone is only the app: nothing in it names a user."""
    guard = sp_guard()
    actor = trust.actor(trustedfordelegation=value)
    assert expect_accepted(guard, bearer(trust.outer(actor))).policy == "user+app"
    app = expect_accepted(guard, bearer(actor))
    assert app.policy == "app-only" and app.user is None


def test_outer_and_actor_audiences_differ(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: outer and actor must name the same aud; the outer cannot retarget the actor."""
    token = trust.user_token(aud=f"{SP}/other.contoso.local@{REALM}")
    expect_refused(sp_guard(), bearer(token), *INVALID, "bad_audience")


def test_outer_iss_is_another_client(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: the outer iss must be the actor's nameid (the same app, client_id@realm)."""
    token = trust.user_token(iss=f"bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee@{REALM}")
    expect_refused(sp_guard(), bearer(token), *INVALID, "invalid_claim")


def test_outer_iss_in_another_realm(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: the same client in another realm is another principal."""
    expect_refused(sp_guard(), bearer(trust.user_token(iss=f"{CLIENT}@{OTHER_REALM}")), *INVALID, "invalid_claim")


def test_outer_lifetime_beyond_the_actor(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: the outer token cannot outlive (or predate) the actor token that vouches for it."""
    guard = sp_guard()
    expect_refused(guard, bearer(trust.user_token(exp=NOW + 7200)), *INVALID, "invalid_claim")
    expect_refused(guard, bearer(trust.user_token(nbf=NOW - 600)), *INVALID, "invalid_claim")


@pytest.mark.parametrize("missing", ["nameid", "nii"])
def test_outer_without_a_user(sp_guard: Callable[..., Guard], trust: HighTrust, missing: str) -> None:
    """[MS-SPS2SAUTH]: a user+app token names the user (nameid) and its identity provider (nii)."""
    token = trust.outer(trust.actor(delegation=True), drop=(missing,))
    expect_refused(sp_guard(), bearer(token), *INVALID, "invalid_claim")


def test_outer_expired_while_actor_is_valid(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """RFC 7519 §4.1.4: the outer token's own exp is enforced, not only the actor's."""
    token = trust.user_token(nbf=NOW - 60, exp=NOW - 120)
    expect_refused(sp_guard(), bearer(token), *INVALID)


# -- app-only tokens and the trust registry ----------------------------------------------------------

@pytest.mark.parametrize("claim", [{"nii": AD_IDP}, {"upn": "alice@contoso.local"},
                                   {"trustedfordelegation": "maybe"}, {"actortoken": "x.y.z"}], ids=repr)
def test_app_only_token_carrying_user_claims(sp_guard: Callable[..., Guard], trust: HighTrust,
                                             claim: dict[str, str]) -> None:
    """[MS-SPS2SAUTH]: an app-only token names no user; user claims, or a delegation flag that is
    neither true nor false, make it suspect."""
    name, value = next(iter(claim.items()))
    body = {"aud": AUDIENCE, "iss": f"{ISSUER_ID}@{REALM}", "nameid": f"{CLIENT}@{REALM}",
            "nbf": NOW - 60, "exp": NOW + 3600, name: value}
    token = trust.forge.token(body, {"typ": "JWT", "alg": "RS256", "x5t": thumbprint(trust.cert)})
    expect_refused(sp_guard(), bearer(token), *INVALID, "invalid_claim")


def test_issuer_signing_for_a_client_it_does_not_own(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH] trust registry: a non-broker issuer signs only for its registered client ids."""
    token = trust.actor(nameid=f"bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee@{REALM}")
    expect_refused(sp_guard(), bearer(token), *INVALID, "invalid_claim")


def test_actor_nameid_in_another_realm(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: nameid = client_id@realm must be in the issuer's realm."""
    expect_refused(sp_guard(), bearer(trust.actor(nameid=f"{CLIENT}@{OTHER_REALM}")), *INVALID, "invalid_claim")


@pytest.mark.parametrize("aud", [f"{SP}/evil.example@{REALM}", f"{SP}/{HOST}@{OTHER_REALM}",
                                 f"00000004-0000-0ff1-ce00-000000000000/{HOST}@{REALM}", f"{SP}/{HOST}"], ids=repr)
def test_actor_for_another_host_realm_or_principal(sp_guard: Callable[..., Guard], trust: HighTrust,
                                                   aud: str) -> None:
    """RFC 7519 §4.1.3, [MS-SPS2SAUTH]: aud = principal/host@realm is checked against the configuration."""
    expect_refused(sp_guard(), bearer(trust.actor(aud=aud)), *INVALID, "bad_audience")


def test_actor_from_the_issuer_id_in_another_realm(sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """RFC 8725 §3.8: iss = issuer_id@realm exactly; the same issuer id elsewhere is unknown."""
    expect_refused(sp_guard(), bearer(trust.actor(iss=f"{ISSUER_ID}@{OTHER_REALM}")), *INVALID, "unknown_issuer")


@pytest.mark.parametrize("exp", ["\u0661\u0667\u0660\u0660\u0660\u0660\u0663\u0666\u0660\u0660", "+1700003600",
                                 " 1700003600", "1700003600.0", "0x6553f310", "1_700_003_600", ""], ids=repr)
def test_time_strings_other_than_ascii_digits(sp_guard: Callable[..., Guard], trust: HighTrust, exp: str) -> None:
    """[MS-XOAUTH]: digit-string times are plain ASCII digits; Arabic-Indic digits or signs are refused."""
    guard = sp_guard()
    expect_accepted(guard, bearer(trust.actor(exp=str(NOW + 3600), nbf=str(NOW - 60))))
    expect_refused(guard, bearer(trust.actor(exp=exp)), *INVALID, "invalid_claim")


# -- revocation must hold for the actor token however it is wrapped ------------------------------------

def test_revoked_actor_token_rewrapped_in_a_new_outer_token(sp_guard: Callable[..., Guard],
                                                            trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: the outer token is unsigned (its jti is the caller's); the actor's jti revokes."""
    guard = sp_guard(cache={"revoked": ["actor-jti-1"]})
    actor = trust.actor(delegation=True)
    for outer in (trust.outer(actor), trust.outer(actor, jti="fresh"), trust.outer(actor, nameid="s-1-5-other")):
        expect_refused(guard, bearer(outer), *INVALID)


def test_outer_jti_of_the_wrong_type_with_a_revocation_list(sp_guard: Callable[..., Guard],
                                                            trust: HighTrust) -> None:
    """RFC 7519 §4.1.7 (jti is a string): an unhashable outer jti is a 401, not a crash (500)."""
    guard = sp_guard(cache={"revoked": ["something-else"]})
    for jti in (["a"], {"a": 1}):
        expect_refused(guard, bearer(trust.user_token(jti=jti)), *INVALID)
