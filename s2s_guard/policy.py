"""Authorization (RFC 6750 §3.1 insufficient_scope): a :class:`Requirement` checked against a principal.

The three policies follow the SharePoint add-in model:

* ``app-only``: the token names an app and no user; only the app's grant counts.
* ``user+app``: the token names both; both identities must hold what is required.
* ``user-only``: the token names a user; only the user's rights count (the app is ignored).

A ``right`` on a ``resource`` follows the same policies: app-only needs an app grant that
allows app-only calls; user+app needs the app's grant AND the user's permission (the
application's ``user_permissions`` hook); user-only needs only the user's.

Authentication failures are never produced here: a failed requirement is always 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .config import binding_mode
from .delegation import actor_ids, delegation_refusal, max_depth_of
from .errors import ConfigurationError, DelegationNotAllowed, MissingRight, MissingScope, PolicyMismatch
from .grants import GrantStore, Right, UserPermissions, parse_right
from .principal import POLICIES, Policy, Principal

__all__ = ["Requirement", "Resource", "check_requirement"]

#: A resource path, or a callable that computes it from the request (resolved by the adapter).
Resource = str | Callable[[Any], str]


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class Requirement:
    """What a route demands: a policy (or any), scopes that must all be granted, a right on a resource."""

    policy: Policy | None
    scopes: tuple[str, ...]
    right: Right | None
    resource: Resource | None
    #: RFC 8693: the apps allowed to act for a user on this route (``None``: any), and the longest ``act`` chain.
    actors: frozenset[str] | None
    max_delegation_depth: int | None
    #: RFC 9449 DPoP on this route: "allowed" or "required" tighten the issuer's mode (``None``: as the issuer says).
    dpop: str | None

    def __init__(self, *, policy: Policy | None = None, scopes: Iterable[str] = (),
                 right: Right | str | None = None, resource: Resource | None = None,
                 actors: Iterable[str] | None = None, max_delegation_depth: int | None = None,
                 dpop: str | None = None) -> None:
        if policy is not None and policy not in POLICIES:
            raise ConfigurationError("policy", f"expected one of {list(POLICIES)}, got {policy!r}")
        if (right is None) != (resource is None):
            raise ConfigurationError("resource" if resource is None else "right",
                                     "right and resource go together: requires(right=\"Write\", resource=...)")
        scopes = (scopes,) if isinstance(scopes, str) else tuple(scopes)
        object.__setattr__(self, "policy", policy)
        object.__setattr__(self, "scopes", scopes)
        object.__setattr__(self, "right", None if right is None else parse_right(right))
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "actors", actor_ids(actors, "actors"))
        object.__setattr__(self, "max_delegation_depth", max_depth_of(max_delegation_depth, "max_delegation_depth"))
        mode = None if dpop is None else binding_mode(dpop, "dpop")  # the [[issuers]] modes
        object.__setattr__(self, "dpop", None if mode == "off" else mode)

    def resolve(self, request: Any) -> Requirement:
        """This requirement with a callable ``resource`` computed from ``request`` (adapters call this)."""
        if self.resource is None or isinstance(self.resource, str):
            return self
        resource = self.resource(request)
        if not isinstance(resource, str):
            raise ConfigurationError("resource", "the resource callable must return a path string")
        return Requirement(policy=self.policy, scopes=self.scopes, right=self.right, resource=resource,
                           actors=self.actors, max_delegation_depth=self.max_delegation_depth, dpop=self.dpop)

    def check(self, principal: Principal, *, grants: GrantStore | None = None,
              user_permissions: UserPermissions | None = None) -> None:
        """Raise :class:`InsufficientScope` unless ``principal`` satisfies this requirement: its leaf
        (:class:`PolicyMismatch`, :class:`MissingScope`, :class:`MissingRight`,
        :class:`DelegationNotAllowed`) says which check failed."""
        check_requirement(self, principal, grants=grants, user_permissions=user_permissions)


def _policy_allows(required: Policy, principal: Principal) -> bool:
    if required == "app-only":
        return principal.app is not None and principal.user is None
    if required == "user+app":
        return principal.app is not None and principal.user is not None
    return principal.user is not None  # user-only: the user's rights; any app is ignored


def check_requirement(requirement: Requirement, principal: Principal, *,
                      grants: GrantStore | None = None,
                      user_permissions: UserPermissions | None = None) -> None:
    """Check policy, scopes, then the right; the error names every scope the route needs."""
    needed = " ".join(requirement.scopes) or None
    if requirement.policy is not None and not _policy_allows(requirement.policy, principal):
        raise PolicyMismatch(f"policy {requirement.policy} required, token is {principal.policy}", scope=needed)
    missing = [s for s in requirement.scopes if s not in principal.scopes]
    if missing:
        raise MissingScope(f"missing scopes: {' '.join(missing)}", scope=needed)
    if requirement.actors is not None or requirement.max_delegation_depth is not None:
        why = delegation_refusal(principal, requirement.actors, requirement.max_delegation_depth)
        if why is not None:
            raise DelegationNotAllowed(why)
    if requirement.right is not None:
        _check_right(requirement, requirement.right, principal, grants, user_permissions)


def _check_right(requirement: Requirement, right: Right, principal: Principal,
                 grants: GrantStore | None, user_permissions: UserPermissions | None) -> None:
    """Whose right counts follows the policy the route names, else the one the token satisfies."""
    resource = requirement.resource
    if not isinstance(resource, str):
        raise ConfigurationError("resource", "resolve a callable resource with the request first (Requirement.resolve)")
    policy = requirement.policy or principal.policy
    if policy != "user-only" and not _app_holds(principal, grants, resource, right, policy == "app-only"):
        raise MissingRight(f"app has no {right.name} grant on {resource} for {policy}")
    if policy != "app-only" and not _user_holds(principal, user_permissions, resource, right):
        raise MissingRight(f"user has no {right.name} permission on {resource}")


def _app_holds(principal: Principal, grants: GrantStore | None, resource: str, right: Right,
               app_only: bool) -> bool:
    if principal.app is None or grants is None:
        return False  # fail closed: no app, or no grants to consult
    held = grants.app_right(principal.app.client_id, resource, app_only=app_only,
                            issuers=(principal.issuer_name, principal.issuer))
    return held is not None and held >= right


def _user_holds(principal: Principal, user_permissions: UserPermissions | None, resource: str,
                right: Right) -> bool:
    if principal.user is None or user_permissions is None:
        return False  # fail closed: without the application's hook no user holds a right
    held = user_permissions(principal.user, resource)
    return held is not None and parse_right(held, "user_permissions") >= right
