"""The generic ``jwt`` profile: RFC 9068 access tokens, RFC 8693 delegation, RFC 7662 responses.

App = ``client_id`` (or ``azp``/``appid``/``cid``); ``sub == client_id`` means app-only; so
does a vendor's well-known daemon marker (Auth0 ``gty = "client-credentials"`` or a ``sub``
ending in ``@clients``, a Keycloak ``service-account-`` username), failing safe: a daemon never
passes a user+app route. Otherwise ``sub`` is the user; a token naming no client is user-only
(by design: a daemon's token names its client). A vendor's markers, or a vendor's issuer URL, are
logged once per issuer at WARNING with the named profile to configure (``auth0``, ``okta``,
``keycloak``, ``cognito``).
With an RFC 8693 ``act`` claim the acting party is the app, ``sub`` the user, and the whole
chain is kept (:attr:`Principal.actors`). Claim names for the app, the user and the scopes can
be set per issuer (``claims = {app = ..., user = ..., scopes = ...}``).
The same mapping serves RFC 7662 introspection responses (``client_id``, ``sub``, ``scope``,
``username``, ``act``). A response with ``username`` but no ``sub`` (django-oauth-toolkit's user
tokens) names its user by ``username``: RFC 7662 §2.2 defines it as the resource owner who
authorized the token, so such a token is never taken for a daemon's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ...config import IssuerConfig
from ...errors import InvalidClaim
from ...principal import AppPrincipal, Principal, UserPrincipal
from .base import BaseProfile, actor_client_id, actors_of, check_may_act

__all__ = ["GenericJWTProfile", "is_daemon", "scope_tokens", "scopes_of", "string_list", "vendor_of"]

log = logging.getLogger("s2s_guard")

_CLIENT_CLAIMS = ("client_id", "azp", "appid", "cid")  # cid: Okta
#: Issuer URLs that name a vendor with its own profile (a hint at first sight, before any token).
_VENDOR_ISSUERS = ((".auth0.com/", "auth0"), (".okta.com", "okta"), ("cognito-idp.", "cognito"),
                   ("/realms/", "keycloak"))
_NAME_CLAIMS = ("preferred_username", "username", "name")
#: Claims only one vendor's tokens carry: Auth0 ``gty``, Okta ``cid``, Cognito ``token_use``.
_VENDOR_CLAIM_OF = (("gty", "auth0"), ("cid", "okta"), ("token_use", "cognito"))
_VENDOR_CLAIMS = frozenset(name for name, _ in _VENDOR_CLAIM_OF)
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_EMPTY = frozenset(("",))
_NOTICE_TOKENS = 1000  # per issuer: how many tokens are looked at for another vendor's markers  # what split(" ") leaves between two spaces: no scope-token


def scope_tokens(values: str | Iterable[str]) -> frozenset[str]:
    """RFC 6749 §3.3: a ``scope`` string split on SP only, or a list's elements, keeping only
    well-formed scope-tokens: one with TAB, LF, NBSP, U+3000, '"' or '\\' is dropped, never split."""
    if isinstance(values, str):
        if values.isascii() and values.isprintable() and '"' not in values and "\\" not in values:
            parts = frozenset(values.split(" "))  # the usual case: every token well-formed
            return parts - _EMPTY if "" in parts else parts
        values = values.split(" ")
    return frozenset(part for part in values if _SCOPE_TOKEN.fullmatch(part))


def scopes_of(claims: Mapping[str, Any], name: str | None = None) -> frozenset[str]:
    """RFC 8693 §4.2 ``scope`` (space-separated) or ``scp`` (string or list); or the named claim."""
    value = claims.get(name) if name is not None else claims.get("scope", claims.get("scp"))
    if value is None:
        return frozenset()
    if isinstance(value, str) or isinstance(value, list) and all(isinstance(v, str) for v in value):
        return scope_tokens(value)  # RFC 6749 §3.3: never split on TAB, LF, NBSP...
    raise InvalidClaim(f"{name or 'scope'} is not a string or a list of strings")


def string_list(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    """A claim that should be a list of strings (e.g. ``roles``); anything else is refused."""
    value = claims.get(name)
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClaim(f"{name} is not a list of strings")
    return frozenset(value)


def is_daemon(claims: Mapping[str, Any]) -> bool:
    """A vendor's client-credentials marker: Auth0 ``gty``/``<client>@clients``, Keycloak's service account."""
    sub, username = claims.get("sub"), claims.get("preferred_username")
    return (claims.get("gty") == "client-credentials" or (isinstance(sub, str) and sub.endswith("@clients"))
            or (isinstance(username, str) and username.startswith("service-account-")))


def vendor_of(claims: Mapping[str, Any]) -> str | None:
    """The named profile whose markers ``claims`` carry (gty, @clients, cid, token_use, service accounts)."""
    if not _VENDOR_CLAIMS.isdisjoint(claims):  # one set operation for the usual token, which has none
        return next(vendor for name, vendor in _VENDOR_CLAIM_OF if name in claims)
    sub, username = claims.get("sub"), claims.get("preferred_username")
    if isinstance(sub, str) and sub.endswith("@clients"):
        return "auth0"
    if isinstance(username, str) and username.startswith("service-account-"):
        return "keycloak"
    return None


def _string(claims: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = claims.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise InvalidClaim(f"{name} is not a string")
            return value or None
    return None


class GenericJWTProfile(BaseProfile):
    """App = ``client_id``/``azp``/``appid``; user = ``sub`` unless it is the client itself."""

    name = "jwt"
    #: Log (once per issuer) tokens this profile cannot be trusted to classify.
    warns = True

    def __init__(self, issuer: IssuerConfig | None = None) -> None:
        super().__init__(issuer)
        names = issuer.claims if issuer is not None and issuer.claims else {}
        self.app_claims: tuple[str, ...] = (names["app"],) if "app" in names else _CLIENT_CLAIMS
        # RFC 7662 §2.2: without sub, username names the resource owner (django-oauth-toolkit)
        self.user_claims: tuple[str, ...] = (names["user"],) if "user" in names else ("sub", "username")
        self.scopes_claim: str | None = names.get("scopes")
        self._warned: set[str] = set()  # issuers already warned about
        #: Tokens of this issuer still to look at for vendor markers: a vendor shows itself in its first
        #: tokens, and the check then leaves the cold path (classification itself never stops).
        self._to_notice = _NOTICE_TOKENS if self.warns else 0
        if issuer is not None and self.warns and not names:
            self._hint(issuer.issuer)

    def _hint(self, issuer: str) -> None:
        for part, vendor in _VENDOR_ISSUERS:
            if part in issuer:
                self._warn(issuer, vendor)
                return

    def _warn(self, issuer: str, vendor: str) -> None:
        """One WARNING per issuer: the generic rules cannot tell all of its daemons from users."""
        self._warned.add(issuer)
        log.warning("s2s_guard: issuer %s looks like %s, but uses the generic jwt profile, which cannot tell "
                    "all its daemons from users; set profile = \"%s\" for it", issuer, vendor, vendor)

    def _notice(self, claims: Mapping[str, Any], issuer: str) -> None:
        if issuer not in self._warned:
            self._to_notice -= 1
            vendor = vendor_of(claims)
            if vendor is not None:
                self._warn(issuer, vendor)

    def principal(self, claims: Mapping[str, Any], *, issuer: str, issuer_name: str,
                  token_sha256: str) -> Principal:
        # RFC 8693 §4.1: with act, the current actor is the app and the subject is the user.
        actors = actors_of(claims) if "act" in claims else ()
        if "may_act" in claims:
            check_may_act(claims, actors, issuer)  # RFC 8693 §4.4: act and may_act must agree
        client_id = actor_client_id(actors[0]) if actors else _string(claims, self.app_claims)
        subject = _string(claims, self.user_claims)
        if actors and subject is None:
            raise InvalidClaim("a delegated (act) token needs a subject")
        tid = claims.get("tid")
        tenant = tid if isinstance(tid, str) else None
        scopes = scopes_of(claims, self.scopes_claim)
        app = None if client_id is None else AppPrincipal._of(client_id, issuer, tenant, scopes)
        user = None
        if self._to_notice > 0 and not actors:
            self._notice(claims, issuer)
        # RFC 9068 §2.2: sub == client_id is app-only; so is a vendor's daemon marker (fail safe)
        if subject is not None and (actors or (subject != client_id and not is_daemon(claims))):
            name = _string(claims, _NAME_CLAIMS)
            user = UserPrincipal._of(subject, issuer, tenant, name, string_list(claims, "roles"))
        if app is None and user is None:
            raise InvalidClaim("token names neither a client nor a subject")
        return Principal._of(app, user, scopes, claims, issuer, issuer_name, token_sha256, actors)
