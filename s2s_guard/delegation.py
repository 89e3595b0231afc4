"""RFC 8693 §4.1 delegation policy: which apps may act for a user, and how long a chain may be.

A user+app principal is a delegation: its app acts on behalf of its user. That app is the
RFC 8693 current actor (``act``), the Entra ``appid``/``azp`` of a delegated or on-behalf-of
token, or the SharePoint add-in of a high-trust actor token. The policy is checked at three
levels, all of which must pass: ``[delegation]`` (every token), ``actors`` on an
``[[issuers]]`` entry (that issuer's tokens), and ``Requirement(actors=..., max_delegation_depth=...)``
(one route). Only the current actor counts for access control; prior actors in the chain are
informational (RFC 8693 §4.1), except that the chain's length is bounded. App-only and
user-only principals act for nobody and always pass. A refusal is 403: the token is valid, the
policy forbids it. The global and issuer levels run before a principal is cached, so cached
requests pay nothing for them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from .config.delegation import DelegationConfig, delegation_from, max_depth_of
from .errors import ConfigurationError, DelegationNotAllowed
from .principal import Principal

if TYPE_CHECKING:
    from .config import GuardConfig

__all__ = ["DelegationConfig", "DelegationPolicy", "delegation_from", "delegation_refusal",
           "max_depth_of"]


def delegation_refusal(principal: Principal, actors: Collection[str] | None,
                       max_depth: int | None) -> str | None:
    """Why ``principal`` breaks the rule (for the log), or ``None`` when it does not."""
    app = principal.app
    if app is None or principal.user is None:
        return None  # app-only or user-only: nobody acts on behalf of anyone
    if max_depth is not None and len(principal.actors) > max_depth:
        return f"delegation chain of {len(principal.actors)} exceeds {max_depth}"
    # RFC 8693 §4.1: only the current actor (the principal's app) is considered.
    if actors is not None and app.client_id not in actors:
        return f"app {app.client_id} may not act for users here"
    return None


class DelegationPolicy:
    """The global and per-issuer rules, precomputed; :meth:`check` runs once per validated token."""

    def __init__(self, config: GuardConfig) -> None:
        rules = config.delegation or DelegationConfig()
        self.actors, self.max_depth = rules.actors, rules.max_depth
        self.by_issuer: dict[str, frozenset[str]] = {
            issuer.name: frozenset(issuer.actors) for issuer in config.issuers if issuer.actors is not None}

    @classmethod
    def for_config(cls, config: GuardConfig) -> DelegationPolicy | None:
        """The policy, or ``None`` when nothing is configured (the guard then skips the check)."""
        if config.delegation is None and all(i.actors is None for i in config.issuers):
            return None
        return cls(config)

    def check(self, principal: Principal) -> None:
        """Raise :class:`DelegationNotAllowed` (403) unless every configured level allows ``principal``."""
        why = delegation_refusal(principal, self.actors, self.max_depth) or delegation_refusal(
            principal, self.by_issuer.get(principal.issuer_name), None)
        if why is not None:
            raise DelegationNotAllowed(why)


def actor_ids(value: Iterable[str] | str | None, key: str) -> frozenset[str] | None:
    """A route's ``actors=``: one client id or several (``None``: any)."""
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(v, str) and v for v in items):
        raise ConfigurationError(key, "expected client ids (non-empty strings)")
    return frozenset(items)
