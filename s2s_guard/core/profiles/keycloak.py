"""Keycloak access tokens (Keycloak Server Administration Guide, "Using a service account":
https://www.keycloak.org/docs/latest/server_admin/#_service_accounts).

The client is ``azp``. A client-credentials token is issued to the client's service-account
user: ``sub`` is that user's id and ``preferred_username`` is ``service-account-<client>``;
the ``service_account`` scope adds ``client_id`` (``clientId`` before Keycloak 19). The username
decides when present (an introspection response names ``client_id`` for users too); without it,
``client_id`` marks the service account, and a token with neither cannot be told apart and is
refused. Scopes are ``scope``. Realm roles
(``realm_access.roles``) and client roles (``resource_access.<client>.roles``) are read only
when the issuer asks (``realm_roles = true``, ``client_roles = [...]``): a user's roles go to
:attr:`UserPrincipal.roles`, a service account's to its app permissions (never to scopes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...config import IssuerConfig
from ...errors import InvalidClaim
from .generic import string_list
from .mapped import VendorProfile, text

__all__ = ["KeycloakProfile", "SERVICE_ACCOUNT_PREFIX"]

SERVICE_ACCOUNT_PREFIX = "service-account-"
_SERVICE_ACCOUNT_CLAIMS = ("client_id", "clientId")  # the service_account scope's client id mappers


def _roles(container: object, where: str) -> frozenset[str]:
    """``{"roles": [...]}`` (absent: none)."""
    if container is None:
        return frozenset()
    if not isinstance(container, Mapping):
        raise InvalidClaim(f"{where} is not a JSON object")
    return string_list(container, "roles")


class KeycloakProfile(VendorProfile):
    """App = ``azp``; app-only for the service-account user; opt-in realm and client roles."""

    name = "keycloak"
    client_claims = ("azp", "client_id", "clientId")

    def __init__(self, issuer: IssuerConfig | None = None) -> None:
        super().__init__(issuer)
        self.realm_roles = issuer.realm_roles if issuer is not None else False
        self.client_roles = issuer.client_roles if issuer is not None else ()

    def is_app_only(self, claims: Mapping[str, Any], client_id: str) -> bool:
        username = text(claims, "preferred_username")
        if username is not None:  # the profile scope: decisive (introspection adds client_id for users too)
            return username.startswith(SERVICE_ACCOUNT_PREFIX)
        if any(text(claims, name) is not None for name in _SERVICE_ACCOUNT_CLAIMS):
            return True  # the service_account scope without the profile scope
        raise InvalidClaim("cannot tell a service account from a user (preferred_username)")  # fail closed

    def user_roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        roles = _roles(claims.get("realm_access"), "realm_access") if self.realm_roles else frozenset()
        if not self.client_roles:
            return roles
        access = claims.get("resource_access", {})
        if not isinstance(access, Mapping):
            raise InvalidClaim("resource_access is not a JSON object")
        for client in self.client_roles:
            roles |= _roles(access.get(client), f"resource_access.{client}")
        return roles

    def app_permissions(self, claims: Mapping[str, Any], scopes: frozenset[str]) -> frozenset[str]:
        return scopes | self.user_roles(claims)  # a service account's roles are its grants
