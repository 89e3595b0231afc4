"""Duende IdentityServer access tokens (Duende docs, "Authorization based on Scopes and Claims",
scope claim format: https://docs.duendesoftware.com/identityserver/apis/aspnetcore/authorization).

IdentityServer emits ``scope`` as a JSON array by default (a space-separated string with
``EmitScopesAsSpaceDelimitedStringInJwt``); both are read. The client is ``client_id``;
client-credentials tokens carry no ``sub`` (or, RFC 9068 style, ``sub == client_id``) and are
app-only. User = ``sub``, named by ``name``/``preferred_username``, with ``role`` as roles.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ...errors import InvalidClaim
from .generic import string_list
from .mapped import VendorProfile, text

__all__ = ["DuendeProfile"]


class DuendeProfile(VendorProfile):
    """App = ``client_id``; app-only without ``sub``; ``scope`` a string or a JSON array."""

    name = "duende"
    #: Duende's tokens say typ at+jwt, but a client-credentials token names no user, so it has no sub.
    rfc9068_absent = frozenset({"sub"})

    def validate(self, claims: Mapping[str, Any], *, outer: Mapping[str, Any] | None, issuer: str,
                 audiences: Collection[str], leeway: float, now: float) -> Mapping[str, Any]:
        view = claims
        if not isinstance(claims.get("scope", ""), str):  # Duende's default: a JSON array of strings
            string_list(claims, "scope")
            view = {name: value for name, value in claims.items() if name != "scope"}
        super().validate(view, outer=outer, issuer=issuer, audiences=audiences, leeway=leeway, now=now)
        return claims

    def is_app_only(self, claims: Mapping[str, Any], client_id: str) -> bool:
        sub = text(claims, "sub")
        return sub is None or sub == client_id

    def user_name(self, claims: Mapping[str, Any]) -> str | None:
        return text(claims, "name") or text(claims, "preferred_username")

    def user_roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        role = claims.get("role")
        if isinstance(role, str):
            return frozenset((role,))
        if role is None or isinstance(role, list):
            return string_list(claims, "role")
        raise InvalidClaim("role is not a string or a list of strings")
