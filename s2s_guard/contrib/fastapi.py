"""RFC 6750 for FastAPI: an HTTP Bearer security scheme and dependencies that return the Principal.

``guard = FastAPIGuard.from_config(...)``; ``guard.init_app(app)`` renders refusals as RFC 6750
responses; ``Security(guard.require(policy="app-only"), scopes=["orders.read"])`` (or
``Depends(guard.require(scopes=[...]))``) returns the :class:`~s2s_guard.Principal`. The scheme
is an ``http``/``bearer`` OpenAPI security scheme, so the document and Swagger UI show the lock
and each operation's scopes. If :class:`~s2s_guard.GuardMiddleware` already authenticated the
request, its principal is reused.
"""
# No ``from __future__ import annotations``: FastAPI reads these signatures at runtime.

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Security
from fastapi.exceptions import HTTPException
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.authentication import AuthCredentials
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from ..asgi import PRINCIPAL_KEY, authenticate_scope, error_response, metadata_response
from ..config import GuardConfig
from ..errors import AuthError
from ..guard import Guard
from ..principal import Policy, Principal
from . import bind_requirement, make_requirement

__all__ = ["BearerHTTPException", "FastAPIGuard", "GuardBearer"]

Dependency = Callable[..., Awaitable[Principal]]


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


class FastAPIGuard:
    """Dependencies for FastAPI routes around one core :class:`~s2s_guard.Guard`."""

    def __init__(self, guard: Guard, *, scheme_name: str = "BearerAuth",
                 description: str | None = None) -> None:
        self.guard = guard
        self.scheme = GuardBearer(guard, scheme_name=scheme_name, description=description)

    @classmethod
    def from_config(cls, source: Mapping[str, Any] | str | os.PathLike[str] | GuardConfig,
                    **kwargs: Any) -> "FastAPIGuard":
        """Build from the configuration schema (a mapping, TOML/JSON path or GuardConfig)."""
        return cls(Guard.from_config(source), **kwargs)

    def init_app(self, app: FastAPI) -> None:
        """Render refusals as RFC 6750 responses instead of FastAPI's ``{"detail": ...}``;
        serve the RFC 9728 metadata document when configured (a public route, outside OpenAPI)."""
        app.add_exception_handler(BearerHTTPException, _render)
        app.add_exception_handler(AuthError, _render)
        metadata = self.guard.resource_metadata
        if metadata is not None:
            app.add_api_route(metadata.path, _metadata_endpoint(self.guard), methods=["GET", "HEAD"],
                              include_in_schema=False)

    def require(self, *, policy: Policy | None = None, scopes: Iterable[str] | str = (),
                **extra: Any) -> Dependency:
        """A dependency returning the Principal once the policy and every scope are satisfied.

        Scopes from ``Security(..., scopes=[...])`` add to ``scopes``; both appear in OpenAPI.
        ``extra`` (``right=``, ``resource=``) passes through to :class:`~s2s_guard.Requirement`.
        """
        own = [scopes] if isinstance(scopes, str) else list(scopes)
        make_requirement(policy, own, **extra)  # validate at import time, not per request
        guard = self.guard

        async def dependency(request: HTTPConnection, security_scopes: SecurityScopes,
                             principal: Principal = Security(self.scheme, scopes=own)) -> Principal:
            wanted = list(dict.fromkeys([*own, *security_scopes.scopes]))
            requirement = bind_requirement(make_requirement(policy, wanted, **extra), request)
            try:
                guard.authorize(principal, requirement)
            except AuthError as exc:
                raise BearerHTTPException(exc) from None
            return principal

        return dependency
