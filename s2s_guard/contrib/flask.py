"""RFC 6750 for Flask: the ``Guard`` extension, ``@guard.require`` and the principal on ``flask.g``.

Configuration comes from ``app.config["S2S_GUARD"]`` (the same schema as everywhere: a mapping,
a TOML/JSON path or a :class:`~s2s_guard.GuardConfig`). Requests go through the sync core
(:meth:`~s2s_guard.Guard.authenticate_sync`): no event loop per request. With
``S2S_GUARD_DENY_BY_DEFAULT`` (true unless set false) every request except the configured
``public_paths`` and ``@guard.exempt`` views needs a valid token, as with the ASGI middleware.
With ``preload = true`` in the configuration, ``init_app`` fetches every issuer's keys and raises
:class:`~s2s_guard.ConfigurationError` when any cannot be had.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request

from ..errors import AuthError, ConfigurationError
from ..guard import Guard as CoreGuard
from ..policy import Requirement
from ..principal import Policy, Principal
from ..readiness import preload
from ..sender import environ_kwargs
from . import bind_requirement, make_requirement

__all__ = ["Guard", "error_response", "get_principal"]

EXTENSION_KEY = "s2s_guard"
_EXEMPT_ATTR = "_s2s_guard_exempt"
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class _State:
    """What ``init_app`` stores in ``app.extensions``: the core guard and the default rule."""

    guard: CoreGuard
    deny_by_default: bool
    metadata_path: str | None = None  # RFC 9728: public, whatever the method (Werkzeug answers 405)


def error_response(exc: AuthError) -> Response:
    """The RFC 6750 response for ``exc``: status, challenge header and JSON body."""
    return Response(exc.body(), status=exc.status_code, headers=exc.headers,
                    mimetype="application/json")


def get_principal() -> Principal | None:
    """The principal of the current request (also ``g.principal``), or ``None``."""
    principal = g.get("principal")
    return principal if isinstance(principal, Principal) else None


def _state() -> _State:
    state = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, _State):
        raise RuntimeError("s2s_guard is not initialised on this app; call Guard(app) or init_app(app)")
    return state


def _authorize(guard: CoreGuard, requirement: Requirement | None) -> Principal:
    """Authenticate the current request (once) and check ``requirement``; raise AuthError."""
    bound = None if requirement is None else bind_requirement(requirement, request)
    principal = get_principal()
    if principal is None:
        principal = guard.authenticate_sync(request.headers.getlist("Authorization"), bound,
                                            query_tokens=request.args.getlist("access_token"),
                                            path=request.path,
                                            **environ_kwargs(guard, request.environ, bound))  # RFC 9449/8705
        g.principal = principal
    elif bound is not None:
        guard.authorize(principal, bound)
    return principal


def _authenticate_request() -> None:
    """``before_request``: deny by default, except public paths and exempt views."""
    state = _state()
    if not state.deny_by_default or request.path == state.metadata_path or state.guard.is_public(request.path):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, _EXEMPT_ATTR, False):
        return
    _authorize(state.guard, None)


def _resource_metadata() -> Response:
    """RFC 9728 §3: the protected resource metadata document (Werkzeug answers HEAD and 405)."""
    metadata = _state().guard.resource_metadata
    if metadata is None:
        return Response(b"{}", status=404, mimetype="application/json")
    status, headers, body = metadata.respond("GET")
    return Response(body, status=status, headers=headers)


setattr(_resource_metadata, _EXEMPT_ATTR, True)


class Guard:
    """The Flask extension: ``Guard(app)`` or ``Guard()`` then ``init_app(app)`` in a factory."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the core guard from ``app.config["S2S_GUARD"]`` and install the hooks."""
        source = app.config.get("S2S_GUARD")
        if source is None:
            raise ConfigurationError("S2S_GUARD", "set app.config['S2S_GUARD'] to a mapping "
                                                  "or a TOML/JSON path (same schema as s2s_guard.toml)")
        guard = source if isinstance(source, CoreGuard) else CoreGuard.from_config(source)
        if guard.config.preload:  # fetch every issuer's keys now; refuse to start without them
            preload(guard.ready())
        deny = app.config.get("S2S_GUARD_DENY_BY_DEFAULT", True)
        metadata_path = None if guard.resource_metadata is None else guard.resource_metadata.path
        app.extensions[EXTENSION_KEY] = _State(guard=guard, deny_by_default=bool(deny),
                                               metadata_path=metadata_path)
        app.register_error_handler(AuthError, error_response)
        app.before_request(_authenticate_request)
        if guard.resource_metadata is not None:  # RFC 9728: a public route the guard answers itself
            app.add_url_rule(guard.resource_metadata.path, "s2s_guard_resource_metadata",
                             _resource_metadata, methods=["GET"])

    @property
    def guard(self) -> CoreGuard:
        """The core :class:`~s2s_guard.Guard` of the current app."""
        return _state().guard

    def require(self, *, policy: Policy | None = None, scopes: Iterable[str] | str = (),
                **extra: Any) -> Callable[[_F], _F]:
        """Decorate a view with a requirement; ``extra`` (``right=``, ``resource=``) passes on."""
        requirement = make_requirement(policy, scopes, **extra)

        def decorator(view: _F) -> _F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                _authorize(_state().guard, requirement)
                return current_app.ensure_sync(view)(*args, **kwargs)
            return wrapper  # type: ignore[return-value]
        return decorator

    @staticmethod
    def exempt(view: _F) -> _F:
        """Mark a view public under deny-by-default (like listing its path in ``public_paths``)."""
        setattr(view, _EXEMPT_ATTR, True)
        return view
