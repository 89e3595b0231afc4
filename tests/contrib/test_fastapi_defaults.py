"""FastAPI denies by default (public paths, docs and @guard.exempt aside) and offers client credentials in OpenAPI.

The client-credentials test does what Swagger UI's "Authorize" does: reads the token URL from the
generated document, fetches a token from the local issuer (a real server on 127.0.0.1), calls.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from contrib_support import AUD
from fastapi import FastAPI, Security
from fastapi.testclient import TestClient

from s2s_guard import ConfigurationError, Principal
from s2s_guard.contrib.fastapi import FastAPIGuard
from s2s_guard.testing import LocalIssuer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def build(guard: FastAPIGuard, **init: Any) -> FastAPI:
    app = FastAPI()
    guard.init_app(app, **init)

    @app.get("/orders")
    def orders(caller: Principal = Security(guard.require(policy="app-only"), scopes=["orders.read"])) -> dict[str, str]:
        return {"app": caller.require_app().client_id}

    @app.get("/plain")
    def plain() -> dict[str, str]:  # no Security(...): protected by the middleware alone
        return {"plain": "yes"}

    @app.get("/ping/{name}")
    @guard.exempt
    def ping(name: str) -> dict[str, str]:
        return {"ping": name}

    @app.get("/health")
    def health() -> dict[str, str]:  # in the configuration's public_paths
        return {"status": "ok"}

    return app


@pytest.fixture
def guard(guard_config: dict[str, Any]) -> FastAPIGuard:
    return FastAPIGuard.from_config(guard_config)


def test_routes_without_security_are_denied_by_default(guard: FastAPIGuard, issuer: LocalIssuer) -> None:
    with TestClient(build(guard)) as client:
        r = client.get("/plain")
        assert r.status_code == 401 and r.headers["www-authenticate"] == f'Bearer realm="{AUD}"'
        assert client.get("/nowhere").status_code == 401  # refused before routing: no route oracle
        assert client.get("/plain", headers=bearer(issuer.app_token())).json() == {"plain": "yes"}


def test_public_paths_exempt_routes_and_docs_stay_open(guard: FastAPIGuard) -> None:
    with TestClient(build(guard)) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/ping/x").json() == {"ping": "x"}
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/redoc").status_code == 200


def test_private_docs_and_the_old_opt_in_behaviour(guard: FastAPIGuard) -> None:
    with TestClient(build(guard, public_docs=False)) as client:
        assert client.get("/openapi.json").status_code == 401
    with TestClient(build(guard, deny_by_default=False)) as client:
        assert client.get("/plain").json() == {"plain": "yes"}
        assert client.get("/orders").status_code == 401  # Security(...) still protects its routes


def test_the_middleware_principal_is_reused(guard: FastAPIGuard, issuer: LocalIssuer) -> None:
    with TestClient(build(guard)) as client:
        r = client.get("/orders", headers=bearer(issuer.app_token(scopes="orders.read")))
        assert r.json() == {"app": "daemon-app"}
        r = client.get("/orders", headers=bearer(issuer.user_token(scopes="orders.read")))
        assert r.status_code == 403


def test_openapi_offers_client_credentials_with_the_configured_token_url(
        guard_config: dict[str, Any], issuer: LocalIssuer) -> None:
    config = {**guard_config, "openapi": {"token_url": issuer.token_url, "scopes": {"orders.read": "read orders"}}}
    doc = build(FastAPIGuard.from_config(config)).openapi()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["OAuth2ClientCredentials"] == {"type": "oauth2", "flows": {"clientCredentials": {
        "tokenUrl": issuer.token_url, "scopes": {"orders.read": "read orders"}}}}
    assert schemes["BearerAuth"]["scheme"] == "bearer"
    # OpenAPI security is a list of alternatives: the bearer scheme or the flow, each with the scopes
    assert doc["paths"]["/orders"]["get"]["security"] == [{"BearerAuth": ["orders.read"]},
                                                         {"OAuth2ClientCredentials": ["orders.read"]}]
    assert "security" not in doc["paths"]["/ping/{name}"]["get"]


def test_swagger_authorize_flow_end_to_end(guard_config: dict[str, Any], issuer: LocalIssuer) -> None:
    issuer.register_client("swagger-ui", secret="s" * 32, scopes=["orders.read"])
    guard = FastAPIGuard.from_config({**guard_config, "openapi": {"token_url": issuer.token_url}})
    with TestClient(build(guard)) as client:
        flow = client.get("/openapi.json").json()["components"]["securitySchemes"]["OAuth2ClientCredentials"]
        token_url = flow["flows"]["clientCredentials"]["tokenUrl"]
        got = httpx.post(token_url, data={"grant_type": "client_credentials", "scope": "orders.read"},
                         auth=("swagger-ui", "s" * 32))
        assert got.status_code == 200, got.text
        r = client.get("/orders", headers=bearer(got.json()["access_token"]))
        assert r.status_code == 200 and r.json() == {"app": "swagger-ui"}


def test_token_url_keyword_and_no_flow_without_one(guard: FastAPIGuard, guard_config: dict[str, Any]) -> None:
    assert "OAuth2ClientCredentials" not in build(guard).openapi()["components"]["securitySchemes"]
    doc = build(FastAPIGuard.from_config(guard_config, token_url="https://idp.example/token")).openapi()
    assert doc["components"]["securitySchemes"]["OAuth2ClientCredentials"]["flows"]["clientCredentials"][
        "tokenUrl"] == "https://idp.example/token"


@pytest.mark.parametrize("block", [{"token_url": "/token"}, {}, {"token_url": "https://x/t", "scopes": ["a"]},
                                   {"token_url": "https://x/t", "extra": 1}, "https://x/t"])
def test_openapi_table_is_checked(guard_config: dict[str, Any], block: Any) -> None:
    with pytest.raises(ConfigurationError, match="openapi"):
        FastAPIGuard.from_config({**guard_config, "openapi": block})
