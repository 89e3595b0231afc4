"""The profile protocol: how one issuer's tokens are routed, checked and mapped to a principal.

The guard runs, for every token: ``check_header`` (after the generic header rules), signature
verification, ``validate`` (claim checks; returns the claims to map) and ``principal``.
``principal`` works on any claims mapping, so RFC 7662 introspection results reuse it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol

from ...config import IssuerConfig
from ..claims import RFC9068_REQUIRED, check_claims, check_present
from ...errors import DisallowedAlgorithm, InvalidClaim
from ...principal import Principal

__all__ = ["BaseProfile", "Profile", "actors_of", "check_may_act"]


class Profile(Protocol):
    """Maps verified claims to a :class:`Principal`; raises ``InvalidToken`` leaves if it cannot."""

    name: str
    #: Whether an unsecured outer token may wrap a signed actor token (SharePoint high-trust only).
    unsigned_outer: bool

    def configure(self, issuer: IssuerConfig) -> Profile:
        """This profile set up for one ``[[issuers]]`` entry."""
        ...

    def issuer_matches(self, iss: str, claims: Mapping[str, Any]) -> bool:
        """Whether ``iss`` fills this issuer's template (e.g. Entra ``{tenantid}``); False if none."""
        ...

    def check_header(self, header: Mapping[str, Any]) -> None:
        """Profile header rules, after the generic ones (e.g. SharePoint's mandatory ``x5t``)."""
        ...

    def validate(self, claims: Mapping[str, Any], *, outer: Mapping[str, Any] | None, issuer: str,
                 audiences: Collection[str], leeway: float, now: float) -> Mapping[str, Any]:
        """Check a verified token's claims at ``now``; return the claims :meth:`principal` maps."""
        ...

    def principal(self, claims: Mapping[str, Any], *, issuer: str, issuer_name: str,
                  token_sha256: str) -> Principal:
        """The app and user a token (or an introspection response) names."""
        ...


class BaseProfile:
    """Defaults: exact issuer, generic header and RFC 7519 claim checks, no unsecured tokens."""

    name = ""
    unsigned_outer = False
    #: RFC 9068 §2.2 claims a vendor documents as absent from its at+jwt tokens (Duende: no ``sub``
    #: in client-credentials tokens); every other REQUIRED claim is still required.
    rfc9068_absent: frozenset[str] = frozenset()

    def __init__(self, issuer: IssuerConfig | None = None) -> None:
        self.issuer = issuer
        #: RFC 9068 §2.2: an issuer requiring typ at+jwt gets the claims that profile requires.
        self.required_claims = tuple(name for name in RFC9068_REQUIRED if name not in self.rfc9068_absent) \
            if issuer is not None and _is_at_jwt(issuer.typ) else ()

    def configure(self, issuer: IssuerConfig) -> Profile:
        return type(self)(issuer)

    def issuer_matches(self, iss: str, claims: Mapping[str, Any]) -> bool:
        return False

    def check_header(self, header: Mapping[str, Any]) -> None:
        return None

    def validate(self, claims: Mapping[str, Any], *, outer: Mapping[str, Any] | None, issuer: str,
                 audiences: Collection[str], leeway: float, now: float) -> Mapping[str, Any]:
        if outer is not None:
            raise DisallowedAlgorithm("unsecured outer tokens are not accepted for this issuer")
        if self.required_claims:
            check_present(claims, self.required_claims)  # RFC 9068 §2.2
        check_claims(claims, issuer=issuer, audiences=audiences, leeway=leeway, now=now)
        return claims

    def principal(self, claims: Mapping[str, Any], *, issuer: str, issuer_name: str,
                  token_sha256: str) -> Principal:
        raise NotImplementedError  # each profile maps claims its own way


def _is_at_jwt(typ: str | None) -> bool:
    """Whether a configured ``typ`` is RFC 9068's (media types compare case-insensitively)."""
    return typ is not None and typ.lower().removeprefix("application/") == "at+jwt"


def _actor_id(actor: Mapping[str, Any]) -> str:
    for name in ("client_id", "sub"):
        if isinstance(actor.get(name), str) and actor[name]:
            return str(actor[name])
    raise InvalidClaim("act names neither a client_id nor a sub")


def actors_of(claims: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """RFC 8693 §4.1 ``act`` chain, current actor first; each actor without its nested ``act``."""
    chain: list[dict[str, Any]] = []
    holder: Mapping[str, Any] = claims
    while "act" in holder:  # a present act, even JSON null, is an actor to check
        act = holder["act"]
        if not isinstance(act, Mapping):
            raise InvalidClaim("act is not a JSON object")  # RFC 8693 §4.1: null is not "absent"
        _actor_id(act)
        chain.append({k: v for k, v in act.items() if k != "act"})
        holder = act
    return tuple(chain)


def check_may_act(claims: Mapping[str, Any], actors: tuple[Mapping[str, Any], ...], issuer: str) -> None:
    """RFC 8693 §4.4: a token carrying ``act`` and ``may_act`` must name, as its current actor, the
    party ``may_act`` authorizes (each member equal; an actor without ``iss`` has the token's)."""
    may_act = claims.get("may_act")
    if may_act is None:
        return
    if not isinstance(may_act, Mapping) or not may_act:
        raise InvalidClaim("may_act is not a non-empty JSON object")
    if not actors:
        return  # not exchanged yet: may_act speaks to a future token exchange, not to us
    current = {"iss": issuer, **actors[0]}
    if any(current.get(name) != value for name, value in may_act.items()):
        raise InvalidClaim("the current actor is not the party may_act authorizes")


def actor_client_id(actor: Mapping[str, Any]) -> str:
    """The acting party's identifier: its ``client_id`` or else its ``sub``."""
    return _actor_id(actor)
