"""RFC 7662 introspection responses through the same checks and principal mapping as a JWT.

A response such as an identity provider returns for a client-credentials token requested
with an RFC 8707 resource indicator::

    {"active": true, "client_id": "4e8463569caf7ca019000007", "scope": "orders.read",
     "aud": ["https://orders.example.com"], "iss": "https://login.example.com/",
     "token_type": "Bearer", "exp": 1503928222, "iat": 1503924622}

must be active, unexpired and meant for this API: a token introspected for another audience
(or naming none) is refused, since the introspection endpoint answers for any token it issued.
For servers that send ``aud`` only for RFC 8707 resource requests (django-oauth-toolkit), a
response naming no audience can be accepted for an explicit list of clients, trusted to hold
tokens for this API alone; the response's ``client_id`` then stands for the audience.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ...errors import (InvalidAudience, InvalidToken, InvalidTokenType, TokenExpired, TokenIssuedInFuture,
                       TokenNotYetValid, UnknownIssuer)
from ...principal import Principal
from ..claims import audiences_of, check_types, numeric_date
from .base import Profile

__all__ = ["check_introspected", "introspected_principal"]

#: ``token_type`` (RFC 7009 §2.1 hint values) and Keycloak's ``typ`` for refresh and offline tokens.
_REFRESH_TYPES = frozenset({"refresh_token", "refresh", "offline"})


def _check_not_refresh(response: Mapping[str, Any]) -> None:
    # RFC 6749 §1.5, §10.4: a refresh token is for the authorization server only, never an API call.
    if "token_type" not in response and "typ" not in response:
        return
    for name in ("token_type", "typ"):
        value = response.get(name)
        if isinstance(value, str) and value.lower() in _REFRESH_TYPES:
            raise InvalidTokenType(f"introspected {name} {value!r} is a refresh token")


def _check_times(response: Mapping[str, Any], leeway: float, now: float) -> None:
    exp, nbf, iat = (numeric_date(response, n) for n in ("exp", "nbf", "iat"))
    if exp is not None and now - leeway >= exp:
        raise TokenExpired(f"expired at {exp:.0f}, now {now:.0f}")  # RFC 7662 §2.2 exp
    if nbf is not None and now + leeway < nbf:
        raise TokenNotYetValid(f"not before {nbf:.0f}, now {now:.0f}")
    if iat is not None and iat > now + leeway:
        raise TokenIssuedInFuture(f"issued at {iat:.0f}, now {now:.0f}")


def _check_audience(response: Mapping[str, Any], audiences: Collection[str],
                    clients_without_aud: Collection[str]) -> None:
    if "aud" not in response:
        # RFC 7662 §2.2 aud is optional: fail closed, unless the client is trusted to stand for it
        if response.get("client_id") not in clients_without_aud:
            raise InvalidAudience("introspection response names no audience and its client_id is not "
                                  "in [introspection] accept_missing_aud_for_clients")
        return
    if not any(a in audiences for a in audiences_of(response)):  # RFC 8707 resource indicator
        raise InvalidAudience("token was introspected for another audience")


def check_introspected(response: Mapping[str, Any], *, audiences: Collection[str],
                       issuer: str | None, leeway: float, now: float,
                       clients_without_aud: Collection[str] = ()) -> None:
    """RFC 7662 §2.2: ``active`` is JSON ``true``; ``aud`` names this API; times and ``iss`` hold.

    A response without ``aud`` is accepted only when its ``client_id`` is in ``clients_without_aud``
    (``[introspection] accept_missing_aud_for_clients``); one with ``aud`` must always match.
    """
    if response.get("active") is not True:
        raise InvalidToken("introspection says the token is not active")
    check_types(response)
    _check_not_refresh(response)
    if issuer is not None and "iss" in response and response["iss"] != issuer:
        raise UnknownIssuer("introspected iss is not the configured issuer")  # RFC 8725 §3.8
    _check_times(response, leeway, now)
    _check_audience(response, audiences, clients_without_aud)


def introspected_principal(response: Mapping[str, Any], *, profile: Profile, audiences: Collection[str],
                           issuer: str, issuer_name: str, token_sha256: str, leeway: float,
                           now: float, clients_without_aud: Collection[str] = ()) -> Principal:
    """Check an introspection response, then map it with the issuer's profile."""
    check_introspected(response, audiences=audiences, issuer=issuer, leeway=leeway, now=now,
                       clients_without_aud=clients_without_aud)
    return profile.principal(response, issuer=issuer, issuer_name=issuer_name,
                             token_sha256=token_sha256)
