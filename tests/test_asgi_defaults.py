"""Safe defaults of the ASGI adapter: @requires without GuardMiddleware, under a public path, preload at lifespan.

Real servers on 127.0.0.1: a LocalIssuer serving its JWKS, uvicorn for the lifespan startup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from loopback import HOST, free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from s2s_guard import ConfigurationError, Guard, GuardMiddleware, requires
from s2s_guard.testing import LocalIssuer

AUD = "api://asgi-defaults"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("RS256",)) as iss:
        yield iss


def config(issuer: LocalIssuer, **extra: Any) -> dict[str, Any]:
    return {"audience": AUD, "public_paths": ["/public/*"], "issuers": [
        {"name": "local", "issuer": issuer.issuer, "algorithms": ["RS256"], "jwks_uri": issuer.jwks_uri}], **extra}


@requires(policy="app-only", scopes=["orders.read"])
async def orders(request: Request) -> JSONResponse:
    return JSONResponse({"app": request.user.require_app().client_id})


@requires(policy="app-only")
def sync_orders(request: Request) -> JSONResponse:
    return JSONResponse({"app": request.user.app_id})


ROUTES = [Route("/orders", orders), Route("/public/orders", orders), Route("/public/sync", sync_orders)]


def test_requires_without_middleware_is_a_configuration_error_not_a_401(issuer: LocalIssuer) -> None:
    app = Starlette(routes=ROUTES)
    with TestClient(app) as client:
        with pytest.raises(ConfigurationError, match=r"GuardMiddleware: @requires on /orders needs GuardMiddleware.*"
                                                     r"add_middleware\(GuardMiddleware, guard=guard\)"):
            client.get("/orders", headers={"Authorization": f"Bearer {issuer.app_token(scopes='orders.read')}"})


@pytest.mark.parametrize("path", ["/public/orders", "/public/sync"])
def test_requires_under_a_public_path_authenticates(issuer: LocalIssuer, path: str) -> None:
    app = Starlette(routes=ROUTES)
    app.add_middleware(GuardMiddleware, guard=Guard.from_config(config(issuer)))
    with TestClient(app) as client:
        ok = client.get(path, headers={"Authorization": f"Bearer {issuer.app_token(scopes='orders.read')}"})
        assert ok.status_code == 200 and ok.json() == {"app": "daemon-app"}
        missing = client.get(path)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == f'Bearer realm="{AUD}"'  # the guard's realm, not none
        user = client.get(path, headers={"Authorization": f"Bearer {issuer.user_token(scopes='orders.read')}"})
        assert user.status_code == 403


def test_preload_lets_lifespan_start_when_keys_are_there(issuer: LocalIssuer) -> None:
    app = Starlette(routes=ROUTES)
    app.add_middleware(GuardMiddleware, guard=Guard.from_config(config(issuer, preload=True)))
    before = issuer.hits["/jwks"]
    with TestClient(app) as client:
        assert issuer.hits["/jwks"] == before + 1  # fetched at startup, before any request
        r = client.get("/orders", headers={"Authorization": f"Bearer {issuer.app_token(scopes='orders.read')}"})
        assert r.status_code == 200 and issuer.hits["/jwks"] == before + 1


def test_preload_fails_uvicorn_startup_when_keys_cannot_be_fetched(issuer: LocalIssuer,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    raw = config(issuer, preload=True)
    raw["issuers"][0]["jwks_uri"] = f"http://{HOST}:{free_port()}/jwks"
    raw["issuers"][0]["timeout"] = 1
    app = Starlette(routes=ROUTES)
    app.add_middleware(GuardMiddleware, guard=Guard.from_config(raw))
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=free_port(), lifespan="on", log_level="error"))
    try:
        asyncio.run(asyncio.wait_for(server.serve(), 15))
    except SystemExit:
        pass  # some uvicorn versions exit with status 3 here
    assert not server.started  # uvicorn: "Application startup failed. Exiting."
    assert "local: no keys could be fetched" in caplog.text


def test_without_preload_lifespan_passes_through(issuer: LocalIssuer) -> None:
    raw = config(issuer)
    raw["issuers"][0]["jwks_uri"] = f"http://{HOST}:{free_port()}/jwks"
    app = Starlette(routes=ROUTES)
    app.add_middleware(GuardMiddleware, guard=Guard.from_config(raw))
    with TestClient(app):
        pass  # lazy as before: nothing fetched, startup succeeds
