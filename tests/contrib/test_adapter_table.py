"""One table of cases, run against every adapter, in-process and behind real servers on loopback.

Each adapter answers the same requests with the same RFC 6750 responses: status,
``WWW-Authenticate`` challenge, JSON body and ``Retry-After``. The expected refusal is an
AuthError instance, so the table states the contract, not one adapter's output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from contrib_support import AUD
from loopback import run_in_thread, serve_uvicorn

from adapter_apps import (django_settings, fastapi_app, flask_app, starlette_app,
                          wsgi_app)
from s2s_guard import (AuthError, InvalidAudience, InvalidRequest, MalformedToken, MissingScope,
                       MissingToken, PolicyMismatch, ServiceUnavailable, TokenExpired)
from s2s_guard.testing import LocalIssuer


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


Call = Callable[[str, dict[str, str]], Reply]


@dataclass(frozen=True)
class Case:
    """``request(issuer, down)`` -> ``(path, headers)``; ``expect`` an AuthError or the JSON body."""

    request: Callable[[LocalIssuer, LocalIssuer], tuple[str, dict[str, str]]]
    expect: AuthError | dict[str, Any]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


CASES = {
    "no-header": Case(lambda i, d: ("/orders", {}), MissingToken(realm=AUD)),
    "other-scheme": Case(lambda i, d: ("/orders", {"Authorization": "Basic dXNlcjpwYXNz"}),
                         MissingToken(realm=AUD)),
    "malformed-header": Case(lambda i, d: ("/orders", {"Authorization": "Bearer a b"}),
                             InvalidRequest(realm=AUD)),
    "malformed-token": Case(lambda i, d: ("/orders", _bearer("x.y.z")), MalformedToken(realm=AUD)),
    "query-token-refused": Case(lambda i, d: (f"/orders?access_token={i.app_token()}", {}),
                                InvalidRequest(realm=AUD)),
    "expired": Case(lambda i, d: ("/orders", _bearer(i.app_token(scopes="orders.read", ttl=-600))),
                    TokenExpired(realm=AUD)),
    "wrong-audience": Case(lambda i, d: ("/orders", _bearer(i.app_token(
        scopes="orders.read", claims={"aud": "api://other"}))), InvalidAudience(realm=AUD)),
    "wrong-policy": Case(lambda i, d: ("/orders", _bearer(i.user_token(scopes="orders.read"))),
                         PolicyMismatch(realm=AUD, scope="orders.read")),
    "wrong-policy-app-on-user-route": Case(  # issue 14: the description names the policy, not the scope
        lambda i, d: ("/me", _bearer(i.app_token(scopes="orders.read"))),
        PolicyMismatch(realm=AUD, scope="orders.read")),
    "missing-scope": Case(lambda i, d: ("/orders", _bearer(i.app_token(scopes="orders.write"))),
                          MissingScope(realm=AUD, scope="orders.read")),
    "keys-unavailable": Case(lambda i, d: ("/orders", _bearer(d.app_token(scopes="orders.read"))),
                             ServiceUnavailable(realm=AUD)),
    "accepted-app-only": Case(
        lambda i, d: ("/orders", _bearer(i.app_token("daemon", scopes="orders.read other"))),
        {"policy": "app-only", "id": "daemon"}),
    "accepted-user+app": Case(
        lambda i, d: ("/me", _bearer(i.user_token("alice", "web", scopes="orders.read"))),
        {"policy": "user+app", "id": "alice"}),
    "public-path": Case(lambda i, d: ("/health", {}), {"status": "ok"}),
}


# -- one Call per adapter ------------------------------------------------------------------------

def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _httpx_call(client: Any) -> Call:  # an httpx.Client or Starlette's TestClient
    def call(path: str, headers: dict[str, str]) -> Reply:
        r = client.get(path, headers=headers)
        return Reply(r.status_code, _lower(r.headers), r.content)
    return call


def _asgi(build: Callable[[dict[str, Any]], Any], config: dict[str, Any]) -> Iterator[Call]:
    from starlette.testclient import TestClient

    with TestClient(build(config)) as client:
        yield _httpx_call(client)


def _werkzeug(app: Any) -> Iterator[Call]:
    from werkzeug.test import Client

    client = Client(app)

    def call(path: str, headers: dict[str, str]) -> Reply:
        r = client.get(path, headers=headers)
        return Reply(r.status_code, _lower(r.headers), r.get_data())
    yield call


def _django(config: dict[str, Any], kind: str, *, use_async: bool) -> Iterator[Call]:
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient, Client, override_settings

    with override_settings(**django_settings(config, kind)):
        if use_async:
            aclient = AsyncClient()
            get = async_to_sync(aclient.get)
        else:
            get = Client().get

        def call(path: str, headers: dict[str, str]) -> Reply:
            r = get(path, headers=headers)
            return Reply(r.status_code, _lower(r.headers), r.content)
        yield call


def _uvicorn(app: Any) -> Iterator[Call]:
    with serve_uvicorn(app, lifespan="auto") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield _httpx_call(client)


def _waitress(app: Any) -> Iterator[Call]:
    import waitress

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = run_in_thread(server.run, lambda: True)
    with httpx.Client(base_url=f"http://127.0.0.1:{server.effective_port}") as client:
        yield _httpx_call(client)
    server.close()
    thread.join(5)


def _django_server(config: dict[str, Any], kind: str, serve: Callable[[Any], Iterator[Call]],
                   handler: Callable[[], Any]) -> Iterator[Call]:
    from django.test import override_settings

    with override_settings(**django_settings(config, kind)):
        yield from serve(handler())


def _django_wsgi() -> Any:
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler()


def _django_asgi() -> Any:
    from django.core.handlers.asgi import ASGIHandler

    return ASGIHandler()


ADAPTERS: dict[str, Callable[[dict[str, Any]], Iterator[Call]]] = {
    "starlette": lambda c: _asgi(starlette_app, c),
    "fastapi": lambda c: _asgi(fastapi_app, c),
    "flask": lambda c: _werkzeug(flask_app(c)),
    "wsgi": lambda c: _werkzeug(wsgi_app(c)),
    "django": lambda c: _django(c, "sync", use_async=False),
    "django-async": lambda c: _django(c, "async", use_async=True),
    "django-class": lambda c: _django(c, "class", use_async=False),
    "drf": lambda c: _django(c, "drf", use_async=False),
    "uvicorn-fastapi": lambda c: _uvicorn(fastapi_app(c)),
    "uvicorn-django-async": lambda c: _django_server(c, "async", _uvicorn, _django_asgi),
    "waitress-flask": lambda c: _waitress(flask_app(c)),
    "waitress-django": lambda c: _django_server(c, "sync", _waitress, _django_wsgi),
    "waitress-drf": lambda c: _django_server(c, "drf", _waitress, _django_wsgi),
}


@pytest.fixture(scope="module", params=list(ADAPTERS))
def adapter(request: pytest.FixtureRequest, guard_config: dict[str, Any],
            django_base: None) -> Iterator[Call]:
    yield from ADAPTERS[request.param](guard_config)


# -- the table -----------------------------------------------------------------------------------

def assert_refused(reply: Reply, error: AuthError) -> None:
    assert reply.status == error.status_code
    assert reply.headers.get("www-authenticate") == error.www_authenticate
    assert reply.headers["content-type"].startswith("application/json")
    assert json.loads(reply.body) == json.loads(error.body())
    if error.retry_after is None:
        assert "retry-after" not in reply.headers
    else:  # the guard computes the delay (time to the next allowed refetch)
        assert reply.headers["retry-after"].isdigit()


@pytest.mark.parametrize("case", list(CASES))
def test_adapter_table(adapter: Call, case: str, issuer: LocalIssuer, down_issuer: LocalIssuer) -> None:
    path, headers = CASES[case].request(issuer, down_issuer)
    reply = adapter(path, headers)
    expect = CASES[case].expect
    if isinstance(expect, AuthError):
        assert_refused(reply, expect)
    else:
        assert reply.status == 200, reply.body
        assert json.loads(reply.body) == expect
