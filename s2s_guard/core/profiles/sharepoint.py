"""SharePoint add-in tokens: ``sharepoint-high-trust`` (server-to-server) and ``sharepoint-acs`` (low-trust).

Both carry ``aud = principal_id/host@realm`` and ``nbf``/``exp`` that may be digit strings
([MS-XOAUTH]); neither carries scopes (grant rights with ``[[grants]]``).

High-trust: app-only, the token is the actor token itself (RS256, ``x5t`` of a trusted
certificate, ``iss = issuer_id@realm``, ``nameid = client_id@realm``). User+app, an unsecured
outer token (``nameid`` the user, ``nii`` its identity provider) wraps the actor token, which
must carry ``trustedfordelegation`` ``"true"`` or ``true`` (see :mod:`s2s_guard.core.sharepoint`).
An app-only token may carry it too (node-sp-auth always writes ``true``): its holder could wrap
it in an outer token for any user anyway, so it is read as app-only, never as a user.

ACS: ``iss = 00000001-0000-0000-c000-000000000000@realm``; user+app tokens name the app in
``actor`` and the user in ``nameid`` + ``identityprovider``; app-only tokens name the app in
``nameid``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ...config import IssuerConfig
from ...errors import (DisallowedAlgorithm, InvalidClaim, MalformedToken, TokenExpired,
                       TokenNotYetValid)
from ...principal import AppPrincipal, Principal, UserPrincipal
from ..claims import check_claims, numeric_date
from ..sharepoint import check_delegation, normalize_times, split_principal, trusted_for_delegation
from .base import BaseProfile

__all__ = ["HighTrustProfile", "ACSProfile"]

#: Claims that name or vouch for a user: an app-only token must carry none of them. Not
#: ``trustedfordelegation``: it names no user, and only lets the token be wrapped for one.
_USER_CLAIMS = ("nii", "upn", "smtp", "sip", "identityprovider", "actortoken")
_USER_NAME_CLAIMS = ("upn", "smtp", "sip")


def _user_name(claims: Mapping[str, Any]) -> str | None:
    for name in _USER_NAME_CLAIMS:
        if isinstance(claims.get(name), str):
            return str(claims[name])
    return None


def _required(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidClaim(f"a user+app token has no {name}")
    return value


def _check_window(claims: Mapping[str, Any], leeway: float, now: float) -> None:
    """RFC 7519 §4.1.4-5 for a token whose ``iss`` is not the trusted issuer (the outer token)."""
    exp, nbf = numeric_date(claims, "exp"), numeric_date(claims, "nbf")
    if exp is None or nbf is None:
        raise InvalidClaim("SharePoint tokens carry nbf and exp")
    if now - leeway >= exp:
        raise TokenExpired(f"outer token expired at {exp:.0f}, now {now:.0f}")
    if now + leeway < nbf:
        raise TokenNotYetValid(f"outer token not before {nbf:.0f}, now {now:.0f}")


class _SharePointProfile(BaseProfile):
    """What both SharePoint profiles share: x5t headers, digit-string times, principal@realm names."""

    def __init__(self, issuer: IssuerConfig | None = None) -> None:
        super().__init__(issuer)
        self.realm = issuer.realm if issuer is not None else None
        self.client_ids = issuer.client_ids if issuer is not None else ()
        self.audiences: tuple[str, ...] = ()
        if issuer is not None:  # aud = principal/host@realm, built from the configuration
            self.audiences = issuer.audience or tuple(
                f"{issuer.principal_id}/{host}@{issuer.realm}" for host in issuer.hosts)

    def check_header(self, header: Mapping[str, Any]) -> None:
        x5t = header.get("x5t")
        if not isinstance(x5t, str):
            raise MalformedToken("SharePoint tokens name their certificate with x5t")
        if "kid" in header and header["kid"] != x5t:
            raise MalformedToken("kid and x5t name different certificates")

    def _check_signed(self, claims: Mapping[str, Any], issuer: str, leeway: float,
                      now: float) -> Mapping[str, Any]:
        claims = normalize_times(claims)  # [MS-XOAUTH]: digit strings, in these profiles only
        if "nbf" not in claims:
            raise InvalidClaim("SharePoint tokens carry nbf and exp")
        check_claims(claims, issuer=issuer, audiences=self.audiences, leeway=leeway, now=now)
        return claims

    def _check_app(self, value: object, what: str) -> None:
        """``client_id@realm``: the issuer's realm, and a client this issuer may sign for."""
        client, realm = split_principal(value, what)
        if self.realm is not None and realm.lower() != self.realm:
            raise InvalidClaim(f"{what} is in another realm")
        if self.client_ids and client.lower() not in self.client_ids:
            raise InvalidClaim(f"this issuer may not sign for the client in {what}")

    def _app(self, value: object, what: str, issuer: str) -> AppPrincipal:
        client, realm = split_principal(value, what)
        return AppPrincipal(client_id=client.lower(), issuer=issuer, tenant=realm.lower())


class HighTrustProfile(_SharePointProfile):
    """SharePoint high-trust: a signed actor token, alone (app-only) or wrapped (user+app)."""

    name = "sharepoint-high-trust"
    unsigned_outer = True

    def validate(self, claims: Mapping[str, Any], *, outer: Mapping[str, Any] | None, issuer: str,
                 audiences: Collection[str], leeway: float, now: float) -> Mapping[str, Any]:
        actor = self._check_signed(claims, issuer, leeway, now)
        self._check_app(actor.get("nameid"), "nameid")
        if outer is None:
            if any(name in actor for name in _USER_CLAIMS):
                raise InvalidClaim("an app-only token carries user claims")
            trusted_for_delegation(actor)  # [MS-SPS2SAUTH]: true or false, either spelling; nothing else
            return actor
        outer = normalize_times(outer)
        _check_window(outer, leeway, now)
        check_delegation(outer, actor)
        return {**{k: v for k, v in outer.items() if k != "actortoken"}, "actortoken": actor}

    def principal(self, claims: Mapping[str, Any], *, issuer: str, issuer_name: str,
                  token_sha256: str) -> Principal:
        actor = claims.get("actortoken")
        if actor is None:  # app-only: the claims are the actor token's
            app = self._app(claims.get("nameid"), "nameid", issuer)
            return Principal(app=app, user=None, claims=claims, issuer=issuer,
                             issuer_name=issuer_name, token_sha256=token_sha256)
        if not isinstance(actor, Mapping):
            raise DisallowedAlgorithm("the actor token has not been verified")
        app = self._app(actor.get("nameid"), "actor nameid", issuer)
        user = UserPrincipal(id=_required(claims, "nameid"), issuer=issuer, tenant=app.tenant,
                             name=_user_name(claims), identity_provider=_required(claims, "nii"))
        # claims keep the verified actor claims under "actortoken", so principal(p.claims) round-trips.
        return Principal(app=app, user=user, claims=claims, issuer=issuer, issuer_name=issuer_name,
                         token_sha256=token_sha256, actors=(actor,))


class ACSProfile(_SharePointProfile):
    """Low-trust tokens from Azure ACS: ``actor`` + ``nameid`` (user+app) or ``nameid`` (app-only)."""

    name = "sharepoint-acs"

    def validate(self, claims: Mapping[str, Any], *, outer: Mapping[str, Any] | None, issuer: str,
                 audiences: Collection[str], leeway: float, now: float) -> Mapping[str, Any]:
        if outer is not None:
            raise DisallowedAlgorithm("ACS tokens are signed; no unsecured outer token")
        claims = self._check_signed(claims, issuer, leeway, now)
        if "actor" not in claims:  # app-only: the app is the nameid
            self._check_app(claims.get("nameid"), "nameid")
            if claims.get("trustedfordelegation", "false") != "false":
                raise InvalidClaim("an app-only token carries delegation claims")
            return claims
        self._check_app(claims.get("actor"), "actor")
        return claims  # principal() requires nameid and identityprovider

    def principal(self, claims: Mapping[str, Any], *, issuer: str, issuer_name: str,
                  token_sha256: str) -> Principal:
        if "actor" not in claims:
            app = self._app(claims.get("nameid"), "nameid", issuer)
            return Principal(app=app, user=None, claims=claims, issuer=issuer,
                             issuer_name=issuer_name, token_sha256=token_sha256)
        app = self._app(claims.get("actor"), "actor", issuer)
        user = UserPrincipal(id=_required(claims, "nameid"), issuer=issuer, tenant=app.tenant,
                             name=_user_name(claims),
                             identity_provider=_required(claims, "identityprovider"))
        return Principal(app=app, user=user, claims=claims, issuer=issuer, issuer_name=issuer_name,
                         token_sha256=token_sha256)
