"""node-sp-auth (npm), the Node.js SharePoint client, against a guard with the high-trust profile.

node-sp-auth's on-premises add-in-only resolver (``lib/src/auth/resolvers/OnpremiseAddinOnly.js``
in node-sp-auth 3.0.9) builds the token locally, contacting nothing: RS256 with the key at
``rsaPrivateKeyPath``, header ``x5t`` = ``shaThumbprint``, claims ``aud`` =
``00000003-0000-0ff1-ce00-000000000000/<host>@<realm>``, ``iss`` = ``<issuerId>@<realm>``,
``nameid`` = ``<clientId>@<realm>``, numeric ``nbf`` = now - 12 h and ``exp`` = now + 12 h
(``HighTrustTokenLifeTime``), ``trustedfordelegation: true`` (a JSON boolean), and ``iat`` from
jsonwebtoken. ``node_sp_auth/client.cjs`` calls ``getAuth()`` with the credentials from the
project's wiki (clientId, issuerId, realm, rsaPrivateKeyPath, shaThumbprint) and requests an API
on 127.0.0.1 with the headers it returns, as sp-request does against a farm.

``npm ci`` installs the pinned version from ``node_sp_auth/package-lock.json`` into
``node_sp_auth/node_modules`` (gitignored) once; the tests skip only when Node.js is not
installed or the npm registry cannot be reached.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from loopback import HOST, free_port, serve_uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from s2s_guard import Guard, GuardMiddleware, requires
from s2s_guard.client.hightrust import ACTIVE_DIRECTORY_IDP, build_user_token
from s2s_guard.testing.sharepoint import HighTrustIdentity

CLIENT_DIR = Path(__file__).parent / "node_sp_auth"
CLIENT_ID = "ded561d0-05dc-48b8-8c64-9b161392b9e8"
USER_SID = "s-1-5-21-2127521184-1604012920-1887927527-1001"
HOURS_12 = 12 * 3600
APP_ONLY, USER_APP = "/sites/hr/_api/web", "/sites/hr/_api/me"
GRANTED, NOT_APP_ONLY = "/sites/hr/lists/docs", "/sites/finance/lists/docs"


def _pinned_version() -> str:
    return str(json.loads((CLIENT_DIR / "package.json").read_text())["dependencies"]["node-sp-auth"])


def _installed_version() -> str | None:
    manifest = CLIENT_DIR / "node_modules" / "node-sp-auth" / "package.json"
    return str(json.loads(manifest.read_text())["version"]) if manifest.is_file() else None


def _npm(npm: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str] | None:
    """``npm args`` in the client's folder; None when it ran out of time."""
    try:
        return subprocess.run([npm, *args, "--loglevel=error"], cwd=CLIENT_DIR, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _install(npm: str) -> None:
    """``npm ci`` of exactly what package-lock.json pins (no scripts), unless it is already there."""
    if _installed_version() == _pinned_version():
        return
    done = _npm(npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", timeout=300)
    if done is not None and done.returncode == 0:
        return
    ping = _npm(npm, "ping", "--fetch-retries=0", timeout=60)
    if ping is None or ping.returncode != 0:
        pytest.skip("the npm registry cannot be reached: node-sp-auth cannot be installed")
    output = "timed out after 300 s" if done is None else f"{done.stdout}\n{done.stderr}"
    pytest.fail(f"npm ci failed in {CLIENT_DIR}: {output}", pytrace=False)


@dataclass(frozen=True)
class Farm:
    """The API on 127.0.0.1 trusting the add-in's issuer, and how node-sp-auth is run against it."""

    node: str
    site_url: str
    credentials: dict[str, str]
    identity: HighTrustIdentity
    guard: Guard

    def run_client(self, *paths: str) -> dict[str, Any]:
        """node-sp-auth's getAuth(), then each path requested with its headers; its JSON report."""
        request = json.dumps({"siteUrl": self.site_url, "credentials": self.credentials, "paths": list(paths)})
        done = subprocess.run([self.node, "client.cjs", request], cwd=CLIENT_DIR, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        return report


def _api(guard: Guard) -> Starlette:
    @requires(policy="app-only")
    async def web(request: Request) -> JSONResponse:
        app = request.user.app
        return JSONResponse({"client_id": app.client_id, "tenant": app.tenant})

    @requires(policy="user+app")
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.user.user.id})

    @requires(policy="app-only", right="Read", resource=lambda request: request.url.path)
    async def lists(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route(APP_ONLY, web), Route(USER_APP, me), Route("/sites/{site}/lists/docs", lists)])
    app.add_middleware(GuardMiddleware, guard=guard)
    return app


def _guard(identity: HighTrustIdentity, cert_file: Path, host: str) -> Guard:
    """The farm's trust: the issuer's certificate, the add-in's client id, an app-only grant on /sites/hr."""
    issuer = {"name": "node-addins", "profile": "sharepoint-high-trust", "issuer_id": identity.issuer_id,
              "realm": identity.realm, "certificates": [str(cert_file)], "hosts": [host],
              "algorithms": ["RS256"], "client_ids": [CLIENT_ID]}
    grants = [{"app": CLIENT_ID, "resource": "/sites/hr", "right": "Read", "app_only": True},
              {"app": CLIENT_ID, "resource": "/sites/finance", "right": "FullControl"}]  # user+app only
    return Guard.from_config({"audience": [identity.audience(host)], "issuers": [issuer], "grants": grants})


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed: the node-sp-auth interop test needs them")
    _install(npm)
    identity = HighTrustIdentity()
    folder = tmp_path_factory.mktemp("node-sp-auth")
    key_file, cert_file = folder / "spaddin.key", folder / "spaddin.cer"
    # the wiki's steps: the .pfx private key as PEM (openssl rsa), the certificate registered in the farm
    key_file.write_bytes(identity.key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()))
    cert_file.write_bytes(identity.certificate_pem)
    port = free_port()
    host = f"{HOST}:{port}"  # node-sp-auth puts url.parse(siteUrl).host, port included, in aud
    guard = _guard(identity, cert_file, host)
    credentials = {"clientId": CLIENT_ID, "issuerId": identity.issuer_id, "realm": identity.realm,
                   "rsaPrivateKeyPath": str(key_file), "shaThumbprint": identity.thumbprint}
    with serve_uvicorn(_api(guard), port=port):
        yield Farm(node, f"http://{host}/sites/hr/", credentials, identity, guard)


def _claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload = (json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
                       for part in token.split(".")[:2])
    return header, payload


def test_node_sp_auth_builds_the_documented_token(farm: Farm) -> None:
    """The token under test is node-sp-auth's own, in the shape the issue describes."""
    started = time.time()
    token = farm.run_client()["authorization"].removeprefix("Bearer ")
    header, claims = _claims(token)
    realm = farm.identity.realm
    assert header == {"typ": "JWT", "alg": "RS256", "x5t": farm.identity.thumbprint}
    assert claims["nameid"] == f"{CLIENT_ID}@{realm}"
    assert claims["iss"] == f"{farm.identity.issuer_id}@{realm}"
    assert claims["trustedfordelegation"] is True  # the JSON boolean, not SharePoint's "true"
    assert type(claims["nbf"]) is int and type(claims["exp"]) is int
    assert claims["exp"] - claims["nbf"] == 2 * HOURS_12  # a 24 h window ...
    assert abs(claims["nbf"] + HOURS_12 - started) < 60  # ... backdated 12 h


def test_app_only_routes_accept_node_sp_auth(farm: Farm) -> None:
    """App-only route: accepted; user+app route: refused (403, the token names no user)."""
    statuses = farm.run_client(APP_ONLY, USER_APP)["statuses"]
    assert statuses[APP_ONLY]["status"] == 200
    assert statuses[USER_APP]["status"] == 403
    assert 'error="insufficient_scope"' in statuses[USER_APP]["challenge"]


def test_the_grant_must_allow_app_only(farm: Farm) -> None:
    """[[grants]]: an app-only grant covers /sites/hr; the /sites/finance grant is for user+app only."""
    statuses = farm.run_client(GRANTED, NOT_APP_ONLY)["statuses"]
    assert statuses[GRANTED]["status"] == 200
    assert statuses[NOT_APP_ONLY]["status"] == 403


def test_the_principal_is_the_add_in(farm: Farm) -> None:
    token = farm.run_client()["authorization"].removeprefix("Bearer ")
    principal = farm.guard.authenticate_sync(f"Bearer {token}")
    assert principal.policy == "app-only" and principal.user is None
    assert principal.app is not None and principal.app.client_id == CLIENT_ID
    assert principal.app.tenant == farm.identity.realm


def test_wrapped_for_a_user_it_is_user_and_app(farm: Farm) -> None:
    """Why refusing the bare token would protect nothing: whoever holds it can already wrap it in an
    unsigned outer token naming any user, and the farm (and this guard) accept that as user+app."""
    actor = farm.run_client()["authorization"].removeprefix("Bearer ")
    host = farm.site_url.split("/")[2]
    outer = build_user_token(actor_token=actor, client_id=CLIENT_ID, realm=farm.identity.realm, host=host,
                             user=USER_SID, identity_provider=ACTIVE_DIRECTORY_IDP, now=time.time(), lifetime=300)
    with httpx.Client(base_url=f"http://{host}") as client:
        response = client.get(USER_APP, headers={"Authorization": f"Bearer {outer}"})
    assert response.status_code == 200 and response.json() == {"user": USER_SID}
