"""Okta access tokens, org and custom authorization servers (Okta docs, "Access token" claims:
https://developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/#access-token-payload).

The client is ``cid`` (``client_id`` in an RFC 7662 introspection response); ``uid``, the Okta
user id, is present only when a user signed in, so a token without ``uid`` is app-only
(client credentials: ``sub == cid``). The user is ``uid``, named by ``sub`` (the login).
Scopes are ``scp``, a JSON array (``scope``, a string, in introspection responses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .mapped import VendorProfile, text

__all__ = ["OktaProfile"]


class OktaProfile(VendorProfile):
    """App = ``cid``; user = ``uid`` (absent: app-only), named by ``sub``; scopes = ``scp``."""

    name = "okta"
    client_claims = ("cid", "client_id")

    def is_app_only(self, claims: Mapping[str, Any], client_id: str) -> bool:
        return text(claims, "uid") is None  # uid only when a user is present

    def user_id(self, claims: Mapping[str, Any]) -> str:
        return str(text(claims, "uid"))

    def user_name(self, claims: Mapping[str, Any]) -> str | None:
        return text(claims, "sub") or text(claims, "username")
