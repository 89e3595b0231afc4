"""Interop with django-oauth-toolkit (DOT): its opaque tokens introspected at its own ``/o/introspect/``.

DOT's introspection response (``oauth2_provider/views/introspect.py``, ``docs/resource_server.rst``)
is ``active``, ``scope``, ``exp``, ``client_id`` and, only for a token with a user, ``username``;
``aud`` is there only when the client asked for RFC 8707 resources. No ``sub`` and no ``iss``.
So by default every token without a resource is refused (wrong audience), and
``[introspection] accept_missing_aud_for_clients`` names the clients whose ``client_id`` stands for
the audience. Daemon tokens come from the client credentials grant through the project's own
``ClientCredentialsAuth``; a user's token from DOT's password grant. Two guarded APIs run under
uvicorn on 127.0.0.1 (``/strict``: the default; ``/trusting``: two trusted clients) and introspect
with the resource server's own client credentials (HTTP Basic, RFC 7662 §2.1).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from loopback import serve_uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from s2s_guard import Guard, GuardMiddleware, InvalidToken, requires
from s2s_guard.client import ClientCredentialsAuth, TokenCache

from dot_server import DOTServer, start_dot

API = "https://orders.example"
OTHER_API = "https://billing.example"
RESOURCE_SERVER = ("orders-api", "orders-api-secret-0123456789abcdef")
DAEMON = ("orders-daemon", "orders-daemon-secret-0123456789abcdef")  # trusted without aud
STRANGER = ("billing-daemon", "billing-daemon-secret-0123456789abcdef")  # not trusted
WEB = ("orders-web", "orders-web-secret-0123456789abcdef")  # trusted; gets a user's token
USER = ("alice", "alice-password-0123456789")
WRONG_AUDIENCE = {"error": "invalid_token", "error_description": "The access token has the wrong audience"}


@pytest.fixture(scope="module")
def dot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DOTServer]:
    clients = {RESOURCE_SERVER[0]: (RESOURCE_SERVER[1], "client-credentials"),
               DAEMON[0]: (DAEMON[1], "client-credentials"),
               STRANGER[0]: (STRANGER[1], "client-credentials"),
               WEB[0]: (WEB[1], "password")}
    yield from start_dot(tmp_path_factory.mktemp("dot-project"), clients, USER)


# -- the guarded API -------------------------------------------------------------------------------

async def whoami(request: Request) -> JSONResponse:
    principal = request.user
    return JSONResponse({"policy": principal.policy, "app": principal.app.client_id,
                         "user": principal.user.id if principal.user is not None else None,
                         "scopes": sorted(principal.scopes)})


@requires(policy="app-only", scopes=["orders.read"])
async def daemon_only(request: Request) -> JSONResponse:
    return await whoami(request)


@requires(policy="user+app", scopes=["orders.read"])
async def for_users(request: Request) -> JSONResponse:
    return await whoami(request)


def guarded(dot: DOTServer, **introspection: Any) -> ASGIApp:
    guard = Guard.from_config({
        "audience": [API],
        "issuers": [{"issuer": dot.url + "/o", "validation": "introspect"}],
        "introspection": {"endpoint": dot.introspection_endpoint, "client_id": RESOURCE_SERVER[0],
                          "client_secret": RESOURCE_SERVER[1], **introspection}})
    routes = [Route("/whoami", whoami), Route("/daemon", daemon_only), Route("/user", for_users)]
    return GuardMiddleware(Starlette(routes=routes), guard=guard)


def serve(app: ASGIApp) -> Iterator[httpx.Client]:
    with (serve_uvicorn(app) as port,
          httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client):
        yield client


@pytest.fixture(scope="module")
def api(dot: DOTServer) -> Iterator[httpx.Client]:
    """/strict refuses responses without aud (the default)."""
    yield from serve(Starlette(routes=[Mount("/strict", guarded(dot))]))


@pytest.fixture(scope="module")
def trusting(dot: DOTServer) -> Iterator[httpx.Client]:
    """/trusting accepts responses without aud for two clients."""
    trusted = [DAEMON[0], WEB[0]]
    yield from serve(Starlette(routes=[Mount("/trusting", guarded(dot, accept_missing_aud_for_clients=trusted))]))


def daemon(dot: DOTServer, client: tuple[str, str], resource: str | None = None) -> ClientCredentialsAuth:
    """A caller using the client credentials grant (RFC 6749 §4.4), optionally with an RFC 8707 resource."""
    return ClientCredentialsAuth(dot.token_endpoint, client[0], client_secret=client[1], scope="orders.read",
                                 resource=resource, cache=TokenCache())


def user_token(dot: DOTServer, resource: str | None = None) -> str:
    """alice's token through orders-web (DOT's password grant: a token with a user)."""
    form = {"grant_type": "password", "username": USER[0], "password": USER[1], "scope": "orders.read"}
    r = httpx.post(dot.token_endpoint, auth=WEB, timeout=10, data={**form, "resource": resource} if resource else form)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def introspect(dot: DOTServer, token: str) -> dict[str, Any]:
    """What DOT itself answers the resource server for ``token``."""
    r = httpx.post(dot.introspection_endpoint, auth=RESOURCE_SERVER, data={"token": token}, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def sent_token(response: httpx.Response) -> str:
    return str(response.request.headers["authorization"]).partition(" ")[2]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


# -- DOT's responses, as the guard sees them -------------------------------------------------------

def test_dot_omits_aud_and_sub(api: httpx.Client, dot: DOTServer) -> None:
    """The premise: without a resource DOT names no audience; a daemon's token has no username."""
    token = sent_token(api.get("/strict/whoami", auth=daemon(dot, DAEMON)))
    response = introspect(dot, token)
    assert response["active"] is True and response["client_id"] == DAEMON[0]
    assert response["scope"] == "orders.read" and isinstance(response["exp"], int)
    assert not {"aud", "sub", "iss", "username"} & response.keys()
    assert introspect(dot, user_token(dot))["username"] == USER[0]
    with_resource = sent_token(api.get("/strict/whoami", auth=daemon(dot, DAEMON, API)))
    assert introspect(dot, with_resource)["aud"] == [API]  # RFC 8707: only with a resource


# -- default: refused --------------------------------------------------------------------------------

def test_no_audience_is_refused_by_default(api: httpx.Client, dot: DOTServer,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """RFC 7662 §2.2: aud is optional, but a token that names no audience may be for any API."""
    for path in ("/strict/whoami", "/strict/daemon"):
        with caplog.at_level(logging.DEBUG, logger="s2s_guard"):
            r = api.get(path, auth=daemon(dot, DAEMON))
        assert r.status_code == 401, r.text
        assert r.json() == WRONG_AUDIENCE
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert "names no audience and its client_id is not in [introspection] accept_missing_aud_for_clients" \
        in caplog.text  # the log names the key; the client sees only the fixed description
    r = api.get("/strict/user", headers=bearer(user_token(dot)))
    assert r.status_code == 401 and r.json() == WRONG_AUDIENCE


def test_resource_indicator_is_accepted_by_default(api: httpx.Client, dot: DOTServer) -> None:
    """RFC 8707: asked for this API, DOT names it in aud; no trust needed, any client."""
    r = api.get("/strict/daemon", auth=daemon(dot, STRANGER, API))
    assert r.status_code == 200, r.text
    assert r.json() == {"policy": "app-only", "app": STRANGER[0], "user": None, "scopes": ["orders.read"]}


def test_users_token_with_a_resource_never_passes_as_a_daemon(api: httpx.Client, dot: DOTServer) -> None:
    """RFC 7662 §2.2: DOT names the resource owner by username (no sub): a user+app token."""
    token = user_token(dot, resource=API)
    assert introspect(dot, token)["aud"] == [API] and "sub" not in introspect(dot, token)
    r = api.get("/strict/daemon", headers=bearer(token))
    assert r.status_code == 403 and 'error="insufficient_scope"' in r.headers["www-authenticate"]
    r = api.get("/strict/user", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"policy": "user+app", "app": WEB[0], "user": USER[0], "scopes": ["orders.read"]}


def test_another_resource_is_refused(api: httpx.Client, dot: DOTServer) -> None:
    r = api.get("/strict/whoami", auth=daemon(dot, STRANGER, OTHER_API))
    assert r.status_code == 401 and r.json() == WRONG_AUDIENCE


# -- accept_missing_aud_for_clients -------------------------------------------------------------------

def test_trusted_daemon_is_accepted_as_app_only(trusting: httpx.Client, dot: DOTServer) -> None:
    auth = daemon(dot, DAEMON)
    r = trusting.get("/trusting/daemon", auth=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"policy": "app-only", "app": DAEMON[0], "user": None, "scopes": ["orders.read"]}
    r = trusting.get("/trusting/user", auth=auth)  # a daemon never passes a user+app route
    assert r.status_code == 403 and 'error="insufficient_scope"' in r.headers["www-authenticate"]


def test_untrusted_client_still_needs_an_audience(trusting: httpx.Client, dot: DOTServer) -> None:
    r = trusting.get("/trusting/whoami", auth=daemon(dot, STRANGER))
    assert r.status_code == 401 and r.json() == WRONG_AUDIENCE


def test_trusted_client_with_another_resource_is_refused(trusting: httpx.Client, dot: DOTServer) -> None:
    """RFC 8707: a response that does carry aud must name this API, trusted client or not."""
    r = trusting.get("/trusting/whoami", auth=daemon(dot, DAEMON, OTHER_API))
    assert r.status_code == 401 and r.json() == WRONG_AUDIENCE


def test_users_token_is_user_and_app(trusting: httpx.Client, dot: DOTServer) -> None:
    """RFC 7662 §2.2: DOT's username is the resource owner; such a token never passes as a daemon's."""
    token = user_token(dot)
    r = trusting.get("/trusting/user", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"policy": "user+app", "app": WEB[0], "user": USER[0], "scopes": ["orders.read"]}
    r = trusting.get("/trusting/daemon", headers=bearer(token))
    assert r.status_code == 403 and 'error="insufficient_scope"' in r.headers["www-authenticate"]


def test_revoked_token_is_inactive(trusting: httpx.Client, dot: DOTServer) -> None:
    """RFC 7009 at DOT's /o/revoke_token/, then RFC 7662: inactive (a fresh guard, no cache)."""
    auth = daemon(dot, DAEMON)
    token = sent_token(trusting.get("/trusting/whoami", auth=auth))
    revoked = httpx.post(dot.url + "/o/revoke_token/", auth=DAEMON, data={"token": token}, timeout=10)
    assert revoked.status_code == 200, revoked.text
    assert introspect(dot, token) == {"active": False}
    guard = Guard.from_config({
        "audience": [API], "issuers": [{"issuer": dot.url + "/o", "validation": "introspect"}],
        "introspection": {"endpoint": dot.introspection_endpoint, "client_id": RESOURCE_SERVER[0],
                          "client_secret": RESOURCE_SERVER[1], "accept_missing_aud_for_clients": [DAEMON[0]]}})
    with pytest.raises(InvalidToken) as info:
        guard.authenticate_sync("Bearer " + token)
    assert info.value.status_code == 401 and info.value.detail == "introspection: token is not active"
