"""RFC 6750 §2 and RFC 8725 §3.8: the steps before any key: extract the token, route it to its issuer.

A token from a configured issuer is validated locally (a :class:`Routed` JWT, its header
checked against that issuer's allow-list); any other token, or one whose issuer says
``validation = "introspect"``, is introspected. A JWT naming an issuer nobody configured keeps
its local error: it is never sent to a third party. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

from ..config import GuardConfig, IssuerConfig
from ..core.bearer import extract_bearer
from ..core.jws import CompactJWS, parse_compact
from ..core.jwt import check_header, issuer_of
from ..core.profiles import Profile, profile_for
from ..core.sharepoint import unwrap_outer
from ..errors import DisallowedAlgorithm, InvalidToken, TokenTooLarge, UnknownIssuer

__all__ = ["Authorization", "Routed", "Router", "headers_of", "plain_bearer", "token_sha256"]

#: What an adapter passes as ``Authorization``: one value, every value, or none.
Authorization = str | Sequence[str] | None
# RFC 6750 §2.1 b64token characters ("=" padding goes the long way, through extract_bearer).
_BEARER_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
_sha256 = hashlib.sha256  # the warm path's one hash, without a module attribute lookup
#: Header segments whose checks passed, per issuer (bounded: cleared when full, like core/jws.py's
#: parsed headers). A header is a pure function of its base64url segment, and the checks are a pure
#: function of the header and the issuer's configuration, so a segment that passed once passes again.
_CHECKED_HEADERS_MAX = 256


def headers_of(authorization: Authorization) -> list[str]:
    """The ``Authorization`` value(s) as the list :func:`extract_bearer` takes."""
    return [authorization] if isinstance(authorization, str) else list(authorization or ())


def token_sha256(token: str) -> str:
    """The SHA-256 hex digest that stands for a token in logs and caches."""
    return hashlib.sha256(token.encode()).hexdigest()


def plain_bearer(authorization: Authorization, query_tokens: Sequence[str]) -> tuple[str, bytes, str] | None:
    """A lone ``Bearer x`` header: (x, its ASCII bytes, SHA-256 hex), not yet checked.

    A verified-cache hit on that hash is safe unchecked: only tokens that passed
    :func:`extract_bearer` are ever stored, so a hit means ``x`` is such a token.
    """
    header = authorization if isinstance(authorization, str) else (
        authorization[0] if authorization is not None and len(authorization) == 1 else None)
    if header is None or query_tokens or header[:7] != "Bearer ":
        return None
    token = header[7:]
    raw = token.encode("ascii", "replace")  # non-ASCII becomes "?", never in a token
    return token, raw, _sha256(raw).hexdigest()


def _name_token(exc: InvalidToken, sha: str) -> None:
    """Name the refused token in the log detail, by its hash (never the token)."""
    exc.detail = f"{exc.detail} (token sha256 {sha[:16]})"


class Routed(NamedTuple):
    """A decoded JWT routed to its issuer, waiting for that issuer's keys (a tuple: cheap per request)."""

    jws: CompactJWS
    issuer: IssuerConfig
    alg: str
    sha256: str
    #: The token's ``iss`` (an Entra template filled from ``tid``); empty means ``issuer.issuer``.
    iss: str = ""
    #: SharePoint high-trust user+app: the unsecured outer token's claims; ``jws`` is its actor token.
    outer: Mapping[str, Any] | None = None


class Router:
    """The configured issuers (exact ``iss``, then Entra ``{tenantid}`` templates) and their profiles."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self.issuers = config.issuer_by_iss()
        #: The audiences of issuers that configure none of their own.
        self.audiences = frozenset(config.audience)
        #: Whether opaque tokens (and ``validation = "introspect"`` issuers' JWTs) go to RFC 7662.
        self.introspects = config.introspection is not None
        self._profiles: dict[str, Profile] = {}
        self._templates = [i for i in config.issuers if "{tenantid}" in i.issuer]  # Entra multi-tenant
        self._checked: dict[tuple[str, bytes], str] = {}  # (issuer, header segment) -> its alg

    def token(self, authorization: Authorization, query_tokens: Sequence[str],
              plain: tuple[str, bytes, str] | None) -> tuple[str, str]:
        """The Bearer token (RFC 6750 §2.1) and its SHA-256 hex; a plain b64token keeps its hash."""
        if plain is not None and plain[1] and not plain[1].translate(None, _BEARER_ALPHABET):
            return plain[0], plain[2]  # exactly what extract_bearer returns for this input
        token = extract_bearer(headers_of(authorization), query_tokens, allow_query=self.config.allow_query_token)
        return token, token_sha256(token)

    def route(self, token: str, sha: str) -> Routed | None:
        """A JWT from a configured issuer is validated locally (:class:`Routed`); any other token,
        or one whose issuer says ``validation = "introspect"``, is introspected (``None``)."""
        try:
            jws = parse_compact(token, self.config.max_token_bytes)
        except InvalidToken as exc:  # not a JWT: an opaque token, for introspection if there is one
            if not self.introspects or isinstance(exc, TokenTooLarge):
                _name_token(exc, sha)
                raise
            return None
        try:
            routed = self._route_jws(jws, sha)
        except InvalidToken as exc:
            if not self.introspects or isinstance(exc, TokenTooLarge) or not self._introspectable(jws.payload):
                _name_token(exc, sha)
                raise
            return None
        if self.introspects and routed.issuer.validation == "introspect":
            return None
        return routed

    def _route_jws(self, jws: CompactJWS, sha: str) -> Routed:
        """Find the issuer (exact ``iss``, then templates) and check the header against it."""
        outer = None
        if jws.header.get("alg") == "none":
            # RFC 8725 §3.1: never alone; only as SharePoint's wrapper around a signed actor token.
            jws, outer = unwrap_outer(jws, self.config.max_token_bytes)
        iss = issuer_of(jws)
        issuer = self.issuers.get(iss) or self.template_for(iss, jws.payload)
        if issuer is None:
            raise UnknownIssuer("iss is not a configured issuer")
        profile = self.profile(issuer)
        if outer is not None and not profile.unsigned_outer:
            raise DisallowedAlgorithm("alg none is accepted only around a high-trust actor token")
        return Routed(jws, issuer, self._alg(jws, issuer, profile), sha, iss, outer)

    def _alg(self, jws: CompactJWS, issuer: IssuerConfig, profile: Profile) -> str:
        """The header checks (RFC 7515, RFC 8725 §3.1, the profile's), once per issuer and header segment."""
        key = (issuer.issuer, jws.signing_input[:jws.signing_input.index(b".")])
        alg = self._checked.get(key)
        if alg is None:
            alg = check_header(jws.header, issuer.algorithms, issuer.typ)
            profile.check_header(jws.header)
            if len(self._checked) >= _CHECKED_HEADERS_MAX:
                self._checked.clear()
            self._checked[key] = alg
        return alg

    def template_for(self, iss: str, payload: Mapping[str, Any]) -> IssuerConfig | None:
        """RFC 8725 §3.8: the Entra ``{tenantid}`` template ``iss`` fills (from ``tid``), when no
        issuer is configured with exactly that ``iss`` (look in :attr:`issuers` first)."""
        for template in self._templates:
            if self.profile(template).issuer_matches(iss, payload):
                return template
        return None

    def _introspectable(self, payload: Mapping[str, Any]) -> bool:
        """Whether a JWT refused by local validation is one for the introspection endpoint."""
        iss = payload.get("iss")
        if not isinstance(iss, str):
            return True  # a JWT-shaped token naming no issuer: only the server can tell
        # A JWT from an unknown issuer keeps its local error: it is not sent to a third party.
        issuer = self.issuers.get(iss) or self.template_for(iss, payload)
        return issuer is not None and issuer.validation == "introspect"

    def profile(self, issuer: IssuerConfig) -> Profile:
        """The issuer's token profile (built once)."""
        profile = self._profiles.get(issuer.issuer)
        if profile is None:
            profile = self._profiles[issuer.issuer] = profile_for(issuer)
        return profile

    def audiences_for(self, issuer: IssuerConfig) -> Collection[str]:
        """RFC 7519 §4.1.3: the audiences an issuer's tokens must name."""
        return issuer.audience if issuer.audience is not None else self.audiences
