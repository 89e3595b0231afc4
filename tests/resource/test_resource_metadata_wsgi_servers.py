"""RFC 9728 over real HTTP servers on 127.0.0.1 for every WSGI adapter, signed
metadata as clients fetch it, and ``resource_metadata`` in DPoP challenges too.

``test_resource_metadata_adapters.py`` runs Flask, bare WSGI, Django and DRF through in-process
test clients (only the Starlette and FastAPI variants under uvicorn). Here the same apps
(``resource_kit``) are served by ``wsgiref`` on loopback, and the signed document (RFC 9728
§2.2) and the DPoP challenge (RFC 9449 §7.1 next to RFC 9728 §5.1) are read from uvicorn.
"""
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from loopback import serve_uvicorn, serve_wsgi
from resource_kit import (METADATA_PATH, METADATA_URL, RESOURCE, config_for, django_settings, flask_app,
                          starlette_app, wsgi_app)

from s2s_guard.testing import LocalIssuer, mint_token
from s2s_guard.testing.dpop import DPoPKey, bound_token


def _wsgiref(app: Any) -> Iterator[httpx.Client]:
    with serve_wsgi(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield client


def _django_wsgi(config: dict[str, Any], kind: str) -> Iterator[httpx.Client]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    with override_settings(**django_settings(config, kind)):
        yield from _wsgiref(WSGIHandler())


SERVERS: dict[str, Callable[[dict[str, Any]], Iterator[httpx.Client]]] = {
    "flask": lambda c: _wsgiref(flask_app(c)),
    "wsgi": lambda c: _wsgiref(wsgi_app(c)),
    "django": lambda c: _django_wsgi(c, "sync"),
    "drf": lambda c: _django_wsgi(c, "drf"),
}


@pytest.fixture(scope="module", params=list(SERVERS))
def served(request: pytest.FixtureRequest, issuer: LocalIssuer, django_ready: None) -> Iterator[httpx.Client]:
    yield from SERVERS[request.param](config_for(issuer))


def test_wsgi_servers_answer_the_document_without_a_token(served: httpx.Client, issuer: LocalIssuer) -> None:
    r = served.get(METADATA_PATH, headers={"Authorization": "Bearer x.y.z"})  # a bad token changes nothing
    assert r.status_code == 200, r.text
    assert r.json() == {"resource": RESOURCE, "authorization_servers": [issuer.issuer],
                        "scopes_supported": ["orders.read"], "bearer_methods_supported": ["header"],
                        "resource_name": "Orders API"}
    assert "www-authenticate" not in r.headers
    head = served.head(METADATA_PATH)
    assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize(("path", "token", "status"), [
    ("/orders", None, 401),
    ("/orders", lambda i: i.app_token(ttl=-600), 401),
    ("/orders", lambda i: i.app_token(scopes="orders.write"), 403),
    ("/relay", lambda i: i.user_token("alice", "web-app"), 403),
    ("/relay", lambda i: mint_token(i, "act-chain", client_id="gateway", actors=("edge", "mobile")), 403),
])
def test_wsgi_servers_name_the_metadata_in_every_challenge(served: httpx.Client, issuer: LocalIssuer, path: str,
                                                           token: Callable[[LocalIssuer], str] | None,
                                                           status: int) -> None:
    headers = {} if token is None else {"Authorization": "Bearer " + token(issuer)}
    r = served.get(path, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["www-authenticate"].startswith("Bearer ")
    assert f'resource_metadata="{METADATA_URL}"' in r.headers["www-authenticate"]


def test_wsgi_servers_accept_a_good_token(served: httpx.Client, issuer: LocalIssuer) -> None:
    r = served.get("/orders", headers={"Authorization": "Bearer " + issuer.app_token("daemon", scopes="orders.read")})
    assert r.status_code == 200 and r.json() == {"policy": "app-only", "id": "daemon"}


# -- uvicorn: the signed document, and DPoP challenges ---------------------------------------------

def _uvicorn(app: Any) -> Iterator[httpx.Client]:
    with (serve_uvicorn(app, lifespan="auto") as port,
          httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client):
        yield client


def test_signed_metadata_served_by_a_real_server_verifies(issuer: LocalIssuer, tmp_path: Path) -> None:
    """RFC 9728 §2.2: ``signed_metadata`` is a JWS of the members, verifiable with the signer's key."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "metadata-signer.pem"
    pem.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    config = config_for(issuer)
    config["resource_metadata"] = {**config["resource_metadata"], "jwks_uri": "https://api.example.test/jwks",
                                   "signed": {"key_file": str(pem), "issuer": "https://signer.example.test",
                                              "kid": "md-1"}}
    for client in _uvicorn(starlette_app(config)):
        r = client.get(METADATA_PATH)
    assert r.status_code == 200
    document = r.json()
    signed = document.pop("signed_metadata")
    assert jwt.get_unverified_header(signed) == {"alg": "ES256", "kid": "md-1", "typ": "JWT"}
    claims = jwt.decode(signed, key.public_key(), algorithms=["ES256"], issuer="https://signer.example.test")
    assert {k: v for k, v in claims.items() if k not in ("iss", "iat")} == document
    assert document["jwks_uri"] == "https://api.example.test/jwks"


def test_dpop_challenges_name_the_metadata_too(issuer: LocalIssuer) -> None:
    """With ``dpop = "allowed"``, both the Bearer and the DPoP challenge carry ``resource_metadata``."""
    config = config_for(issuer)
    config["issuers"][0]["dpop"] = "allowed"
    key = DPoPKey()
    token = bound_token(issuer, key, scopes="orders.read")
    for client in _uvicorn(starlette_app(config)):
        url = str(client.base_url.join("/orders"))
        proof = key.proof("GET", url, access_token=token)
        ok = client.get("/orders", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        replay = client.get("/orders", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        bare = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
        missing = client.get("/orders")
    assert ok.status_code == 200, ok.text
    for refused in (replay, bare, missing):
        assert refused.status_code == 401
        challenge = refused.headers["www-authenticate"]
        assert challenge.count(f'resource_metadata="{METADATA_URL}"') == 2, challenge  # Bearer and DPoP
        assert "DPoP " in challenge and 'algs="' in challenge
    assert replay.json()["error"] == "invalid_dpop_proof"
    assert json.loads(bare.content)["error"] == "invalid_token"
