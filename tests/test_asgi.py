"""GuardMiddleware and requires() through httpx.ASGITransport and a real uvicorn server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from loopback import serve_uvicorn
from starlette.applications import Starlette
from starlette.authentication import BaseUser
from starlette.authentication import requires as starlette_requires
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from s2s_guard import Guard, GuardMiddleware, requires
from s2s_guard.testing import LocalIssuer

AUD = "api://orders"
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("RS256",)) as iss:
        yield iss


@requires(policy="app-only", scopes=["orders.read"])
async def app_only(request: Request) -> JSONResponse:
    return JSONResponse({"app": request.user.identity, "policy": request.user.policy})


@requires(policy="user+app", scopes="orders.read")
def user_and_app(request: Request) -> JSONResponse:  # a sync endpoint
    return JSONResponse({"user": request.user.user.id, "app": request.user.app.client_id})


@requires(policy="user-only")
async def user_only(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.display_name})


@starlette_requires("orders.read")
async def starlette_scoped(request: Request) -> JSONResponse:
    return JSONResponse({"scopes": request.auth.scopes, "base_user": isinstance(request.user, BaseUser)})


class Orders(HTTPEndpoint):
    @requires(policy="app-only", scopes=["orders.write"])
    async def post(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("created", status_code=201)


async def any_token(request: Request) -> JSONResponse:
    return JSONResponse({"policy": request.user.policy})


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok" if not request.user.is_authenticated else "??")


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.user.identity)
    await websocket.close()


def build_app(issuer: LocalIssuer, *, lifespan_log: list[str] | None = None) -> Starlette:
    guard = Guard.from_config({
        "audience": AUD, "public_paths": ["/health"],
        "issuers": [{"issuer": issuer.issuer, "algorithms": ["RS256"], "jwks_uri": issuer.jwks_uri}]})
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if lifespan_log is not None:
            lifespan_log.append("startup")
        yield
        if lifespan_log is not None:
            lifespan_log.append("shutdown")

    app = Starlette(lifespan=lifespan, routes=[
        Route("/app-only", app_only), Route("/user-and-app", user_and_app),
        Route("/user-only", user_only), Route("/starlette", starlette_scoped),
        Route("/orders", Orders), Route("/any", any_token), Route("/health", health),
        WebSocketRoute("/ws", ws_echo)])
    app.add_middleware(GuardMiddleware, guard=guard)
    return app


@pytest.fixture
async def client(issuer: LocalIssuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(issuer))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def challenge(response: httpx.Response) -> str:
    return response.headers.get("www-authenticate", "")


async def test_policies_accepted(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    r = await client.get("/app-only", headers=bearer(issuer.app_token("daemon", scopes="orders.read")))
    assert r.status_code == 200 and r.json() == {"app": "daemon", "policy": "app-only"}
    r = await client.get("/user-and-app", headers=bearer(issuer.user_token("alice", "web", scopes="orders.read")))
    assert r.status_code == 200 and r.json() == {"user": "alice", "app": "web"}
    r = await client.get("/user-only", headers=bearer(issuer.user_token("alice")))
    assert r.status_code == 200 and r.json() == {"user": "alice"}


@pytest.mark.parametrize("path,kind,scopes", [
    ("/app-only", "user", "orders.read"),       # user+app token on an app-only route
    ("/user-and-app", "app", "orders.read"),    # app-only token on a user+app route
    ("/user-only", "app", ""),                  # app-only token on a user-only route
    ("/app-only", "app", "orders.write"),       # missing scope
])
async def test_refused_with_403(client: httpx.AsyncClient, issuer: LocalIssuer, path: str,
                                kind: str, scopes: str) -> None:
    token = issuer.app_token(scopes=scopes) if kind == "app" else issuer.user_token(scopes=scopes)
    r = await client.get(path, headers=bearer(token))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in challenge(r)
    assert r.json()["error"] == "insufficient_scope"
    if path == "/app-only":
        assert 'scope="orders.read"' in challenge(r)


async def test_starlette_contract(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    r = await client.get("/starlette", headers=bearer(issuer.app_token(scopes="orders.read")))
    assert r.json() == {"scopes": ["orders.read"], "base_user": True}
    r = await client.get("/starlette", headers=bearer(issuer.app_token(scopes="other")))
    assert r.status_code == 403  # Starlette's own @requires reads request.auth.scopes


async def test_http_endpoint_method(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    r = await client.post("/orders", headers=bearer(issuer.app_token(scopes="orders.write")))
    assert r.status_code == 201
    r = await client.post("/orders", headers=bearer(issuer.app_token(scopes="orders.read")))
    assert r.status_code == 403 and 'scope="orders.write"' in challenge(r)


async def test_deny_by_default_and_public_paths(client: httpx.AsyncClient) -> None:
    r = await client.get("/any")
    assert r.status_code == 401 and challenge(r) == 'Bearer realm="api://orders"'
    r = await client.get("/health")
    assert r.status_code == 200 and r.text == "ok"
    r = await client.get("/no-such-route")
    assert r.status_code == 401  # unknown paths are not an oracle


@pytest.mark.parametrize("headers,status,error", [
    ([], 401, None),
    ([("Authorization", "Basic dXNlcjpwYXNz")], 401, None),
    ([("Authorization", "Bearer")], 400, "invalid_request"),
    ([("Authorization", "Bearer   ")], 400, "invalid_request"),
    ([("Authorization", "Bearer a b")], 400, "invalid_request"),
    ([("Authorization", "Bearer abc\"def")], 400, "invalid_request"),
    ([("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer a.b.c")], 400, "invalid_request"),
    ([("Authorization", "Bearer x.y.z")], 401, "invalid_token"),
    ([("Authorization", "Bearer " + "a" * 20000)], 401, "invalid_token"),
    ([("Authorization", "Bearer e30.e30.")], 401, "invalid_token"),
    ([("Authorization", "Bearer t\xf6k")], 400, "invalid_request"),
])
async def test_malformed_headers(client: httpx.AsyncClient, headers: list[tuple[str, str]],
                                 status: int, error: str | None) -> None:
    raw = [(k.encode(), v.encode("latin-1")) for k, v in headers]
    r = await client.get("/any", headers=raw)
    assert r.status_code == status
    assert challenge(r).startswith("Bearer")
    if error is None:
        assert "error=" not in challenge(r)
    else:
        assert f'error="{error}"' in challenge(r) and r.json()["error"] == error
        assert r.headers["content-type"] == "application/json"


async def test_scheme_is_case_insensitive(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    r = await client.get("/any", headers={"Authorization": "bEaReR " + issuer.app_token()})
    assert r.status_code == 200


async def test_query_token_refused_unless_enabled(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    r = await client.get("/any", params={"access_token": issuer.app_token()})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_expired_says_why(client: httpx.AsyncClient, issuer: LocalIssuer) -> None:
    r = await client.get("/any", headers=bearer(issuer.app_token(ttl=-300)))
    assert r.status_code == 401
    assert 'error="invalid_token", error_description="The access token expired"' in challenge(r)
    assert r.json() == {"error": "invalid_token", "error_description": "The access token expired"}


async def test_jwks_outage_is_503(issuer: LocalIssuer) -> None:
    app = build_app(issuer)  # a new guard: nothing cached
    issuer.fail_with = 502
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            r = await c.get("/any", headers=bearer(issuer.app_token()))
    finally:
        issuer.fail_with = None
    assert r.status_code == 503 and r.headers["retry-after"].isdigit()


def test_lifespan_and_websocket(issuer: LocalIssuer) -> None:
    log: list[str] = []
    with TestClient(build_app(issuer, lifespan_log=log)) as tc:
        assert log == ["startup"]
        with tc.websocket_connect("/ws", headers=bearer(issuer.app_token("ws-app"))) as ws:
            assert ws.receive_text() == "ws-app"
        with pytest.raises(WebSocketDisconnect) as refused:
            with tc.websocket_connect("/ws") as ws:
                ws.receive_text()
        assert refused.value.code == 1008
    assert log == ["startup", "shutdown"]


# -- a real server on loopback ---------------------------------------------------------------

@pytest.fixture(scope="module")
def server_url(issuer: LocalIssuer) -> Iterator[str]:
    with serve_uvicorn(build_app(issuer), lifespan="on") as port:
        yield f"http://127.0.0.1:{port}"


def test_real_uvicorn_server(server_url: str, issuer: LocalIssuer) -> None:
    with httpx.Client(base_url=server_url) as c:
        ok = c.get("/app-only", headers=bearer(issuer.app_token(scopes="orders.read")))
        assert ok.status_code == 200 and ok.json()["policy"] == "app-only"
        wrong = c.get("/app-only", headers=bearer(issuer.user_token(scopes="orders.read")))
        assert wrong.status_code == 403
        missing = c.get("/app-only")
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        bad = c.get("/app-only", headers={"Authorization": "Bearer !!"})
        assert bad.status_code == 400
        assert json.loads(bad.text)["error"] == "invalid_request"
