"""RFC 6750 for FastAPI: an HTTP Bearer security scheme and dependencies that return the Principal.

``guard = FastAPIGuard.from_config(...)``; ``guard.init_app(app)`` renders refusals as RFC 6750
responses and denies by default, like every other adapter: it adds
:class:`~s2s_guard.GuardMiddleware`, so a route without ``Security(...)`` still needs a valid
token, except the configured ``public_paths``, the OpenAPI document and docs pages
(``public_docs=True``) and routes marked ``@guard.exempt``. ``init_app(app, deny_by_default=False)``
keeps the old opt-in behaviour (only routes with the dependency are protected).
``Security(guard.require(policy="app-only"), scopes=["orders.read"])`` (or
``Depends(guard.require(scopes=[...]))``) returns the :class:`~s2s_guard.Principal`. The scheme
is an ``http``/``bearer`` OpenAPI security scheme, so the document and Swagger UI show the lock
and each operation's scopes; with ``[openapi] token_url`` (or ``token_url=``) an ``oauth2``
client-credentials scheme is offered too, so Swagger UI's "Authorize" can fetch a token. The
principal :class:`~s2s_guard.GuardMiddleware` authenticated is reused.
"""
# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from fastapi import FastAPI, Security
from fastapi.exceptions import HTTPException
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.authentication import AuthCredentials
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from ..asgi import PRINCIPAL_KEY, GuardMiddleware, authenticate_scope, error_response, metadata_response
from ..config import GuardConfig
from ..errors import AuthError
from ..guard import Guard
from ..principal import Policy, Principal
from . import bind_requirement, make_requirement

__all__ = ["BearerHTTPException", "ClientCredentialsScheme", "FastAPIGuard", "GuardBearer"]

Dependency = Callable[..., Awaitable[Principal]]
_EXEMPT_ATTR = "_s2s_guard_exempt"  # the attribute Flask's @guard.exempt sets, too
_F = TypeVar("_F", bound=Callable[..., Any])


class BearerHTTPException(HTTPException):
    """An :class:`~s2s_guard.AuthError` raised from a dependency; ``init_app`` renders it per RFC 6750.

    Without the handler FastAPI still answers with the right status and challenge header.
    """

    def __init__(self, error: AuthError) -> None:
        super().__init__(status_code=error.status_code, detail=error.description, headers=error.headers)
        self.error = error


async def _render(request: Request, exc: Exception) -> Response:
    error = exc.error if isinstance(exc, BearerHTTPException) else exc
    if not isinstance(error, AuthError):
        raise exc
    return error_response(error, request.scope.get("method", "GET"))  # a websocket has none


def _metadata_endpoint(guard: Guard) -> Callable[[Request], Awaitable[Response]]:
    async def resource_metadata(request: Request) -> Response:
        return metadata_response(guard, request.method)
    return resource_metadata


class GuardBearer(SecurityBase):
    """The OpenAPI ``http``/``bearer`` scheme; as a dependency it authenticates the request."""

    def __init__(self, guard: Guard, *, scheme_name: str = "BearerAuth",
                 description: str | None = None, bearer_format: str = "JWT") -> None:
        self.guard = guard
        self.model = HTTPBearerModel(bearerFormat=bearer_format, description=description)
        self.scheme_name = scheme_name

    async def __call__(self, request: HTTPConnection) -> Principal:
        known = request.scope.get(PRINCIPAL_KEY)
        if isinstance(known, Principal):
            return known  # GuardMiddleware ran first
        try:
            principal = await authenticate_scope(self.guard, request.scope)  # DPoP/mTLS facts when on
        except AuthError as exc:
            raise BearerHTTPException(exc) from None
        request.scope[PRINCIPAL_KEY] = principal
        request.scope["user"] = principal
        request.scope["auth"] = AuthCredentials(sorted(principal.scopes))
        return principal


class ClientCredentialsScheme(SecurityBase):
    """The OpenAPI ``oauth2`` scheme with a client-credentials flow (RFC 6749 §4.4), for Swagger UI.

    Documentation only: the token it fetches is sent as ``Authorization: Bearer``, which
    :class:`GuardBearer` authenticates; as a dependency it does nothing.
    """

    def __init__(self, token_url: str, *, scopes: Mapping[str, str] | None = None,
                 scheme_name: str = "OAuth2ClientCredentials", description: str | None = None) -> None:
        flow = OAuthFlowClientCredentials(tokenUrl=token_url, scopes=dict(scopes or {}))
        self.model = OAuth2Model(flows=OAuthFlows(clientCredentials=flow), description=description)
        self.scheme_name = scheme_name

    async def __call__(self) -> None:
        return None


class _ExemptRoutes:
    """``GuardMiddleware(exempt=...)``: whether a request is for a route marked ``@guard.exempt``."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._seen = -1
        self._routes: tuple[BaseRoute, ...] = ()

    def __call__(self, scope: Scope) -> bool:
        routes = self.app.router.routes
        if len(routes) != self._seen:  # routes are declared after init_app: collect them when they change
            self._routes = tuple(r for r in routes if getattr(getattr(r, "endpoint", None), _EXEMPT_ATTR, False))
            self._seen = len(routes)
        return any(route.matches(scope)[0] is not Match.NONE for route in self._routes)


def _docs_paths(app: FastAPI) -> list[str]:
    """The OpenAPI document and the Swagger UI/ReDoc pages (and OAuth2 redirect) FastAPI serves."""
    urls = (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    return [url for url in urls if url]


class FastAPIGuard:
    """Dependencies for FastAPI routes around one core :class:`~s2s_guard.Guard`.

    ``token_url`` (default: ``[openapi] token_url``) adds the client-credentials scheme
    ``flow_scheme_name`` to every protected operation, next to the bearer scheme.
    """

    def __init__(self, guard: Guard, *, scheme_name: str = "BearerAuth",
                 description: str | None = None, token_url: str | None = None,
                 flow_scheme_name: str = "OAuth2ClientCredentials") -> None:
        self.guard = guard
        self.scheme = GuardBearer(guard, scheme_name=scheme_name, description=description)
        openapi = guard.config.openapi
        token_url = token_url or (openapi.token_url if openapi is not None else None)
        #: Swagger UI's "Authorize" with client credentials; ``None`` without a token URL.
        self.flow = None if token_url is None else ClientCredentialsScheme(
            token_url, scopes=openapi.scopes if openapi is not None else None, scheme_name=flow_scheme_name)

    @classmethod
    def from_config(cls, source: Mapping[str, Any] | str | os.PathLike[str] | GuardConfig,
                    **kwargs: Any) -> "FastAPIGuard":
        """Build from the configuration schema (a mapping, TOML/JSON path or GuardConfig)."""
        return cls(Guard.from_config(source), **kwargs)

    def init_app(self, app: FastAPI, *, deny_by_default: bool = True, public_docs: bool = True) -> None:
        """Render refusals as RFC 6750 responses instead of FastAPI's ``{"detail": ...}``;
        serve the RFC 9728 metadata document when configured (a public route, outside OpenAPI).

        ``deny_by_default`` adds :class:`~s2s_guard.GuardMiddleware`: every request needs a valid
        token except ``public_paths``, ``@guard.exempt`` routes and, with ``public_docs``, the
        OpenAPI document and docs pages (Swagger UI must load to fetch a token). Middleware added
        after this call (CORS, say) runs before the guard. ``preload = true`` is then honoured at
        lifespan startup.
        """
        app.add_exception_handler(BearerHTTPException, _render)
        app.add_exception_handler(AuthError, _render)
        metadata = self.guard.resource_metadata
        if metadata is not None:
            app.add_api_route(metadata.path, _metadata_endpoint(self.guard), methods=["GET", "HEAD"],
                              include_in_schema=False)
        if deny_by_default:
            app.add_middleware(GuardMiddleware, guard=self.guard,
                               public_paths=_docs_paths(app) if public_docs else (), exempt=_ExemptRoutes(app))

    @staticmethod
    def exempt(endpoint: _F) -> _F:
        """Mark a route public under deny-by-default (like listing its path in ``public_paths``)."""
        setattr(endpoint, _EXEMPT_ATTR, True)
        return endpoint

    def require(self, *, policy: Policy | None = None, scopes: Iterable[str] | str = (),
                **extra: Any) -> Dependency:
        """A dependency returning the Principal once the policy and every scope are satisfied.

        Scopes from ``Security(..., scopes=[...])`` add to ``scopes``; both appear in OpenAPI.
        ``extra`` (``right=``, ``resource=``) passes through to :class:`~s2s_guard.Requirement`.
        """
        own = [scopes] if isinstance(scopes, str) else list(scopes)
        make_requirement(policy, own, **extra)  # validate at import time, not per request
        guard = self.guard

        def check(request: HTTPConnection, security_scopes: SecurityScopes, principal: Principal) -> Principal:
            wanted = list(dict.fromkeys([*own, *security_scopes.scopes]))
            requirement = bind_requirement(make_requirement(policy, wanted, **extra), request)
            try:
                guard.authorize(principal, requirement)
            except AuthError as exc:
                raise BearerHTTPException(exc) from None
            return principal

        async def dependency(request: HTTPConnection, security_scopes: SecurityScopes,
                             principal: Principal = Security(self.scheme, scopes=own)) -> Principal:
            return check(request, security_scopes, principal)

        if self.flow is None:
            return dependency

        async def with_flow(request: HTTPConnection, security_scopes: SecurityScopes,
                            principal: Principal = Security(self.scheme, scopes=own),
                            _flow: None = Security(self.flow, scopes=own)) -> Principal:
            return check(request, security_scopes, principal)  # OpenAPI: either scheme (a list of alternatives)

        return with_flow
