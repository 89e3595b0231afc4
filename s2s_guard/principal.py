"""Principals: who is calling, as the app and the user a validated token names.

A :class:`Principal` is a Starlette ``BaseUser``, so ``request.user`` works as usual, and it
says which policy the token satisfies: ``app-only``, ``user+app`` or ``user-only``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from starlette.authentication import BaseUser

from .errors import InsufficientScope

__all__ = ["AppPrincipal", "Policy", "Principal", "UserPrincipal", "POLICIES"]

Policy = Literal["app-only", "user+app", "user-only"]
POLICIES: tuple[Policy, ...] = ("app-only", "user+app", "user-only")
# Per-request construction without keyword parsing (``_of``): frozen dataclasses set fields this way.
_new = object.__new__
_set = object.__setattr__


@dataclass(frozen=True, slots=True, kw_only=True)
class AppPrincipal:
    """The calling application: its client id, where it is registered and what it was granted."""

    client_id: str
    issuer: str
    tenant: str | None = None
    permissions: frozenset[str] = frozenset()

    @classmethod
    def _of(cls, client_id: str, issuer: str, tenant: str | None, permissions: frozenset[str]) -> AppPrincipal:
        """``AppPrincipal(client_id=..., ...)`` for the per-request path: same fields, no keywords."""
        app = _new(cls)
        _set(app, "client_id", client_id)
        _set(app, "issuer", issuer)
        _set(app, "tenant", tenant)
        _set(app, "permissions", permissions)
        return app


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPrincipal:
    """The user on whose behalf the app calls."""

    id: str
    issuer: str
    tenant: str | None = None
    name: str | None = None
    roles: frozenset[str] = frozenset()
    #: Who authenticated the user, when the token says (SharePoint ``nii`` / ``identityprovider``).
    identity_provider: str | None = None

    @classmethod
    def _of(cls, id: str, issuer: str, tenant: str | None, name: str | None,
            roles: frozenset[str]) -> UserPrincipal:
        """``UserPrincipal(id=..., ...)`` for the per-request path (no ``identity_provider``)."""
        user = _new(cls)
        _set(user, "id", id)
        _set(user, "issuer", issuer)
        _set(user, "tenant", tenant)
        _set(user, "name", name)
        _set(user, "roles", roles)
        _set(user, "identity_provider", None)
        return user


@dataclass(frozen=True, eq=False, kw_only=True)
class Principal(BaseUser):
    """A validated caller: ``app`` and ``user`` (either may be absent), scopes and claims."""

    app: AppPrincipal | None
    user: UserPrincipal | None
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, object] = field(default_factory=dict, repr=False)
    issuer: str = ""
    issuer_name: str = ""
    token_sha256: str = field(default="", repr=False)
    #: The delegation chain, current actor first: RFC 8693 ``act`` objects, or SharePoint's actor token claims.
    actors: tuple[Mapping[str, object], ...] = ()
    #: ECDSA tokens: the SHA-256 of the token's twin spelling ``(r, n - s)``, which verifies too;
    #: a revocation by token hash names either spelling, so both are checked. For a SharePoint
    #: outer token (unsigned), the twin of the actor token it wraps.
    token_twin_sha256: str = field(default="", repr=False)
    #: SharePoint high-trust user+app: the SHA-256 of the signed actor token the unsigned outer token
    #: wraps. Anyone holding the actor token can wrap it for any user, so revoking this hash refuses
    #: every outer token around it; empty for every other token.
    actor_token_sha256: str = field(default="", repr=False)

    @classmethod
    def _of(cls, app: AppPrincipal | None, user: UserPrincipal | None, scopes: frozenset[str],
            claims: Mapping[str, object], issuer: str, issuer_name: str, token_sha256: str,
            actors: tuple[Mapping[str, object], ...], token_twin_sha256: str = "",
            actor_token_sha256: str = "") -> Principal:
        """``Principal(app=..., ...)`` for the per-request path: every field, no keywords.

        Fields are set one by one (not as a new ``__dict__``), so cached principals keep
        CPython's compact instance layout.
        """
        principal = _new(cls)
        _set(principal, "app", app)
        _set(principal, "user", user)
        _set(principal, "scopes", scopes)
        _set(principal, "claims", claims)
        _set(principal, "issuer", issuer)
        _set(principal, "issuer_name", issuer_name)
        _set(principal, "token_sha256", token_sha256)
        _set(principal, "actors", actors)
        _set(principal, "token_twin_sha256", token_twin_sha256)
        _set(principal, "actor_token_sha256", actor_token_sha256)
        return principal

    @property
    def policy(self) -> Policy:
        """The policy this token satisfies: ``app-only``, ``user+app`` or ``user-only``."""
        if self.user is None:
            return "app-only"
        return "user+app" if self.app is not None else "user-only"

    @property
    def app_id(self) -> str | None:
        """The calling app's client id, or ``None`` for a user-only token (typed: no narrowing needed)."""
        return None if self.app is None else self.app.client_id

    @property
    def user_id(self) -> str | None:
        """The user's id, or ``None`` for an app-only token."""
        return None if self.user is None else self.user.id

    def require_app(self) -> AppPrincipal:
        """The app, narrowed for type checkers: ``caller.require_app().client_id``.

        Behind an ``app-only`` or ``user+app`` requirement the app is always there; if it is not
        (a ``user-only`` route), this raises :class:`~s2s_guard.InsufficientScope` (403), which
        every adapter renders, rather than an ``AttributeError`` (500).
        """
        if self.app is None:
            raise InsufficientScope("policy: the token names no app")
        return self.app

    def require_user(self) -> UserPrincipal:
        """The user, narrowed for type checkers; :class:`~s2s_guard.InsufficientScope` (403) for app-only tokens."""
        if self.user is None:
            raise InsufficientScope("policy: the token names no user")
        return self.user

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        if self.user is not None:
            return self.user.name or self.user.id
        return self.app.client_id if self.app is not None else ""

    @property
    def identity(self) -> str:
        """A stable id: ``user-id`` for user tokens, ``client_id`` for app-only tokens."""
        if self.user is not None:
            return self.user.id
        return self.app.client_id if self.app is not None else ""

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (for the CLI and logs); never includes the token."""
        app = self.app
        user = self.user
        view: dict[str, object] = {
            "policy": self.policy,
            "issuer": self.issuer,
            "app": None if app is None else {
                "client_id": app.client_id, "tenant": app.tenant,
                "permissions": sorted(app.permissions)},
            "user": None if user is None else {
                "id": user.id, "tenant": user.tenant, "name": user.name, "roles": sorted(user.roles)},
            "scopes": sorted(self.scopes),
        }
        if self.actors:  # only delegated tokens carry a chain; other views stay unchanged
            view["actors"] = [dict(actor) for actor in self.actors]
        if self.actor_token_sha256:  # SharePoint high-trust user+app: the hash that revokes the actor token
            view["actor_token_sha256"] = self.actor_token_sha256
        return view
