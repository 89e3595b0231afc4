"""Microsoft's own client, MSAL Python, against the testing kit's Entra-compatible issuer.

A daemon written with ``msal.ConfidentialClientApplication`` (client secret, then certificate
assertion: RFC 7523 private_key_jwt) gets app-only tokens from :class:`EntraLocalIssuer` over
https and calls an API guarded by s2s_guard (``entra`` profile, keys through the tenant's
discovery document, verified with the issuer's CA bundle) served by uvicorn on 127.0.0.1.

``msal`` is installed at test time (see ``pip_target.py``); the tests skip only when the
package index cannot be reached. Sources: MSAL Python's ``ClientApplication`` reference
(``authority``, ``instance_discovery``, ``verify``, ``client_credential`` with ``private_key``
and ``thumbprint``) and the Microsoft identity platform access token claims reference.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID
from loopback import serve_uvicorn
from pip_target import install
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from s2s_guard import Guard, GuardMiddleware, requires
from s2s_guard.testing.entra import EntraLocalIssuer

MSAL = ["msal==1.39.0", "requests>=2.32,<3", "urllib3>=2,<3", "charset-normalizer>=3,<4"]
ORDERS, BILLING = "api://orders", "api://billing"
SECRET = "daemon-secret-value-0123456789"


@pytest.fixture(scope="module")
def msal() -> ModuleType:
    install("msal", MSAL)
    import msal as module

    return module


@pytest.fixture(scope="module")
def entra() -> Iterator[EntraLocalIssuer]:
    with EntraLocalIssuer() as issuer:
        issuer.register_client("secret-daemon", secret=SECRET)
        issuer.grant_app_roles("secret-daemon", ORDERS, ["Orders.Read.All"])
        yield issuer


@requires(policy="app-only", scopes=["Orders.Read.All"])
async def read_orders(request: Request) -> JSONResponse:
    app = request.user.app
    return JSONResponse({"app": app.client_id, "tenant": app.tenant, "roles": sorted(request.auth.scopes)})


@requires(policy="user+app")
async def my_orders(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.user.id})


@pytest.fixture(scope="module")
def api(entra: EntraLocalIssuer) -> Iterator[str]:
    """The guarded API on loopback: it trusts the local tenant as it would trust Entra ID."""
    guard = Guard.from_config(entra.guard_config(audience=ORDERS))
    app = Starlette(routes=[Route("/orders", read_orders), Route("/me/orders", my_orders)])
    with serve_uvicorn(GuardMiddleware(app, guard=guard)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def session(msal: ModuleType, entra: EntraLocalIssuer) -> Iterator[Any]:
    """MSAL's http client: requests verifying the issuer with the local CA.

    ``verify=ca_bundle`` alone is not enough where ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``
    is set: requests lets the environment override a session's ``verify`` (psf/requests#3829).
    """
    import requests

    with requests.Session() as http:
        http.trust_env = False
        http.verify = entra.ca_bundle
        yield http


def _daemon(session: Any, entra: EntraLocalIssuer, client_id: str, credential: Any) -> Any:
    import msal

    return msal.ConfidentialClientApplication(
        client_id, client_credential=credential, authority=entra.authority,
        instance_discovery=False,  # 127.0.0.1 is no Microsoft cloud: no instance discovery
        http_client=session)


def _token(result: dict[str, Any]) -> str:
    assert "access_token" in result, result
    return str(result["access_token"])


def _call(api: str, path: str, token: str) -> httpx.Response:
    return httpx.get(api + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _certificate(client_id: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, client_id)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return key, cert


def test_secret_daemon_calls_the_guarded_api(session: Any, entra: EntraLocalIssuer, api: str) -> None:
    daemon = _daemon(session, entra, "secret-daemon", SECRET)
    token = _token(daemon.acquire_token_for_client(scopes=[f"{ORDERS}/.default"]))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == ORDERS and claims["idtyp"] == "app" and claims["azpacr"] == "1"
    response = _call(api, "/orders", token)
    assert response.status_code == 200, response.text
    assert response.json() == {"app": "secret-daemon", "tenant": entra.tenant_id, "roles": ["Orders.Read.All"]}


def test_msal_keeps_the_hour_long_token_in_its_cache(session: Any, entra: EntraLocalIssuer) -> None:
    daemon = _daemon(session, entra, "secret-daemon", SECRET)
    before = entra.hits[_path(entra.token_url)]
    first = daemon.acquire_token_for_client(scopes=[f"{ORDERS}/.default"])
    second = daemon.acquire_token_for_client(scopes=[f"{ORDERS}/.default"])
    assert _token(first) == _token(second)  # under 5 minutes left, MSAL would fetch again
    assert second["token_source"] == "cache" and first["expires_in"] > 3000
    assert entra.hits[_path(entra.token_url)] == before + 1


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_certificate_daemon_uses_private_key_jwt(session: Any, entra: EntraLocalIssuer, api: str) -> None:
    key, cert = _certificate("cert-daemon")
    entra.register_client("cert-daemon", public_key=cert.public_key())
    entra.grant_app_roles("cert-daemon", ORDERS, ["Orders.Read.All"])
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    credential = {"private_key": pem, "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}  # MSAL: x5t
    daemon = _daemon(session, entra, "cert-daemon", credential)
    token = _token(daemon.acquire_token_for_client(scopes=[f"{ORDERS}/.default"]))
    assertion = entra.requests[-1].param("client_assertion")
    assert assertion is not None and entra.requests[-1].param("client_secret") is None
    assert jwt.decode(assertion, options={"verify_signature": False})["aud"] == entra.token_url
    assert jwt.decode(token, options={"verify_signature": False})["azpacr"] == "2"  # certificate
    assert _call(api, "/orders", token).status_code == 200
    # MSAL reuses its assertion for about 10 minutes, as Entra allows: a second resource works too
    other = daemon.acquire_token_for_client(scopes=[f"{BILLING}/.default"])
    assert jwt.decode(_token(other), options={"verify_signature": False})["aud"] == BILLING


def test_a_certificate_the_issuer_does_not_know_is_refused(session: Any, entra: EntraLocalIssuer) -> None:
    key, _ = _certificate("cert-daemon-2")
    _, registered = _certificate("cert-daemon-2")
    entra.register_client("cert-daemon-2", public_key=registered.public_key())
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    daemon = _daemon(session, entra, "cert-daemon-2", {"private_key": pem, "thumbprint": "00" * 20})
    result = daemon.acquire_token_for_client(scopes=[f"{ORDERS}/.default"])
    assert result.get("error") == "invalid_client"


def test_app_only_token_is_refused_on_a_user_route(session: Any, entra: EntraLocalIssuer, api: str) -> None:
    token = _token(_daemon(session, entra, "secret-daemon", SECRET).acquire_token_for_client(
        scopes=[f"{ORDERS}/.default"]))
    response = _call(api, "/me/orders", token)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_without_the_app_role_the_api_refuses(session: Any, entra: EntraLocalIssuer, api: str) -> None:
    entra.register_client("roleless-daemon", secret=SECRET)
    token = _token(_daemon(session, entra, "roleless-daemon", SECRET).acquire_token_for_client(
        scopes=[f"{ORDERS}/.default"]))
    assert "roles" not in jwt.decode(token, options={"verify_signature": False})
    assert _call(api, "/orders", token).status_code == 403


def test_a_token_for_another_resource_is_refused(session: Any, entra: EntraLocalIssuer, api: str) -> None:
    token = _token(_daemon(session, entra, "secret-daemon", SECRET).acquire_token_for_client(
        scopes=[f"{BILLING}/.default"]))
    assert _call(api, "/orders", token).status_code == 401  # aud api://billing, the API is api://orders


def test_entra_errors_reach_msal(session: Any, entra: EntraLocalIssuer) -> None:
    wrong = _daemon(session, entra, "secret-daemon", "not-the-secret").acquire_token_for_client(
        scopes=[f"{ORDERS}/.default"])
    assert wrong.get("error") == "invalid_client"
    no_default = _daemon(session, entra, "secret-daemon", SECRET).acquire_token_for_client(
        scopes=[f"{ORDERS}/Orders.Read"])
    assert no_default.get("error") == "invalid_scope" and 1002012 in no_default.get("error_codes", [])
