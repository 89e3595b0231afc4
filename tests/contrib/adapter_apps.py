"""The same three routes in every framework, for the shared table of cases.

``/health`` is public; ``/orders`` needs an app-only token with ``orders.read``; ``/me`` needs
a user+app token with ``orders.read``. Accepted requests answer ``{"policy", "id"}``.
Django and DRF builders import Django lazily: their views need configured settings.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from s2s_guard import AuthError, Guard, GuardMiddleware, Principal, Requirement, requires

ORDERS = {"policy": "app-only", "scopes": ["orders.read"]}
ME = {"policy": "user+app", "scopes": ["orders.read"]}


def answer(principal: Principal | None) -> dict[str, Any]:
    """What an accepted request returns."""
    if principal is None:
        return {"status": "ok"}
    return {"policy": principal.policy, "id": principal.identity}


# -- ASGI ----------------------------------------------------------------------------------------

def starlette_app(config: dict[str, Any]) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(answer(None))

    @requires(policy="app-only", scopes=["orders.read"])
    async def orders(request: Request) -> JSONResponse:
        return JSONResponse(answer(request.user))

    @requires(policy="user+app", scopes=["orders.read"])
    def me(request: Request) -> JSONResponse:
        return JSONResponse(answer(request.user))

    app = Starlette(routes=[Route("/health", health), Route("/orders", orders), Route("/me", me)])
    app.add_middleware(GuardMiddleware, guard=Guard.from_config(config))
    return app


def fastapi_app(config: dict[str, Any]) -> Any:
    from fastapi import Depends, FastAPI, Security

    from s2s_guard.contrib.fastapi import FastAPIGuard

    guard = FastAPIGuard.from_config(config)
    app = FastAPI()
    guard.init_app(app)
    app.get("/health")(lambda: answer(None))

    @app.get("/orders")
    def orders(principal: Principal = Security(guard.require(policy="app-only"),
                                               scopes=["orders.read"])) -> dict[str, Any]:
        return answer(principal)

    @app.get("/me")
    async def me(principal: Principal = Depends(guard.require(**ME))) -> dict[str, Any]:  # type: ignore[arg-type]
        return answer(principal)

    return app


# -- WSGI ----------------------------------------------------------------------------------------

def flask_app(config: dict[str, Any]) -> Any:
    from flask import Flask, g

    from s2s_guard.contrib.flask import Guard as FlaskGuard
    from s2s_guard.contrib.flask import get_principal

    app = Flask("table")
    app.config["S2S_GUARD"] = config
    guard = FlaskGuard(app)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return answer(get_principal())

    @app.get("/orders")
    @guard.require(policy="app-only", scopes=["orders.read"])
    def orders() -> dict[str, Any]:
        return answer(g.principal)

    @app.get("/me")
    @guard.require(policy="user+app", scopes="orders.read")
    async def me() -> dict[str, Any]:  # an async Flask view
        return answer(get_principal())

    return app


def wsgi_app(config: dict[str, Any]) -> Any:
    """A bare WSGI app behind s2s_guard.wsgi.GuardMiddleware; routes authorize with the guard."""
    from s2s_guard.wsgi import GuardMiddleware as WSGIGuardMiddleware
    from s2s_guard.wsgi import get_principal, send_error

    guard = Guard.from_config(config)
    routes = {"/orders": Requirement(**ORDERS), "/me": Requirement(**ME)}  # type: ignore[arg-type]

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

    return WSGIGuardMiddleware(app, guard=guard)


# -- Django and DRF ------------------------------------------------------------------------------

def django_urls(kind: str) -> types.ModuleType:
    """A URLconf module object for ``kind``: ``sync``, ``async``, ``class`` or ``drf``."""
    from django.urls import path

    views = {"sync": _django_sync, "async": _django_async, "class": _django_class,
             "drf": _drf}[kind]()
    module = types.ModuleType(f"s2s_guard_table_urls_{kind}")
    module.urlpatterns = [path(name, view) for name, view in views.items()]  # type: ignore[attr-defined]
    return module


def _django_sync() -> dict[str, Any]:
    from django.http import HttpRequest, JsonResponse

    from s2s_guard.contrib.django import get_principal
    from s2s_guard.contrib.django import requires as drequires

    def health(request: HttpRequest) -> JsonResponse:
        return JsonResponse(answer(get_principal(request)))

    @drequires(policy="app-only", scopes=["orders.read"])
    def orders(request: HttpRequest) -> JsonResponse:
        return JsonResponse(answer(request.principal))

    @drequires(policy="user+app", scopes="orders.read")
    def me(request: HttpRequest) -> JsonResponse:
        return JsonResponse(answer(request.principal))

    return {"health": health, "orders": orders, "me": me}


def _django_async() -> dict[str, Any]:
    from django.http import HttpRequest, JsonResponse

    from s2s_guard.contrib.django import requires as drequires

    async def health(request: HttpRequest) -> JsonResponse:
        return JsonResponse(answer(request.principal))

    @drequires(policy="app-only", scopes=["orders.read"])
    async def orders(request: HttpRequest) -> JsonResponse:
        return JsonResponse(answer(request.principal))

    @drequires(policy="user+app", scopes=["orders.read"])
    async def me(request: HttpRequest) -> JsonResponse:
        return JsonResponse(answer(request.principal))

    return {"health": health, "orders": orders, "me": me}


def _django_class() -> dict[str, Any]:
    from django.http import HttpRequest, JsonResponse
    from django.views import View

    from s2s_guard.contrib.django import requires as drequires

    class Health(View):
        def get(self, request: HttpRequest) -> JsonResponse:
            return JsonResponse(answer(None))

    @drequires(policy="app-only", scopes=["orders.read"])
    class Orders(View):
        def get(self, request: HttpRequest) -> JsonResponse:
            return JsonResponse(answer(request.principal))

    class Me(View):
        @drequires(policy="user+app", scopes=["orders.read"])
        async def get(self, request: HttpRequest) -> JsonResponse:
            return JsonResponse(answer(request.principal))

    return {"health": Health.as_view(), "orders": Orders.as_view(), "me": Me.as_view()}


def _drf() -> dict[str, Any]:
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from s2s_guard.contrib.drf import AppOnly, BearerAuthentication, HasScopes, UserAndApp

    # APIView reads DEFAULT_* when rest_framework.views is first imported, so a test that
    # overrides REST_FRAMEWORK later names its classes on the views.
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

    class Me(Base):
        permission_classes = [UserAndApp, HasScopes]
        required_scopes = ["orders.read"]

        def get(self, request: Request) -> Response:
            assert request.user is request.auth
            return Response(answer(request.auth))

    return {"health": Health.as_view(), "orders": Orders.as_view(), "me": Me.as_view()}


def django_settings(config: dict[str, Any], kind: str) -> dict[str, Any]:
    """The settings ``override_settings`` applies for one Django/DRF variant of the table."""
    middleware = [] if kind == "drf" else ["s2s_guard.contrib.django.GuardMiddleware"]
    return {
        "S2S_GUARD": config,
        "MIDDLEWARE": middleware,
        "ROOT_URLCONF": django_urls(kind),
        "REST_FRAMEWORK": {
            "DEFAULT_AUTHENTICATION_CLASSES": ["s2s_guard.contrib.drf.BearerAuthentication"],
            "DEFAULT_PERMISSION_CLASSES": ["s2s_guard.contrib.drf.AppOnly"],
        },
    }
