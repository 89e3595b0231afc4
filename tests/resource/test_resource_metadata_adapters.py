"""RFC 9728 in every adapter: the metadata document served without a token, and the challenge parameter.

Each adapter (in-process test clients, and real uvicorn servers on loopback) answers the
well-known path itself, unauthenticated, and adds ``resource_metadata="<absolute URL>"`` to the
``WWW-Authenticate`` challenge of every 400/401/403, including a delegation refusal (RFC 8693).
"""
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from loopback import serve_uvicorn
from resource_kit import (AUD, METADATA_PATH, METADATA_URL, RESOURCE, config_for, django_settings,
                          fastapi_app, flask_app, starlette_app, wsgi_app)

from s2s_guard import (AuthError, InvalidRequest, MalformedToken, MissingScope, MissingToken,
                       TokenExpired)
from s2s_guard.errors import DelegationNotAllowed
from s2s_guard.testing import LocalIssuer, mint_token


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


Call = Callable[[str, str, dict[str, str]], Reply]  # (method, path, headers)


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _httpx(client: Any) -> Call:
    def call(method: str, path: str, headers: dict[str, str]) -> Reply:
        r = client.request(method, path, headers=headers)
        return Reply(r.status_code, _lower(r.headers), r.content)
    return call


def _asgi(app: Any) -> Iterator[Call]:
    from starlette.testclient import TestClient

    with TestClient(app) as client:
        yield _httpx(client)


def _werkzeug(app: Any) -> Iterator[Call]:
    from werkzeug.test import Client

    client = Client(app)

    def call(method: str, path: str, headers: dict[str, str]) -> Reply:
        r = client.open(path, method=method, headers=headers)
        return Reply(r.status_code, _lower(r.headers), r.get_data())
    yield call


def _django(config: dict[str, Any], kind: str) -> Iterator[Call]:
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient, Client, override_settings

    with override_settings(**django_settings(config, kind)):
        client: Any = AsyncClient() if kind == "async" else Client()

        def call(method: str, path: str, headers: dict[str, str]) -> Reply:
            send = getattr(client, method.lower())
            r = async_to_sync(send)(path, headers=headers) if kind == "async" else send(path, headers=headers)
            return Reply(r.status_code, _lower(r.headers), r.content)
        yield call


def _uvicorn(app: Any) -> Iterator[Call]:
    with serve_uvicorn(app, lifespan="auto") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield _httpx(client)


ADAPTERS: dict[str, Callable[[dict[str, Any]], Iterator[Call]]] = {
    "starlette": lambda c: _asgi(starlette_app(c)),
    "fastapi": lambda c: _asgi(fastapi_app(c)),
    "flask": lambda c: _werkzeug(flask_app(c)),
    "wsgi": lambda c: _werkzeug(wsgi_app(c)),
    "django": lambda c: _django(c, "sync"),
    "django-async": lambda c: _django(c, "async"),
    "drf": lambda c: _django(c, "drf"),
    "uvicorn-starlette": lambda c: _uvicorn(starlette_app(c)),
    "uvicorn-fastapi": lambda c: _uvicorn(fastapi_app(c)),
}


@pytest.fixture(scope="module", params=list(ADAPTERS))
def adapter(request: pytest.FixtureRequest, issuer: LocalIssuer, django_ready: None) -> Iterator[Call]:
    yield from ADAPTERS[request.param](config_for(issuer))


def expected_document(issuer: LocalIssuer) -> dict[str, Any]:
    return {"resource": RESOURCE, "authorization_servers": [issuer.issuer],
            "scopes_supported": ["orders.read"], "bearer_methods_supported": ["header"],
            "resource_name": "Orders API"}


# -- the document ----------------------------------------------------------------------------------

def test_document_is_served_without_a_token(adapter: Call, issuer: LocalIssuer) -> None:
    reply = adapter("GET", METADATA_PATH, {})
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    assert json.loads(reply.body) == expected_document(issuer)
    assert "www-authenticate" not in reply.headers


def test_document_ignores_a_bad_token(adapter: Call) -> None:
    """The metadata is public: even a garbage credential does not turn it into a 401."""
    reply = adapter("GET", METADATA_PATH, {"Authorization": "Bearer x.y.z"})
    assert reply.status == 200 and json.loads(reply.body)["resource"] == RESOURCE


def test_head_is_answered(adapter: Call) -> None:
    reply = adapter("HEAD", METADATA_PATH, {})
    assert reply.status == 200 and reply.body == b""


def test_other_methods_are_refused_with_405(adapter: Call) -> None:
    assert adapter("POST", METADATA_PATH, {}).status == 405


def test_other_well_known_paths_are_still_protected(adapter: Call) -> None:
    reply = adapter("GET", "/.well-known/oauth-protected-resource", {})
    assert reply.status in (401, 404)  # the middleware refuses it, or the router does not know it
    if reply.status == 401:
        assert 'resource_metadata="' in reply.headers["www-authenticate"]


# -- the challenge ---------------------------------------------------------------------------------

def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _challenge(error: AuthError) -> AuthError:
    error.realm, error.resource_metadata = AUD, METADATA_URL
    return error


CASES: dict[str, tuple[Callable[[LocalIssuer], tuple[str, dict[str, str]]], AuthError]] = {
    "401-no-token": (lambda i: ("/orders", {}), MissingToken()),
    "401-expired": (lambda i: ("/orders", _bearer(i.app_token(scopes="orders.read", ttl=-600))),
                    TokenExpired()),
    "401-malformed-token": (lambda i: ("/orders", _bearer("x.y.z")), MalformedToken()),
    "400-malformed-header": (lambda i: ("/orders", {"Authorization": "Bearer a b"}), InvalidRequest()),
    "403-scope": (lambda i: ("/orders", _bearer(i.app_token(scopes="orders.write"))),
                  MissingScope(scope="orders.read")),
    "403-actor": (lambda i: ("/relay", _bearer(i.user_token("alice", "web-app"))), DelegationNotAllowed()),
    "403-chain-too-deep": (lambda i: ("/relay", _bearer(mint_token(
        i, "act-chain", client_id="gateway", actors=("edge", "mobile")))), DelegationNotAllowed()),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_challenge_names_the_metadata(adapter: Call, issuer: LocalIssuer, case: str) -> None:
    request, error = CASES[case]
    path, headers = request(issuer)
    reply = adapter("GET", path, headers)
    expected = _challenge(error)
    assert reply.status == expected.status_code, reply.body
    assert reply.headers["www-authenticate"] == expected.www_authenticate
    assert reply.headers["www-authenticate"].endswith(f'resource_metadata="{METADATA_URL}"')
    assert json.loads(reply.body) == json.loads(expected.body())


@pytest.mark.parametrize("token", [
    lambda i: i.user_token("alice", "gateway"),                                     # no act chain
    lambda i: mint_token(i, "act-chain", client_id="gateway", actors=()),           # one hop
])
def test_allowed_actor_passes(adapter: Call, issuer: LocalIssuer, token: Callable[[LocalIssuer], str]) -> None:
    reply = adapter("GET", "/relay", _bearer(token(issuer)))
    assert reply.status == 200, reply.body
    assert json.loads(reply.body) == {"policy": "user+app", "id": "alice"}


def test_accepted_requests_are_unchanged(adapter: Call, issuer: LocalIssuer) -> None:
    reply = adapter("GET", "/orders", _bearer(issuer.app_token("daemon", scopes="orders.read")))
    assert reply.status == 200 and json.loads(reply.body) == {"policy": "app-only", "id": "daemon"}
    assert adapter("GET", "/health", {}).status == 200
