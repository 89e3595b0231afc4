"""RFC 9449 DPoP interop: oidc-provider issues a DPoP-bound JWT, a guarded uvicorn app checks its use.

The test is the client: it generates a key, proves it at oidc-provider's token endpoint (client
credentials grant, resource indicator ``https://dpop.example/api``), gets a token bound to the key
(``token_type`` DPoP, ``cnf.jkt``), then calls the API with a fresh proof (accepted), replays that
proof (refused) and sends the token without a proof (refused).
"""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from loopback import serve_uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from s2s_guard import Guard, GuardMiddleware
from s2s_guard.testing.dpop import DPoPKey

from interop_server import OidcProvider

DPOP_RESOURCE = "https://dpop.example/api"
CALLER = ("dpop-daemon", "dpop-daemon-secret-0123456789abcdef")


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def dpop_token(op: OidcProvider, key: DPoPKey) -> dict[str, Any]:
    """Client credentials with a DPoP proof for the token endpoint (RFC 9449 §5)."""
    response = httpx.post(op.token_endpoint, auth=CALLER, timeout=10,
                          headers={"DPoP": key.proof("POST", op.token_endpoint)},
                          data={"grant_type": "client_credentials", "resource": DPOP_RESOURCE,
                                "scope": "orders.read"})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"app": request.user.app.client_id, "scopes": sorted(request.user.scopes)})


@pytest.fixture(scope="module")
def api(oidc_provider: OidcProvider) -> Iterator[httpx.Client]:
    """The guarded app (dpop = "allowed" for oidc-provider's tokens) under uvicorn on 127.0.0.1."""
    guard = Guard.from_config({"audience": [DPOP_RESOURCE], "issuers": [{
        "issuer": oidc_provider.issuer, "algorithms": ["ES256"], "jwks_uri": oidc_provider.jwks_uri,
        "typ": "at+jwt", "dpop": "allowed"}]})
    app = GuardMiddleware(Starlette(routes=[Route("/whoami", whoami)]), guard=guard)
    with (serve_uvicorn(app) as port,
          httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client):
        yield client
    guard.close()


def test_token_endpoint_binds_the_token_to_the_proof_key(oidc_provider: OidcProvider) -> None:
    """RFC 9449 §5 and §6.1: token_type DPoP, cnf.jkt = the RFC 7638 thumbprint of our key."""
    key = DPoPKey()
    issued = dpop_token(oidc_provider, key)
    assert issued["token_type"] == "DPoP"
    assert claims_of(issued["access_token"])["cnf"] == {"jkt": key.jkt}
    refused = httpx.post(oidc_provider.token_endpoint, auth=CALLER, timeout=10, data={
        "grant_type": "client_credentials", "resource": DPOP_RESOURCE})
    assert refused.status_code == 400  # dpop_bound_access_tokens: no proof, no token


def test_bound_call_accepted_replay_and_bare_token_refused(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    key = DPoPKey()
    token = dpop_token(oidc_provider, key)["access_token"]
    url = str(api.base_url.join("/whoami"))
    proof = key.proof("GET", url, access_token=token)
    ok = api.get("/whoami", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"app": "dpop-daemon", "scopes": ["orders.read"]}

    replay = api.get("/whoami", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_dpop_proof"
    assert 'DPoP realm="https://dpop.example/api", error="invalid_dpop_proof"' in replay.headers["www-authenticate"]

    bare = api.get("/whoami", headers={"Authorization": f"Bearer {token}"})  # RFC 9449 §7.2
    assert bare.status_code == 401 and bare.json()["error"] == "invalid_token"
    assert 'DPoP realm="https://dpop.example/api", algs="' in bare.headers["www-authenticate"]

    no_proof = api.get("/whoami", headers={"Authorization": f"DPoP {token}"})
    assert no_proof.status_code == 401 and no_proof.json()["error"] == "invalid_dpop_proof"

    fresh = api.get("/whoami", headers={"Authorization": f"DPoP {token}",
                                        "DPoP": key.proof("GET", url, access_token=token)})
    assert fresh.status_code == 200


def test_stolen_token_with_the_thiefs_own_proof_is_refused(api: httpx.Client, oidc_provider: OidcProvider) -> None:
    """RFC 9449 §7.1: cnf.jkt must be the proof key's thumbprint; another key proves nothing."""
    token = dpop_token(oidc_provider, DPoPKey())["access_token"]
    thief = DPoPKey()
    r = api.get("/whoami", headers={"Authorization": f"DPoP {token}",
                                    "DPoP": thief.proof("GET", str(api.base_url.join("/whoami")),
                                                        access_token=token)})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
