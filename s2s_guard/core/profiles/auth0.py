"""Auth0 access tokens (Auth0 docs, "Access Token Profiles": https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles).

The client is ``azp`` (Auth0 token dialect) or ``client_id`` (RFC 9068 dialect). A
client-credentials token carries ``gty = "client-credentials"`` and ``sub = <client_id>@clients``;
either marker makes it app-only. Scopes are ``scope`` plus, when the API enables RBAC with
"Add Permissions in the Access Token", the ``permissions`` array. ``iss`` is the tenant (or
custom) domain with a trailing slash, which the configuration checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .generic import scopes_of, string_list
from .mapped import VendorProfile, text

__all__ = ["Auth0Profile", "is_auth0_daemon"]


def is_auth0_daemon(claims: Mapping[str, Any]) -> bool:
    """``gty = "client-credentials"`` or a ``sub`` ending in ``@clients``: Auth0's machine-to-machine token."""
    sub = claims.get("sub")
    return claims.get("gty") == "client-credentials" or (isinstance(sub, str) and sub.endswith("@clients"))


class Auth0Profile(VendorProfile):
    """App = ``azp``/``client_id``; app-only on ``gty``/``@clients``; scopes = ``scope`` + ``permissions``."""

    name = "auth0"
    client_claims = ("azp", "client_id")

    def is_app_only(self, claims: Mapping[str, Any], client_id: str) -> bool:
        text(claims, "gty")
        return is_auth0_daemon(claims)

    def scopes(self, claims: Mapping[str, Any]) -> frozenset[str]:
        return scopes_of(claims, "scope") | string_list(claims, "permissions")  # RBAC permissions
