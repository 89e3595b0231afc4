"""Interop with a real authorization server: oidc-provider tokens against a guarded uvicorn app.

Tokens are obtained over HTTP with the client credentials grant (RFC 6749 §4.4) and resource
indicators (RFC 8707); JWT access tokens (RFC 9068) are validated locally with the server's
JWKS, opaque ones through its introspection endpoint (RFC 7662). Each guard sits on its own
mount of one uvicorn app on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from base64 import urlsafe_b64decode
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

from s2s_guard import Guard, GuardMiddleware, requires
from s2s_guard.client import ClientCredentialsAuth, TokenCache

from interop_server import OidcProvider

ORDERS = "https://orders.example/api"  # JWT, RS256
SHORT = "https://short.example/api"  # JWT, ES256, 2 s
OTHER = "https://other.example/api"  # JWT, another API's audience
OPAQUE = "https://opaque.example/api"  # opaque, introspected
CALLER = ("orders-daemon", "orders-daemon-secret-0123456789abcdef")
RESOURCE_SERVER = ("orders-api", "orders-api-secret-0123456789abcdef")
CACHE_TTL = 1


def caller(op: OidcProvider, resource: str, scope: str = "orders.read") -> ClientCredentialsAuth:
    """The caller: the project's own client credentials auth, with a cache of its own per test."""
    return ClientCredentialsAuth(op.token_endpoint, CALLER[0], client_secret=CALLER[1], scope=scope,
                                 resource=resource, cache=TokenCache())


def sent_token(response: httpx.Response) -> str:
    """The access token the caller put on a request (to replay it by hand)."""
    scheme, _, token = str(response.request.headers["authorization"]).partition(" ")
    assert scheme.lower() == "bearer"
    return token


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def header_of(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return dict(json.loads(urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def challenge(response: httpx.Response) -> str:
    return str(response.headers.get("www-authenticate", ""))


# -- the guarded API -------------------------------------------------------------------------------

async def whoami(request: Request) -> JSONResponse:
    principal = request.user
    return JSONResponse({"policy": principal.policy, "app": principal.app.client_id,
                         "scopes": sorted(principal.scopes)})


@requires(policy="app-only", scopes=["orders.write"])
async def write(request: Request) -> JSONResponse:
    return JSONResponse({"written": True})


def guarded(audience: str, issuer: dict[str, Any], **top: Any) -> ASGIApp:
    guard = Guard.from_config({"audience": [audience], "issuers": [issuer], **top})
    app = Starlette(routes=[Route("/whoami", whoami), Route("/write", write, methods=["POST"])])
    return GuardMiddleware(app, guard=guard)


def build_api(op: OidcProvider) -> Starlette:
    """One app, one guard per mount: JWKS URI, short TTL with no leeway, discovery, introspection."""
    by_jwks = {"issuer": op.issuer, "algorithms": ["RS256", "ES256"], "jwks_uri": op.jwks_uri,
               "typ": "at+jwt"}
    by_discovery = {"issuer": op.issuer, "algorithms": ["RS256", "ES256"], "discovery": op.discovery}
    introspection = {"endpoint": op.metadata["introspection_endpoint"], "client_id": RESOURCE_SERVER[0],
                     "client_secret": RESOURCE_SERVER[1], "cache_ttl": CACHE_TTL, "timeout": 5}
    return Starlette(routes=[
        Mount("/jwks", guarded(ORDERS, by_jwks)),
        Mount("/short", guarded(SHORT, by_jwks, leeway=0)),
        Mount("/discovery", guarded(ORDERS, by_discovery)),
        Mount("/opaque", guarded(OPAQUE, by_jwks, introspection=introspection))])


@pytest.fixture(scope="module")
def api(oidc_provider: OidcProvider) -> Iterator[httpx.Client]:
    """The guarded app under uvicorn on 127.0.0.1, and a client for it."""
    with (serve_uvicorn(build_api(oidc_provider)) as port,
          httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client):
        yield client


# -- JWT access tokens, validated locally ----------------------------------------------------------

def test_jwt_access_token_is_rfc9068_and_accepted(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """RFC 9068 §2: at+jwt, sub = client_id for client credentials, aud = the resource (RFC 8707)."""
    r = api.get("/jwks/whoami", auth=caller(oidc_provider, ORDERS))
    assert r.status_code == 200, r.text
    assert r.json() == {"policy": "app-only", "app": "orders-daemon", "scopes": ["orders.read"]}
    token = sent_token(r)
    assert header_of(token)["typ"] == "at+jwt" and header_of(token)["alg"] == "RS256"
    claims = claims_of(token)
    assert claims["aud"] == ORDERS and claims["iss"] == oidc_provider.issuer
    assert claims["sub"] == claims["client_id"] == "orders-daemon"


def test_caller_reuses_its_token(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """RFC 6749 §4.4 / RFC 8707: one token per (client, resource, scope), reused across requests."""
    auth = caller(oidc_provider, ORDERS)
    tokens = {sent_token(api.get("/jwks/whoami", auth=auth)) for _ in range(3)}
    assert len(tokens) == 1


def test_missing_scope_is_403(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """RFC 6750 §3.1: a valid token without the route's scope is 403 insufficient_scope."""
    r = api.post("/jwks/write", auth=caller(oidc_provider, ORDERS, scope="orders.read"))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in challenge(r) and 'scope="orders.write"' in challenge(r)
    r = api.post("/jwks/write", auth=caller(oidc_provider, ORDERS, scope="orders.read orders.write"))
    assert r.status_code == 200 and r.json() == {"written": True}


def test_es256_token_accepted(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """RFC 7518 §3.4: the short-lived resource is signed with ES256 (raw R || S)."""
    r = api.get("/short/whoami", auth=caller(oidc_provider, SHORT))
    assert r.status_code == 200, r.text
    assert header_of(sent_token(r))["alg"] == "ES256"


def test_token_for_another_resource_is_refused(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """RFC 8707 §2 / RFC 9068 §4: a token issued for another resource has the wrong audience."""
    r = api.get("/jwks/whoami", auth=caller(oidc_provider, OTHER))
    assert r.status_code == 401
    assert 'error="invalid_token"' in challenge(r)
    assert r.json()["error_description"] == "The access token has the wrong audience"
    assert claims_of(sent_token(r))["aud"] == OTHER


def test_expired_token_is_refused(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """RFC 7519 §4.1.4: once exp has passed (leeway 0, TTL 2 s) the same token is refused."""
    first = api.get("/short/whoami", auth=caller(oidc_provider, SHORT))
    assert first.status_code == 200, first.text
    token = sent_token(first)
    exp = claims_of(token)["exp"]
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    r = api.get("/short/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json() == {"error": "invalid_token", "error_description": "The access token expired"}


def test_jwt_validated_through_discovery(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """OpenID Discovery / RFC 8414: jwks_uri comes from the metadata; its issuer must match."""
    r = api.get("/discovery/whoami", auth=caller(oidc_provider, ORDERS))
    assert r.status_code == 200, r.text
    assert r.json()["app"] == "orders-daemon"
    wrong = api.get("/discovery/whoami", auth=caller(oidc_provider, OTHER))
    assert wrong.status_code == 401


# -- opaque access tokens, introspected --------------------------------------------------------------

def test_opaque_token_through_introspection(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """RFC 7662 §2: the resource server's own credentials; active, aud, scope, client_id mapped."""
    r = api.get("/opaque/whoami", auth=caller(oidc_provider, OPAQUE, scope="orders.read orders.write"))
    assert r.status_code == 200, r.text
    assert r.json() == {"policy": "app-only", "app": "orders-daemon",
                        "scopes": ["orders.read", "orders.write"]}
    assert sent_token(r).count(".") == 0  # really opaque


def test_token_for_another_resource_refused_by_introspecting_api(
        api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """RFC 8707 §2: a JWT for another resource is refused by an API that also introspects."""
    r = api.get("/opaque/whoami", auth=caller(oidc_provider, ORDERS))
    assert r.status_code == 401 and 'error="invalid_token"' in challenge(r)


def test_revoked_token_refused_after_cache_ttl(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """RFC 7009 revocation, RFC 7662 §4: once the cached result expires, a revoked token is inactive."""
    first = api.get("/opaque/whoami", auth=caller(oidc_provider, OPAQUE))
    assert first.status_code == 200, first.text
    token = sent_token(first)
    revoked = httpx.post(oidc_provider.metadata["revocation_endpoint"], auth=CALLER,
                         data={"token": token, "token_type_hint": "access_token"}, timeout=5)
    assert revoked.status_code == 200
    time.sleep(CACHE_TTL + 0.2)
    r = api.get("/opaque/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and 'error="invalid_token"' in challenge(r)


def test_unknown_opaque_token_is_refused(api: httpx.Client) -> None:
    """RFC 7662 §2.2: a token the server never issued is {"active": false}: 401 invalid_token."""
    r = api.get("/opaque/whoami", headers={"Authorization": "Bearer " + "Q" * 43})
    assert r.status_code == 401 and 'error="invalid_token"' in challenge(r)
