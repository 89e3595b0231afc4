"""FastAPI specifics: the OpenAPI security scheme and scopes, Security scope accumulation, reuse."""

from __future__ import annotations

from typing import Any

import pytest
from contrib_support import AUD
from fastapi import Depends, FastAPI, Request, Security
from fastapi.testclient import TestClient

from s2s_guard import ConfigurationError, Guard, GuardMiddleware, Principal
from s2s_guard.contrib.fastapi import FastAPIGuard
from s2s_guard.testing import LocalIssuer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def guard(guard_config: dict[str, Any]) -> FastAPIGuard:
    return FastAPIGuard.from_config(guard_config, description="Tokens from the local issuer")


def build(guard: FastAPIGuard, *, handlers: bool = True) -> FastAPI:
    app = FastAPI()
    if handlers:
        guard.init_app(app)
    outer = Security(guard.require(policy="app-only", scopes=["orders.read"]), scopes=["orders.write"])

    @app.post("/orders")
    def create(principal: Principal = outer) -> dict[str, Any]:
        return {"scopes": sorted(principal.scopes)}

    @app.get("/any")
    def anyone(request: Request, principal: Principal = Depends(guard.require())) -> dict[str, Any]:
        return {"user": request.user.identity, "same": request.user is principal}

    @app.get("/open")
    def open_route() -> dict[str, str]:
        return {"open": "yes"}

    return app


def test_openapi_shows_the_bearer_scheme_and_scopes(guard: FastAPIGuard) -> None:
    doc = build(guard).openapi()
    assert doc["components"]["securitySchemes"] == {"BearerAuth": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "Tokens from the local issuer"}}
    security = doc["paths"]["/orders"]["post"]["security"]
    assert len(security) == 1 and sorted(security[0]["BearerAuth"]) == ["orders.read", "orders.write"]
    assert doc["paths"]["/any"]["get"]["security"] == [{"BearerAuth": []}]
    assert "security" not in doc["paths"]["/open"]["get"]
    params = doc["paths"]["/any"]["get"].get("parameters", [])
    assert params == []  # request, SecurityScopes and the scheme are not query parameters


def test_security_scopes_add_to_the_requirement(guard: FastAPIGuard, issuer: LocalIssuer) -> None:
    with TestClient(build(guard)) as client:
        both = issuer.app_token(scopes="orders.read orders.write")
        assert client.post("/orders", headers=bearer(both)).json() == {
            "scopes": ["orders.read", "orders.write"]}
        r = client.post("/orders", headers=bearer(issuer.app_token(scopes="orders.read")))
        assert r.status_code == 403
        assert 'scope="orders.read orders.write"' in r.headers["www-authenticate"]


def test_principal_is_request_user(guard: FastAPIGuard, issuer: LocalIssuer) -> None:
    with TestClient(build(guard)) as client:
        r = client.get("/any", headers=bearer(issuer.user_token("bob")))
    assert r.json() == {"user": "bob", "same": True}


def test_without_init_app_status_and_challenge_still_hold(guard: FastAPIGuard) -> None:
    with TestClient(build(guard, handlers=False)) as client:
        r = client.get("/any")
    assert r.status_code == 401 and r.headers["www-authenticate"] == f'Bearer realm="{AUD}"'


def test_reuses_the_asgi_middleware_principal(guard_config: dict[str, Any], issuer: LocalIssuer) -> None:
    core = Guard.from_config(guard_config)
    calls: list[object] = []
    original = core.authenticate

    async def counting(*args: Any, **kwargs: Any) -> Principal:
        calls.append(args)
        return await original(*args, **kwargs)

    core.authenticate = counting  # type: ignore[method-assign]
    guard = FastAPIGuard(core)
    app = build(guard)
    app.add_middleware(GuardMiddleware, guard=core)
    with TestClient(app) as client:
        assert client.get("/any", headers=bearer(issuer.app_token())).status_code == 200
    assert len(calls) == 1  # the middleware authenticated; the dependency reused its principal


def test_a_bad_policy_fails_when_the_route_is_declared(guard: FastAPIGuard) -> None:
    with pytest.raises(ConfigurationError):
        guard.require(policy="admin")  # type: ignore[arg-type]
