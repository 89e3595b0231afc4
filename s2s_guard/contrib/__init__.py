"""RFC 6750 for web frameworks: optional adapters for FastAPI, Flask, Django and Django REST framework.

Each adapter only translates: the request's ``Authorization`` values, query string and path go
into :meth:`Guard.authenticate` (async) or :meth:`Guard.authenticate_sync` (sync), and an
:class:`~s2s_guard.AuthError` comes back out as the framework's response. No adapter holds a
validation rule. This package imports no framework; each submodule imports only its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..policy import Requirement
from ..principal import Policy

__all__ = ["bind_requirement", "make_requirement"]


def make_requirement(policy: Policy | None = None, scopes: Iterable[str] | str = (),
                     **extra: Any) -> Requirement:
    """A :class:`Requirement` from a decorator's arguments; ``extra`` (``right=``, ``resource=``) passes on."""
    return Requirement(policy=policy, scopes=scopes, **extra)


def bind_requirement(requirement: Requirement, request: object) -> Requirement:
    """Resolve a callable ``resource`` with the framework's request, so the check sees a path.

    ``Requirement(right=..., resource=lambda request: request.path)``: every adapter calls this
    once per request, before authorizing, with its own request object (Starlette ``Request``,
    Flask ``request``, Django ``HttpRequest``, DRF ``Request``, or the WSGI environ).
    """
    return requirement.resolve(request)
