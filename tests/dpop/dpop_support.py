"""Shared helpers of the DPoP and certificate-binding tests: guarded ASGI apps, clients, challenges."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from s2s_guard import Guard, GuardMiddleware, requires
from s2s_guard.policy import Requirement

AUD = "api://orders"
BASE = "http://api.test"
GuardFactory = Callable[..., Guard]


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"app": request.user.app.client_id, "cnf": request.user.claims.get("cnf")})


@requires(dpop="required")
async def strict(request: Request) -> JSONResponse:
    return JSONResponse({"app": request.user.app.client_id})


def api(guard: Guard, requirement: Requirement | None = None) -> GuardMiddleware:
    """A Starlette app behind GuardMiddleware: /whoami, and /strict (``requires(dpop="required")``)."""
    app = Starlette(routes=[Route("/whoami", whoami, methods=["GET", "POST"]), Route("/strict", strict)])
    return GuardMiddleware(app, guard=guard, requirement=requirement)


def client(app: Any, base_url: str = BASE) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base_url)


def challenge(response: httpx.Response) -> str:
    return str(response.headers.get("www-authenticate", ""))
