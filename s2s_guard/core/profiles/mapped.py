"""Identity-provider profiles: each vendor's own answer to "a daemon, or a user?" (RFC 9068 §2.2 is not theirs).

RFC 9068 access tokens say app-only with ``sub == client_id``; the identity providers most APIs
sit behind say it in their own claims (Auth0 ``gty``, Okta ``uid``, Keycloak's service-account
user, Cognito ``username``, Duende's missing ``sub``). A :class:`VendorProfile` names where the
client id is, the daemon test, the user's id, name and roles and the scope dialect; each vendor
module (``auth0``, ``okta``, ``keycloak``, ``cognito``, ``duende``) is a small subclass. The
client claim is required: a vendor token without one is malformed, never a user-only principal.
Tokens carrying RFC 8693 ``act``/``may_act`` keep the generic delegation rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import InvalidClaim
from ...principal import AppPrincipal, Principal, UserPrincipal
from .generic import GenericJWTProfile, scopes_of

__all__ = ["VendorProfile", "text"]


def text(claims: Mapping[str, Any], name: str) -> str | None:
    """A claim that must be a string when present; ``None`` when absent or empty."""
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidClaim(f"{name} is not a string")
    return value or None


class VendorProfile(GenericJWTProfile):
    """App from :attr:`client_claims`; user unless :meth:`is_app_only`; scopes in the vendor's dialect."""

    #: Where the client id is; the first present wins.
    client_claims: tuple[str, ...] = ("client_id",)
    #: Vendor profiles name their daemons themselves: no generic marker warnings.
    warns = False

    def is_app_only(self, claims: Mapping[str, Any], client_id: str) -> bool:
        """Whether the token names no user (client credentials, a service account)."""
        raise NotImplementedError  # each vendor says it its own way

    def user_id(self, claims: Mapping[str, Any]) -> str:
        sub = text(claims, "sub")
        if sub is None:
            raise InvalidClaim("a user token has no sub")
        return sub

    def user_name(self, claims: Mapping[str, Any]) -> str | None:
        return text(claims, "preferred_username") or text(claims, "name")

    def user_roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        return frozenset()

    def scopes(self, claims: Mapping[str, Any]) -> frozenset[str]:
        return scopes_of(claims)  # RFC 8693 §4.2 scope, or scp

    def app_permissions(self, claims: Mapping[str, Any], scopes: frozenset[str]) -> frozenset[str]:
        """An app-only token's grants (Keycloak adds the service account's roles)."""
        return scopes

    def client_id(self, claims: Mapping[str, Any]) -> str:
        for name in self.client_claims:
            value = text(claims, name)
            if value is not None:
                return value
        raise InvalidClaim(f"token names no client ({'/'.join(self.client_claims)})")

    def principal(self, claims: Mapping[str, Any], *, issuer: str, issuer_name: str,
                  token_sha256: str) -> Principal:
        if "act" in claims or "may_act" in claims:  # RFC 8693 delegation: the generic rules
            return super().principal(claims, issuer=issuer, issuer_name=issuer_name,
                                     token_sha256=token_sha256)
        client_id = self.client_id(claims)
        scopes = self.scopes(claims)
        if self.is_app_only(claims, client_id):  # a daemon never carries a user
            app = AppPrincipal._of(client_id, issuer, None, self.app_permissions(claims, scopes))
            return Principal._of(app, None, scopes, claims, issuer, issuer_name, token_sha256, ())
        user = UserPrincipal._of(self.user_id(claims), issuer, None, self.user_name(claims),
                                 self.user_roles(claims))
        app = AppPrincipal._of(client_id, issuer, None, scopes)
        return Principal._of(app, user, scopes, claims, issuer, issuer_name, token_sha256, ())
