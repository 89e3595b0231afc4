"""Tokens a guard must refuse (RFC 7519 §4.1, RFC 8725 §2-3), each built from a good one.

Time claims far beyond any leeway, a wrong ``aud`` or ``iss``, a flipped signature byte,
``alg: none``, a key the issuer never published (under an unknown or a stolen ``kid``), the
RS256/HS256 key confusion, ``jku``/``jwk``/``crit`` header tricks, and SharePoint forgeries.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..client.hightrust import ACTIVE_DIRECTORY_IDP, build_user_token, sign_actor_token
from ..core.keys import b64url
from .families import Family, MintOptions, app_only, sharepoint_user_and_app
from .issuer import LocalIssuer, SigningKey, generate_key
from .sharepoint import HighTrustIdentity

__all__ = ["BROKEN"]

_HOUR = 3600


@functools.cache
def _attacker(alg: str = "RS256") -> SigningKey:
    """A key nobody trusts, made once per process (RSA generation is the slow part)."""
    return generate_key(alg, kid="attacker-key")


@functools.cache
def _rogue_sharepoint(issuer_id: str, realm: str) -> HighTrustIdentity:
    return HighTrustIdentity(issuer_id=issuer_id, realm=realm)


def _compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    parts = [b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, claims)]
    return ".".join([*parts, b64url(signature)])


def _claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def _with(issuer: LocalIssuer, opts: MintOptions, **claims: Any) -> str:
    return app_only(issuer, replace(opts, claims={**opts.claims, **claims}))


def expired(issuer: LocalIssuer, opts: MintOptions) -> str:
    """exp an hour ago (RFC 7519 §4.1.4)."""
    now = int(issuer.clock())
    return _with(issuer, opts, iat=now - 2 * _HOUR, nbf=now - 2 * _HOUR, exp=now - _HOUR)


def not_yet_valid(issuer: LocalIssuer, opts: MintOptions) -> str:
    """nbf an hour ahead (RFC 7519 §4.1.5)."""
    now = int(issuer.clock())
    return _with(issuer, opts, nbf=now + _HOUR, exp=now + 2 * _HOUR)


def issued_in_future(issuer: LocalIssuer, opts: MintOptions) -> str:
    """iat an hour ahead (RFC 7519 §4.1.6)."""
    now = int(issuer.clock())
    return _with(issuer, opts, iat=now + _HOUR, nbf=now, exp=now + 2 * _HOUR)


def missing_exp(issuer: LocalIssuer, opts: MintOptions) -> str:
    """No exp at all: an access token must expire (RFC 9068 §2.2)."""
    claims = {"client_id": opts.client_id, "sub": opts.client_id, "aud": opts.audience or issuer.audience}
    return issuer.mint(claims, omit=("exp",))


def wrong_audience(issuer: LocalIssuer, opts: MintOptions) -> str:
    """aud names another API (RFC 7519 §4.1.3)."""
    return _with(issuer, opts, aud="api://someone-else")


def wrong_issuer(issuer: LocalIssuer, opts: MintOptions) -> str:
    """iss is not the configured issuer, though the signature is good (RFC 8725 §3.8)."""
    return _with(issuer, opts, iss="https://attacker.example")


def bad_signature(issuer: LocalIssuer, opts: MintOptions) -> str:
    """One byte of a good signature flipped."""
    header, payload, signature = app_only(issuer, opts).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{payload}.{b64url(bytes(raw))}"


def alg_none(issuer: LocalIssuer, opts: MintOptions) -> str:
    """Unsigned (alg none) with good claims (RFC 8725 §3.1)."""
    return _compact({"alg": "none", "typ": "at+jwt"}, _claims_of(app_only(issuer, opts)))


def unknown_kid(issuer: LocalIssuer, opts: MintOptions) -> str:
    """Signed by a key the issuer never published, under a kid nobody knows."""
    return _with_attacker(issuer, opts, {})


def stolen_kid(issuer: LocalIssuer, opts: MintOptions) -> str:
    """Signed by a foreign key that claims the kid of the issuer's real RS256 key."""
    return _with_attacker(issuer, opts, {"kid": issuer.key_for("RS256").kid})


def jku_header(issuer: LocalIssuer, opts: MintOptions) -> str:
    """Signed by a foreign key whose JWKS the header points to (jku, never followed: RFC 8725 §3.10)."""
    return _with_attacker(issuer, opts, {"jku": "https://attacker.example/jwks"})


def embedded_jwk(issuer: LocalIssuer, opts: MintOptions) -> str:
    """Signed by a foreign key carried in the header itself (jwk, never trusted)."""
    return _with_attacker(issuer, opts, {"jwk": _attacker().public_jwk()})


def _with_attacker(issuer: LocalIssuer, opts: MintOptions, headers: dict[str, Any]) -> str:
    claims = {"client_id": opts.client_id, "sub": opts.client_id, "aud": opts.audience or issuer.audience}
    key = _attacker()
    return issuer.mint(claims, key=key.key, headers={"kid": key.kid, **headers})


def key_confusion(issuer: LocalIssuer, opts: MintOptions) -> str:
    """HS256 keyed with the issuer's RSA public key PEM (the classic RS256/HS256 confusion)."""
    trusted = issuer.key_for("RS256")
    secret = trusted.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "at+jwt", "kid": trusted.kid}
    unsigned = _compact(header, _claims_of(app_only(issuer, opts)))[:-1]  # drop the trailing "."
    return f"{unsigned}.{b64url(hmac.new(secret, unsigned.encode(), hashlib.sha256).digest())}"


def crit_header(issuer: LocalIssuer, opts: MintOptions) -> str:
    """A crit extension nobody implements (RFC 7515 §4.1.11)."""
    return issuer.mint(_claims_of(app_only(issuer, opts)),
                       headers={"crit": ["urn:example:must-understand"], "urn:example:must-understand": 1})


def wrong_typ(issuer: LocalIssuer, opts: MintOptions) -> str:
    """typ JWT where at+jwt is required (RFC 9068 §4, RFC 8725 §3.11)."""
    return issuer.mint(_claims_of(app_only(issuer, opts)), headers={"typ": "JWT"})


def malformed(issuer: LocalIssuer, opts: MintOptions) -> str:
    """Three segments that are not base64url JSON."""
    return "not-base64!.{}.???"


def oversized(issuer: LocalIssuer, opts: MintOptions) -> str:
    """A well-signed 20 KiB token, beyond the default max_token_bytes."""
    return _with(issuer, opts, padding="x" * 20_000)


def sharepoint_without_actor(issuer: LocalIssuer, opts: MintOptions) -> str:
    """SharePoint user+app outer token (alg none) with no actortoken: must never be accepted."""
    claims = _claims_of(sharepoint_user_and_app(issuer, opts))
    claims.pop("actortoken")
    return _compact({"typ": "JWT", "alg": "none"}, claims)


def sharepoint_without_delegation(issuer: LocalIssuer, opts: MintOptions) -> str:
    """SharePoint user+app whose actor token lacks trustedfordelegation."""
    sp, now = issuer.sharepoint, issuer.clock()
    actor = sign_actor_token(key=sp.key, certificate=sp.certificate, client_id=opts.client_id,
                             issuer_id=sp.issuer_id, realm=sp.realm, host=opts.host, now=now,
                             lifetime=opts.ttl, trusted_for_delegation=False)
    return build_user_token(actor_token=actor, client_id=opts.client_id, realm=sp.realm, host=opts.host,
                            user=opts.user, identity_provider=ACTIVE_DIRECTORY_IDP,
                            now=now, lifetime=opts.ttl)


def sharepoint_untrusted_certificate(issuer: LocalIssuer, opts: MintOptions) -> str:
    """SharePoint app-only actor token signed by a certificate the farm does not trust."""
    sp = issuer.sharepoint
    rogue = _rogue_sharepoint(sp.issuer_id, sp.realm)
    return sign_actor_token(key=rogue.key, certificate=rogue.certificate, client_id=opts.client_id,
                            issuer_id=sp.issuer_id, realm=sp.realm, host=opts.host,
                            now=issuer.clock(), lifetime=opts.ttl)


BROKEN: dict[str, Family] = {
    "expired": expired,
    "not-yet-valid": not_yet_valid,
    "issued-in-future": issued_in_future,
    "missing-exp": missing_exp,
    "wrong-audience": wrong_audience,
    "wrong-issuer": wrong_issuer,
    "bad-signature": bad_signature,
    "alg-none": alg_none,
    "unknown-kid": unknown_kid,
    "stolen-kid": stolen_kid,
    "jku-header": jku_header,
    "embedded-jwk": embedded_jwk,
    "key-confusion": key_confusion,
    "crit-header": crit_header,
    "wrong-typ": wrong_typ,
    "malformed": malformed,
    "oversized": oversized,
    "sharepoint-without-actor": sharepoint_without_actor,
    "sharepoint-without-delegation": sharepoint_without_delegation,
    "sharepoint-untrusted-certificate": sharepoint_untrusted_certificate,
}
