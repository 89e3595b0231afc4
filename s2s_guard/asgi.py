"""RFC 6750 for ASGI: a pure ASGI middleware (never ``BaseHTTPMiddleware``) and ``requires``.

The middleware speaks Starlette's auth contract: ``scope["user"]`` is the
:class:`~s2s_guard.Principal` (a ``BaseUser``), ``scope["auth"]`` carries its scopes, and the
full principal also sits under ``scope["s2s_guard.principal"]``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from .errors import AuthError, ConfigurationError
from .grants import Right
from .guard import Guard
from .policy import Requirement, Resource
from .principal import Policy, Principal
from .readiness import preload
from .sender import scope_kwargs

__all__ = ["GuardMiddleware", "PRINCIPAL_KEY", "authenticate_scope", "error_response", "metadata_response",
           "requires"]

PRINCIPAL_KEY = "s2s_guard.principal"
GUARD_KEY = "s2s_guard.guard"
_F = TypeVar("_F", bound=Callable[..., Any])


def error_response(exc: AuthError, method: str = "GET") -> Response:
    """The RFC 6750 response for ``exc``: status, challenge header and JSON body (none for HEAD)."""
    response = Response(exc.body(), status_code=exc.status_code, headers=exc.headers,
                        media_type="application/json")
    if method == "HEAD":
        response.body = b""  # RFC 9110 §9.3.2: no content; Content-Length stays the GET one (§8.6)
    return response


def metadata_response(guard: Guard, method: str) -> Response:
    """RFC 9728 §3: the guard's protected resource metadata document (GET/HEAD; else 405)."""
    if guard.resource_metadata is None:
        return Response(b"{}", status_code=404, media_type="application/json")
    status, headers, body = guard.resource_metadata.respond(method)
    return Response(body, status_code=status, headers=headers)


@functools.lru_cache(maxsize=1024)
def _credentials(principal: Principal) -> AuthCredentials:
    """Starlette's ``request.auth`` for a warm-path (cached) principal, built once per principal."""
    return AuthCredentials(sorted(principal.scopes))


def _authorization_values(scope: Scope) -> list[str]:
    return [v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"]


def _lone_authorization(scope: Scope) -> bytes | None:
    """The request's one ``Authorization`` value, when no ``access_token`` query parameter
    competes with it: what the warm path takes (anything else goes the full way)."""
    query = scope.get("query_string")
    if query and b"access_token" in query:
        return None
    found, count = None, 0
    for name, value in scope["headers"]:
        if name == b"authorization":
            found, count = value, count + 1
    return found if count == 1 else None


def _query_tokens(scope: Scope) -> list[str]:
    query = scope.get("query_string", b"")
    if not query or b"access_token" not in query:  # fast path: almost every request
        return []
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    return [value for name, value in pairs if name == "access_token"]


class GuardMiddleware:
    """Authenticate every HTTP and websocket request except ``public_paths``; deny by default.

    ``exempt(scope)`` may let more requests through unauthenticated (FastAPI's ``@guard.exempt``
    routes). With ``preload = true`` in the configuration, lifespan startup fails unless
    :meth:`Guard.aready` finds every issuer's keys.
    """

    def __init__(self, app: ASGIApp, *, guard: Guard, public_paths: Iterable[str] = (),
                 requirement: Requirement | None = None, exempt: Callable[[Scope], bool] | None = None) -> None:
        self.app = app
        self.guard = guard
        self.public_paths = frozenset(public_paths)
        self.requirement = requirement
        self.exempt = exempt
        metadata = guard.resource_metadata  # RFC 9728: answered here, before authentication
        self._metadata_path = None if metadata is None else metadata.path
        # Per-request work decided once: the guard's public paths, and whether a warm path exists.
        self._guard_public = guard.is_public if guard.config.public_paths else None
        self._warm = guard.config.cache.verified

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            if scope["type"] == "lifespan" and self.guard.config.preload:
                await self._lifespan(scope, receive, send)
                return
            await self.app(scope, receive, send)  # lifespan and others pass through
            return
        path = scope["path"]
        if path == self._metadata_path and scope["type"] == "http":
            await metadata_response(self.guard, scope["method"])(scope, receive, send)
            return
        if (path in self.public_paths or self._guard_public is not None and self._guard_public(path)
                or self.exempt is not None and self.exempt(scope)):
            scope["user"], scope["auth"] = UnauthenticatedUser(), AuthCredentials()
            scope[GUARD_KEY] = self.guard  # so @requires under a public path can authenticate
            await self.app(scope, receive, send)
            return
        requirement = self.requirement
        if requirement is not None and callable(requirement.resource):
            requirement = requirement.resolve(HTTPConnection(scope))  # resource from the request
        header = _lone_authorization(scope) if self._warm else None
        try:
            principal = self.guard.lookup(header, requirement, path) if header is not None else None  # warm path
            if principal is not None:
                credentials = _credentials(principal)
            else:
                principal = await authenticate_scope(self.guard, scope, requirement)
                credentials = AuthCredentials(sorted(principal.scopes))
        except AuthError as exc:
            await _refuse(exc, scope, receive, send)
            return
        scope["user"] = scope[PRINCIPAL_KEY] = principal
        scope["auth"] = credentials
        scope[GUARD_KEY] = self.guard
        await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``preload``: fetch every issuer's keys at startup; fail the startup when any are missing."""
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                preload(await self.guard.aready())
            except ConfigurationError as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})  # the server exits
                return
        replay: list[Message] = [message]

        async def first_then_rest() -> Message:
            return replay.pop() if replay else await receive()
        await self.app(scope, first_then_rest, send)


async def authenticate_scope(guard: Guard, scope: Scope, requirement: Requirement | None = None) -> Principal:
    """:meth:`Guard.authenticate` with what an ASGI request carries; the method, URL, ``DPoP``
    proofs and client certificate only when the guard checks sender-constrained tokens."""
    return await guard.authenticate(_authorization_values(scope), requirement, query_tokens=_query_tokens(scope),
                                    path=scope["path"], **scope_kwargs(guard, scope, requirement))


async def _refuse(exc: AuthError, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        # RFC 6455 §7.4.1: 1008 policy violation; closing before accept refuses the handshake.
        await send({"type": "websocket.close", "code": 1008, "reason": exc.reason})
        return
    await error_response(exc, scope["method"])(scope, receive, send)


def _connection(args: Sequence[Any], kwargs: dict[str, Any]) -> HTTPConnection:
    for value in (*args, *kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise TypeError("@requires needs a Request or WebSocket argument")


def _guard_of(conn: HTTPConnection) -> Guard:
    """The guard GuardMiddleware left in the scope; without one, a configuration error naming the fix."""
    guard = conn.scope.get(GUARD_KEY)
    if not isinstance(guard, Guard):  # not the caller's fault: never a 401 that blames the token
        raise ConfigurationError("GuardMiddleware", f"@requires on {conn.scope.get('path')} needs GuardMiddleware "
                                 "in front of the app: app.add_middleware(GuardMiddleware, guard=guard) "
                                 "or Starlette(middleware=[Middleware(GuardMiddleware, guard=guard)])")
    return guard


def _attach(scope: Scope, principal: Principal) -> None:
    scope["user"] = scope[PRINCIPAL_KEY] = principal
    scope["auth"] = AuthCredentials(sorted(principal.scopes))


async def _acheck(conn: HTTPConnection, requirement: Requirement) -> AuthError | None:
    guard, bound = _guard_of(conn), requirement.resolve(conn)  # a callable resource sees the Request
    principal = conn.scope.get(PRINCIPAL_KEY)
    try:
        if isinstance(principal, Principal):
            guard.authorize(principal, bound)
        else:  # a public path: the route still wants a token, so authenticate here (with its challenge)
            _attach(conn.scope, await authenticate_scope(guard, conn.scope, bound))
    except AuthError as exc:
        return exc
    return None


def _check(conn: HTTPConnection, requirement: Requirement) -> AuthError | None:
    """:func:`_acheck` for sync endpoints (Starlette runs them in a worker thread: blocking is fine)."""
    guard, bound = _guard_of(conn), requirement.resolve(conn)
    principal = conn.scope.get(PRINCIPAL_KEY)
    try:
        if isinstance(principal, Principal):
            guard.authorize(principal, bound)
        else:
            scope = conn.scope
            _attach(scope, guard.authenticate_sync(_authorization_values(scope), bound,
                                                   query_tokens=_query_tokens(scope), path=scope["path"],
                                                   **scope_kwargs(guard, scope, bound)))
    except AuthError as exc:
        return exc
    return None


def requires(*, policy: Policy | None = None, scopes: Iterable[str] | str = (),
             right: Right | str | None = None, resource: Resource | None = None,
             actors: Iterable[str] | None = None,
             max_delegation_depth: int | None = None, dpop: str | None = None) -> Callable[[_F], _F]:
    """Decorate a Starlette endpoint (function or ``HTTPEndpoint`` method) with a requirement.

    ``right="Write", resource="/sites/hr"`` (or a callable taking the ``Request``) checks app
    grants and the user's permission on that resource, per the policy. ``actors`` and
    ``max_delegation_depth`` restrict which apps may act for a user here (RFC 8693).
    ``dpop="required"`` accepts only DPoP-proven tokens here (RFC 9449).
    """
    requirement = Requirement(policy=policy, scopes=scopes, right=right, resource=resource,
                              actors=actors, max_delegation_depth=max_delegation_depth, dpop=dpop)

    def decorator(func: _F) -> _F:
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                conn = _connection(args, kwargs)
                error = await _acheck(conn, requirement)
                if error is None:
                    return await func(*args, **kwargs)
                if isinstance(conn, WebSocket):
                    await conn.close(code=1008, reason=error.reason)  # RFC 6455 §7.4.1
                    return None
                return error_response(error, conn.scope["method"])
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            conn = _connection(args, kwargs)
            error = _check(conn, requirement)
            return func(*args, **kwargs) if error is None else error_response(error, conn.scope["method"])
        return sync_wrapper  # type: ignore[return-value]

    return decorator
