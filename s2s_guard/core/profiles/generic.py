"""The generic ``jwt`` profile (RFC 9068 §2.2, RFC 6749 §3.3): client_id/azp/appid, sub, scope/scp."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import InvalidClaim
from ...principal import AppPrincipal, Principal, UserPrincipal

__all__ = ["GenericJWTProfile", "scopes_of", "string_list"]


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """RFC 8693 §4.2 ``scope`` (space-separated) or ``scp`` (string or list)."""
    value = claims.get("scope", claims.get("scp"))
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    return frozenset(value)  # list of str, guaranteed by claims.check_types


def string_list(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    """A claim that should be a list of strings (e.g. ``roles``); anything else is refused."""
    value = claims.get(name)
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClaim(f"{name} is not a list of strings")
    return frozenset(value)


def _client_id(claims: Mapping[str, Any]) -> str | None:
    for name in ("client_id", "azp", "appid"):
        if isinstance(claims.get(name), str):
            return str(claims[name])
    return None


class GenericJWTProfile:
    """App = ``client_id``/``azp``/``appid``; user = ``sub`` unless it is the client itself."""

    name = "jwt"

    def principal(self, claims: Mapping[str, Any], *, issuer: str, issuer_name: str,
                  token_sha256: str) -> Principal:
        client_id = _client_id(claims)
        sub = claims.get("sub")
        tenant = claims.get("tid") if isinstance(claims.get("tid"), str) else None
        scopes = scopes_of(claims)
        app = None if client_id is None else AppPrincipal(
            client_id=client_id, issuer=issuer, tenant=tenant, permissions=scopes)
        user = None
        if isinstance(sub, str) and sub and sub != client_id:
            name = claims.get("preferred_username", claims.get("name"))
            user = UserPrincipal(id=sub, issuer=issuer, tenant=tenant,
                                 name=name if isinstance(name, str) else None,
                                 roles=string_list(claims, "roles"))
        if app is None and user is None:
            raise InvalidClaim("token names neither a client nor a subject")
        return Principal(app=app, user=user, scopes=scopes, claims=claims, issuer=issuer,
                         issuer_name=issuer_name, token_sha256=token_sha256)
