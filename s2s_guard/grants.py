"""App grants: what an app may do on a resource when its token carries no permissions.

SharePoint tokens carry no scopes; the resource server decides (the add-in permission model).
A :class:`Grant` gives an app a :class:`Right` on a resource path prefix; rights are ordered
``Read < Write < Manage < FullControl``, so a higher right covers every lower one. Grants live in
the configuration (``[[grants]]``) by default, behind the :class:`GrantStore` protocol so an
application can back them with its own store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from .errors import ConfigurationError
from .principal import UserPrincipal

__all__ = ["ConfigGrantStore", "Grant", "GrantStore", "Right", "UserPermissions", "covers",
           "parse_right"]


class Right(IntEnum):
    """The ordered rights: a higher right includes every lower one."""

    Read = 1
    Write = 2
    Manage = 3
    FullControl = 4


def parse_right(value: Right | str, key: str = "right") -> Right:
    """A :class:`Right` from its exact name (``"Write"``); anything else is a configuration error."""
    if isinstance(value, Right):
        return value
    if isinstance(value, str) and value in Right.__members__:
        return Right[value]
    raise ConfigurationError(key, f"expected one of {list(Right.__members__)}, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """``app`` may exercise ``right`` on ``resource`` and below; ``app_only`` allows app-only calls."""

    #: The app (client id) the grant is for.
    app: str
    #: The resource path prefix it covers (``/sites/hr/lists/docs``).
    resource: str
    #: The highest right granted there: ``Read``, ``Write``, ``Manage`` or ``FullControl``.
    right: Right
    #: Also allow app-only calls (no user) with this right.
    app_only: bool = False
    #: Restrict the grant to tokens from this issuer (its ``name`` or exact ``iss``); None: any.
    issuer: str | None = None


#: ``user_permissions(user, resource) -> right or None``, supplied by the application.
UserPermissions = Callable[[UserPrincipal, str], "Right | str | None"]


class GrantStore(Protocol):
    """Where app grants come from; :class:`ConfigGrantStore` reads ``[[grants]]``."""

    def app_right(self, app: str, resource: str, *, app_only: bool,
                  issuers: tuple[str, ...] = ()) -> Right | None:
        """The highest right ``app`` holds on ``resource`` (None: no grant covers it)."""
        ...


def _segments(path: str) -> list[str] | None:
    """Path segments without empty or ``.`` parts; None when ``..`` could climb out of a prefix."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return None if ".." in parts else parts


def covers(prefix: str, resource: str) -> bool:
    """Whether the path ``prefix`` covers ``resource`` segment by segment (``/a/b`` covers ``/a/b/c``, not ``/a/bc``)."""
    wanted, have = _segments(prefix), _segments(resource)
    if wanted is None or have is None:
        return False  # fail closed: a dot-dot path is never covered
    return have[:len(wanted)] == wanted


class ConfigGrantStore:
    """Grants held in memory, indexed by app; built from the ``[[grants]]`` configuration."""

    def __init__(self, grants: Iterable[Grant] = ()) -> None:
        self._by_app: dict[str, list[Grant]] = {}
        for grant in grants:
            self._by_app.setdefault(grant.app, []).append(grant)

    def app_right(self, app: str, resource: str, *, app_only: bool,
                  issuers: tuple[str, ...] = ()) -> Right | None:
        best: Right | None = None
        for grant in self._by_app.get(app, ()):
            if app_only and not grant.app_only:
                continue  # the add-in-only policy needs an explicit allowance
            if grant.issuer is not None and grant.issuer not in issuers:
                continue
            if covers(grant.resource, resource) and (best is None or grant.right > best):
                best = grant.right
        return best
