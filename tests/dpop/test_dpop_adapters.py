"""DPoP through every adapter: the WSGI middleware, FastAPI, Flask and Django (sync and async).

Each adapter only passes the method, URL, ``DPoP`` header and client certificate to the guard;
the same three outcomes must hold everywhere: a fresh proof is accepted, a replayed proof is
refused, the token without a proof is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import anyio
import httpx
import pytest

from s2s_guard import Guard
from s2s_guard.errors import BindingMismatch
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing.dpop import DPoPKey, bound_token

from dpop_support import GuardFactory
from loopback import configure_django

Send = Callable[[dict[str, str]], tuple[int, dict[str, str]]]  # headers -> (status, response headers)


def three_outcomes(send: Send, url: str, issuer: LocalIssuer, key: DPoPKey) -> None:
    token = bound_token(issuer, key)
    headers = {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", url, access_token=token)}
    assert send(headers)[0] == 200
    status, response = send(headers)
    assert status == 401 and 'error="invalid_dpop_proof"' in response["www-authenticate"]
    status, response = send({"Authorization": f"Bearer {token}"})
    assert status == 401 and 'error="invalid_token"' in response["www-authenticate"]
    assert 'DPoP realm=' in response["www-authenticate"]


def test_wsgi_middleware(make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey) -> None:
    from s2s_guard.wsgi import GuardMiddleware

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wsgi = GuardMiddleware(app, guard=make_guard(dpop="allowed"))
    with httpx.Client(transport=httpx.WSGITransport(wsgi), base_url="http://wsgi.test") as c:
        def send(headers: dict[str, str]) -> tuple[int, dict[str, str]]:
            r = c.get("/orders/1?x=y", headers=headers)
            return r.status_code, dict(r.headers)
        three_outcomes(send, "http://wsgi.test/orders/1", issuer, key)


def test_fastapi_dependency(make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey) -> None:
    from fastapi import Depends, FastAPI

    from s2s_guard.contrib.fastapi import FastAPIGuard

    guard = FastAPIGuard(make_guard(dpop="allowed"))
    app = FastAPI()
    guard.init_app(app)

    @app.get("/orders")
    async def orders(principal: Any = Depends(guard.require())) -> dict[str, str]:
        return {"app": principal.app.client_id}

    @app.get("/strict")
    async def strict(principal: Any = Depends(guard.require(dpop="required"))) -> dict[str, str]:
        return {"app": principal.app.client_id}

    async def go(path: str, headers: dict[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://fastapi.test") as c:
            return await c.get(path, headers=headers)

    def send(headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        r = anyio.run(go, "/orders", headers)
        return r.status_code, dict(r.headers)

    three_outcomes(send, "http://fastapi.test/orders", issuer, key)
    r = anyio.run(go, "/strict", {"Authorization": "Bearer " + issuer.app_token()})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("DPoP ")


def test_flask_extension(make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey) -> None:
    from flask import Flask

    from s2s_guard.contrib.flask import Guard as FlaskGuard

    app = Flask(__name__)
    app.config["S2S_GUARD"] = make_guard(dpop="allowed")
    ext = FlaskGuard(app)

    @app.get("/orders")
    @ext.require()
    def orders() -> str:
        return "ok"

    client = app.test_client()

    def send(headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        r = client.get("/orders", headers=headers, base_url="https://flask.test")
        return r.status_code, {k.lower(): v for k, v in r.headers.items()}

    three_outcomes(send, "https://flask.test/orders", issuer, key)


@pytest.fixture(scope="module")
def django_ready() -> None:
    configure_django()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_django_middleware(django_ready: None, make_guard: GuardFactory, issuer: LocalIssuer, key: DPoPKey,
                           mode: str) -> None:
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory, override_settings

    from s2s_guard.contrib.django import GuardMiddleware

    guard: Guard = make_guard(dpop="allowed")

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    async def aview(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    with override_settings(S2S_GUARD=guard):
        middleware = GuardMiddleware(view if mode == "sync" else aview)

        def send(headers: dict[str, str]) -> tuple[int, dict[str, str]]:
            request = RequestFactory().get("/orders", headers=headers)
            response = middleware(request) if mode == "sync" else anyio.run(middleware, request)
            return response.status_code, {k.lower(): v for k, v in response.headers.items()}

        three_outcomes(send, "http://testserver/orders", issuer, key)


def test_introspected_token_with_cnf_jkt(issuer: LocalIssuer, key: DPoPKey) -> None:
    """RFC 9449 §6.2: an introspection response carries cnf.jkt; the same rules apply."""
    from s2s_guard.testing._server import IssuerRequest, Reply, json_reply

    def introspect(iss: LocalIssuer, request: IssuerRequest) -> Reply:
        token = request.param("token") or ""
        body = iss.introspect(token)
        if body.get("active"):
            body["cnf"] = iss.opaque_tokens[token]["cnf"]
        return json_reply(200, body)

    issuer.register_client("rs", secret="rs-secret-0123456789")
    previous = issuer.routes["/introspect"]
    issuer.routes["/introspect"] = introspect
    token = issuer.issue_opaque({"client_id": "daemon-app", "sub": "daemon-app", **key.cnf})
    guard = Guard.from_config({**issuer.guard_config(dpop="allowed"), "introspection": {
        "endpoint": issuer.introspection_url, "issuer": "local", "client_id": "rs",
        "client_secret": "rs-secret-0123456789"}})
    try:
        url = "http://api.test/orders"
        ok = guard.authenticate_sync(f"DPoP {token}", dpop_proof=key.proof("GET", url, access_token=token),
                                     method="GET", url=url)
        assert ok.claims["cnf"] == {"jkt": key.jkt}
        with pytest.raises(BindingMismatch):
            guard.authenticate_sync(f"Bearer {token}")
    finally:
        issuer.routes["/introspect"] = previous
        guard.close()
