"""Helpers for the resource tests: one configuration and the same routes in every framework.

``/orders`` needs an app-only token with ``orders.read``; ``/relay`` a user+app token whose app
is ``gateway`` with at most one ``act`` hop; ``/health`` is public. The guard serves the RFC 9728
document at :data:`METADATA_PATH` (resource ``https://api.example.test/orders``, RFC 9728 §3.1).
"""
# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any

from __future__ import annotations

import json
import types
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from s2s_guard import AuthError, Guard, GuardMiddleware, Principal, Requirement, requires
from s2s_guard.testing import LocalIssuer

AUD = "api://orders"
RESOURCE = "https://api.example.test/orders"
METADATA_PATH = "/.well-known/oauth-protected-resource/orders"
METADATA_URL = "https://api.example.test" + METADATA_PATH
ORDERS: dict[str, Any] = {"policy": "app-only", "scopes": ["orders.read"]}
RELAY: dict[str, Any] = {"policy": "user+app", "actors": ["gateway"], "max_delegation_depth": 1}


def config_for(issuer: LocalIssuer, **top: Any) -> dict[str, Any]:
    """A guard configuration trusting ``issuer`` with ``[resource_metadata]`` for :data:`RESOURCE`."""
    return {
        "audience": [AUD], "public_paths": ["/health"],
        "issuers": [{"name": "local", "issuer": issuer.issuer, "algorithms": ["RS256"],
                     "jwks_uri": issuer.jwks_uri}],
        "resource_metadata": {"resource": RESOURCE, "scopes_supported": ["orders.read"],
                              "resource_name": "Orders API"},
        **top,
    }


def answer(principal: Principal | None) -> dict[str, Any]:
    return {"status": "ok"} if principal is None else {"policy": principal.policy, "id": principal.identity}


# -- the apps --------------------------------------------------------------------------------------

def starlette_app(config: dict[str, Any]) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(answer(None))

    @requires(**ORDERS)
    async def orders(request: Request) -> JSONResponse:
        return JSONResponse(answer(request.user))

    @requires(**RELAY)
    async def relay(request: Request) -> JSONResponse:
        return JSONResponse(answer(request.user))

    app = Starlette(routes=[Route("/health", health), Route("/orders", orders), Route("/relay", relay)])
    app.add_middleware(GuardMiddleware, guard=Guard.from_config(config))
    return app


def fastapi_app(config: dict[str, Any]) -> Any:
    from fastapi import Depends, FastAPI

    from s2s_guard.contrib.fastapi import FastAPIGuard

    guard = FastAPIGuard.from_config(config)
    app = FastAPI()
    guard.init_app(app)
    app.get("/health")(lambda: answer(None))

    @app.get("/orders")
    def orders(principal: Principal = Depends(guard.require(**ORDERS))) -> dict[str, Any]:
        return answer(principal)

    @app.get("/relay")
    async def relay(principal: Principal = Depends(guard.require(**RELAY))) -> dict[str, Any]:
        return answer(principal)

    return app


def flask_app(config: dict[str, Any]) -> Any:
    from flask import Flask, g

    from s2s_guard.contrib.flask import Guard as FlaskGuard

    app = Flask("resource")
    app.config["S2S_GUARD"] = config
    guard = FlaskGuard(app)
    app.get("/health")(lambda: answer(None))

    @app.get("/orders")
    @guard.require(**ORDERS)
    def orders() -> dict[str, Any]:
        return answer(g.principal)

    @app.get("/relay")
    @guard.require(**RELAY)
    def relay() -> dict[str, Any]:
        return answer(g.principal)

    return app


def wsgi_app(config: dict[str, Any]) -> Any:
    """A bare WSGI app behind ``s2s_guard.wsgi.GuardMiddleware``; routes authorize with the guard."""
    from s2s_guard.wsgi import GuardMiddleware as WSGIGuardMiddleware
    from s2s_guard.wsgi import get_principal, send_error

    guard = Guard.from_config(config)
    routes = {"/orders": Requirement(**ORDERS), "/relay": Requirement(**RELAY)}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        principal = get_principal(environ)
        requirement = routes.get(environ["PATH_INFO"])
        if principal is not None and requirement is not None:
            try:
                guard.authorize(principal, requirement)
            except AuthError as exc:
                return send_error(exc, start_response)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer(principal)).encode()]

    return WSGIGuardMiddleware(app, guard=guard, public_paths=["/health"])


# -- Django and DRF --------------------------------------------------------------------------------

def django_urls(kind: str) -> types.ModuleType:
    """A URLconf for ``sync`` / ``async`` views behind the middleware, or ``drf`` views without it."""
    from django.urls import path

    from s2s_guard.contrib.django import resource_metadata

    views = _drf() if kind == "drf" else _django(use_async=kind == "async")
    module = types.ModuleType(f"s2s_guard_resource_urls_{kind}")
    patterns = [path(name, view) for name, view in views.items()]
    if kind == "drf":  # no middleware: the URLconf names the metadata view
        patterns.append(path(METADATA_PATH.lstrip("/"), resource_metadata))
    module.urlpatterns = patterns  # type: ignore[attr-defined]
    return module


def _django(*, use_async: bool) -> dict[str, Any]:
    from django.http import HttpRequest, JsonResponse

    from s2s_guard.contrib.django import requires as drequires

    def health(request: HttpRequest) -> JsonResponse:
        return JsonResponse(answer(None))

    if use_async:
        @drequires(**ORDERS)
        async def orders(request: HttpRequest) -> JsonResponse:
            return JsonResponse(answer(request.principal))

        @drequires(**RELAY)
        async def relay(request: HttpRequest) -> JsonResponse:
            return JsonResponse(answer(request.principal))
    else:
        @drequires(**ORDERS)
        def orders(request: HttpRequest) -> JsonResponse:
            return JsonResponse(answer(request.principal))

        @drequires(**RELAY)
        def relay(request: HttpRequest) -> JsonResponse:
            return JsonResponse(answer(request.principal))

    return {"health": health, "orders": orders, "relay": relay}


def _drf() -> dict[str, Any]:
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from s2s_guard.contrib.drf import AppOnly, BearerAuthentication, HasScopes, UserAndApp

    class Base(APIView):
        authentication_classes = [BearerAuthentication]

    class Health(Base):
        permission_classes: list[Any] = []

        def get(self, request: Request) -> Response:
            return Response(answer(None))

    class Orders(Base):
        permission_classes = [AppOnly, HasScopes]
        required_scopes = ["orders.read"]

        def get(self, request: Request) -> Response:
            return Response(answer(request.auth))

    class Relay(Base):
        permission_classes = [UserAndApp]
        allowed_actors = ["gateway"]
        max_delegation_depth = 1

        def get(self, request: Request) -> Response:
            return Response(answer(request.auth))

    return {"health": Health.as_view(), "orders": Orders.as_view(), "relay": Relay.as_view()}


def django_settings(config: dict[str, Any], kind: str) -> dict[str, Any]:
    """What ``override_settings`` applies for one Django variant."""
    middleware = [] if kind == "drf" else ["s2s_guard.contrib.django.GuardMiddleware"]
    return {"S2S_GUARD": config, "MIDDLEWARE": middleware, "ROOT_URLCONF": django_urls(kind)}
