"""Authorization (RFC 6750 §3.1 insufficient_scope): a :class:`Requirement` checked against a principal.

The three policies follow the SharePoint add-in model:

* ``app-only``: the token names an app and no user; only the app's grant counts.
* ``user+app``: the token names both; both identities must hold what is required.
* ``user-only``: the token names a user; only the user's rights count (the app is ignored).

Authentication failures are never produced here: a failed requirement is always 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import ConfigurationError, InsufficientScope
from .principal import POLICIES, Policy, Principal

__all__ = ["Requirement", "check_requirement"]


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class Requirement:
    """What a route demands: a policy (or any) and scopes that must all be granted."""

    policy: Policy | None
    scopes: tuple[str, ...]

    def __init__(self, *, policy: Policy | None = None, scopes: Iterable[str] = ()) -> None:
        if policy is not None and policy not in POLICIES:
            raise ConfigurationError("policy", f"expected one of {list(POLICIES)}, got {policy!r}")
        scopes = (scopes,) if isinstance(scopes, str) else tuple(scopes)
        object.__setattr__(self, "policy", policy)
        object.__setattr__(self, "scopes", scopes)

    def check(self, principal: Principal) -> None:
        """Raise :class:`InsufficientScope` unless ``principal`` satisfies this requirement."""
        check_requirement(self, principal)


def _policy_allows(required: Policy, principal: Principal) -> bool:
    if required == "app-only":
        return principal.app is not None and principal.user is None
    if required == "user+app":
        return principal.app is not None and principal.user is not None
    return principal.user is not None  # user-only: the user's rights; any app is ignored


def check_requirement(requirement: Requirement, principal: Principal) -> None:
    """Check policy then scopes; the error names every scope the route needs."""
    needed = " ".join(requirement.scopes) or None
    if requirement.policy is not None and not _policy_allows(requirement.policy, principal):
        raise InsufficientScope(f"policy {requirement.policy} required, token is {principal.policy}",
                                scope=needed)
    missing = [s for s in requirement.scopes if s not in principal.scopes]
    if missing:
        raise InsufficientScope(f"missing scopes: {' '.join(missing)}", scope=needed)
