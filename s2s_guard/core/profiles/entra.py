"""Microsoft Entra ID (Azure AD) v1.0 and v2.0 access tokens (Microsoft identity platform claims reference).

v1.0: ``iss = https://sts.windows.net/{tid}/``, app in ``appid``, user name in ``upn`` /
``unique_name``. v2.0: ``iss = https://login.microsoftonline.com/{tid}/v2.0``, app in ``azp``,
user name in ``preferred_username``. ``ver`` decides which. A token is app-only when
``idtyp = "app"`` or, without ``idtyp``, when it has no ``scp`` and ``oid == sub`` (never from
``roles`` alone): the app's permissions are then its ``roles``. Otherwise it is delegated: the
app's permissions are ``scp`` and ``roles`` are the user's app roles.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from ...errors import InvalidClaim, UnknownIssuer
from ...principal import AppPrincipal, Principal, UserPrincipal
from .base import BaseProfile
from .generic import scope_tokens, string_list

__all__ = ["EntraProfile", "TENANT_PLACEHOLDER", "is_app_only"]

TENANT_PLACEHOLDER = "{tenantid}"
_TENANT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_APP_CLAIM = {"1.0": "appid", "2.0": "azp"}
_NAME_CLAIMS = {"1.0": ("upn", "unique_name", "name"), "2.0": ("preferred_username", "name")}


def is_app_only(claims: Mapping[str, Any]) -> bool:
    """``idtyp`` when present; else no ``scp`` and ``oid == sub``. Anything else is ambiguous and refused."""
    idtyp = claims.get("idtyp")
    has_scp = "scp" in claims
    if idtyp == "app" and not has_scp:
        return True
    if idtyp == "user" or (idtyp is None and has_scp):
        return False
    oid = claims.get("oid")
    if idtyp is None and isinstance(oid, str) and oid == claims.get("sub"):
        return True
    raise InvalidClaim("cannot tell an app-only token from a delegated one (idtyp/scp/oid/sub)")


def _scp(claims: Mapping[str, Any]) -> frozenset[str]:
    scp = claims.get("scp")
    if scp is None:
        return frozenset()
    if not isinstance(scp, str):
        raise InvalidClaim("scp is not a space-separated string")
    return scope_tokens(scp)  # RFC 6749 §3.3: split on SP only, ill-formed tokens dropped


def _check_app_claims(claims: Mapping[str, Any]) -> None:
    """``appid`` (v1.0) and ``azp`` (v2.0) both name the calling app: when both are present they agree."""
    if "appid" in claims and "azp" in claims and claims["appid"] != claims["azp"]:
        # Entra access token claims reference: azp (v2.0) replaces appid (v1.0); a token names one app
        raise InvalidClaim("appid and azp name different apps")


def _name(claims: Mapping[str, Any], ver: str) -> str | None:
    for name in _NAME_CLAIMS[ver]:
        if isinstance(claims.get(name), str):
            return str(claims[name])
    return None


class EntraProfile(BaseProfile):
    """Entra ID tokens: app from ``appid``/``azp``, user from ``oid`` + ``tid``; multi-tenant templates."""

    name = "entra"

    def issuer_matches(self, iss: str, claims: Mapping[str, Any]) -> bool:
        template = self.issuer.issuer if self.issuer is not None else ""
        tid = claims.get("tid")
        if TENANT_PLACEHOLDER not in template or not isinstance(tid, str) or not _TENANT_ID.fullmatch(tid):
            return False
        return template.replace(TENANT_PLACEHOLDER, tid) == iss  # filled from tid, then exact

    def validate(self, claims: Mapping[str, Any], *, outer: Mapping[str, Any] | None, issuer: str,
                 audiences: Collection[str], leeway: float, now: float) -> Mapping[str, Any]:
        if TENANT_PLACEHOLDER in issuer:  # a literal "{tenantid}" iss is never a real tenant
            raise UnknownIssuer("iss is an unfilled tenant template")
        claims = super().validate(claims, outer=outer, issuer=issuer, audiences=audiences,
                                  leeway=leeway, now=now)
        tenants = self.issuer.tenants if self.issuer is not None else None
        tid = claims.get("tid")
        if not isinstance(tid, str) or not tid:
            raise InvalidClaim("tid is missing")
        if tenants is not None and tenants != "any" and tid not in tenants:
            raise InvalidClaim("tid is not an allowed tenant")
        return claims  # ver, appid/azp and the app-only test are checked by principal()

    def principal(self, claims: Mapping[str, Any], *, issuer: str, issuer_name: str,
                  token_sha256: str) -> Principal:
        ver = claims.get("ver")
        if not isinstance(ver, str) or ver not in _APP_CLAIM:  # a list/object ver is unhashable
            raise InvalidClaim("ver is not 1.0 or 2.0")
        _check_app_claims(claims)
        client_id, tid = claims.get(_APP_CLAIM[ver]), claims.get("tid")
        if not isinstance(client_id, str) or not isinstance(tid, str):
            raise InvalidClaim(f"a v{ver} token needs tid and {_APP_CLAIM[ver]}")
        roles = string_list(claims, "roles")
        user = None
        if is_app_only(claims):
            scopes = roles
        else:
            scopes = _scp(claims)
            oid = claims.get("oid")
            if not isinstance(oid, str) or not oid:
                raise InvalidClaim("a delegated token needs oid")
            user = UserPrincipal(id=oid, issuer=issuer, tenant=tid, name=_name(claims, ver),
                                 roles=roles)
        app = AppPrincipal(client_id=client_id, issuer=issuer, tenant=tid, permissions=scopes)
        return Principal(app=app, user=user, scopes=scopes, claims=claims, issuer=issuer,
                         issuer_name=issuer_name, token_sha256=token_sha256)
