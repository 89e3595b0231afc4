"""EntraLocalIssuer: https with a local CA, tenant-path endpoints, Entra's client credentials.

What MSAL Python needs from an authority (its ``authority.py``: tenant discovery at
``/{tenant}/v2.0/.well-known/openid-configuration``, ``authorization_endpoint`` and
``token_endpoint`` read from it, https only; ``application.py``: a cached token with under
5 minutes left is expired) and the Microsoft identity platform's client credentials flow
(one ``<resource>/.default`` scope; v2.0 access token claims reference). The MSAL client
itself runs in ``tests/interop/test_msal.py``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from s2s_guard import Guard
from s2s_guard.errors import InvalidAudience
from s2s_guard.testing import EntraLocalIssuer, LocalIssuer

ORDERS = "api://orders"
SECRET = "a-client-secret-for-tests"


@pytest.fixture(scope="module")
def entra() -> Iterator[EntraLocalIssuer]:
    with EntraLocalIssuer() as issuer:
        issuer.register_client("daemon", secret=SECRET)
        issuer.register_client("limited", secret=SECRET, resources=[ORDERS])
        issuer.grant_app_roles("daemon", ORDERS, ["Orders.Read.All", "Orders.Write.All"])
        yield issuer


@pytest.fixture(scope="module")
def http(entra: EntraLocalIssuer) -> Iterator[httpx.Client]:
    with httpx.Client(verify=entra.ca.client_context(), timeout=10) as client:
        yield client


def _token(http: httpx.Client, entra: EntraLocalIssuer, **form: str) -> httpx.Response:
    body = {"grant_type": "client_credentials", "client_id": "daemon", "client_secret": SECRET, **form}
    return http.post(entra.token_url, data=body)


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_tenant_discovery_is_what_msal_reads(entra: EntraLocalIssuer, http: httpx.Client) -> None:
    authority = f"https://127.0.0.1:{entra.url.rsplit(':', 1)[1]}/{entra.tenant_id}"
    assert entra.authority == authority
    document = http.get(f"{authority}/v2.0/.well-known/openid-configuration").json()
    assert document["issuer"] == f"{authority}/v2.0"
    assert document["authorization_endpoint"] == f"{authority}/oauth2/v2.0/authorize"
    assert document["token_endpoint"] == f"{authority}/oauth2/v2.0/token"
    assert document["jwks_uri"] == f"{authority}/discovery/v2.0/keys"
    keys = http.get(document["jwks_uri"]).json()["keys"]
    assert {k["kid"] for k in keys} == {k.kid for k in entra.keys} and {k["alg"] for k in keys} == {"RS256"}


def test_only_https_verified_with_its_own_ca(entra: EntraLocalIssuer) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(entra.discovery_url, verify=True, timeout=5)  # the system's CAs do not know it
    with pytest.raises(httpx.TransportError):
        httpx.get(entra.discovery_url.replace("https://", "http://"), timeout=5)
    for host in ("127.0.0.1", "localhost"):  # the certificate names both loopback forms
        url = entra.discovery_url.replace("127.0.0.1", host)
        assert httpx.get(url, verify=entra.ca.client_context(), timeout=5).status_code == 200


def test_default_scope_becomes_aud_with_the_granted_roles(entra: EntraLocalIssuer, http: httpx.Client) -> None:
    response = _token(http, entra, scope=f"{ORDERS}/.default")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == body["ext_expires_in"] == 3600
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "JWT"
    claims = _claims(body["access_token"])
    oid = entra.service_principal_id("daemon")
    assert claims["aud"] == ORDERS and claims["iss"] == entra.issuer and claims["tid"] == entra.tenant_id
    assert claims["roles"] == ["Orders.Read.All", "Orders.Write.All"]
    assert (claims["azp"], claims["azpacr"], claims["idtyp"], claims["ver"]) == ("daemon", "1", "app", "2.0")
    assert claims["oid"] == claims["sub"] == oid and uuid.UUID(oid)
    assert claims["exp"] - claims["iat"] == 3600 and "scp" not in claims and "jti" not in claims


def test_no_roles_claim_without_a_grant(entra: EntraLocalIssuer, http: httpx.Client) -> None:
    claims = _claims(_token(http, entra, scope="api://billing/.default").json()["access_token"])
    assert claims["aud"] == "api://billing" and "roles" not in claims


@pytest.mark.parametrize("scope", [None, "api://orders", "api://orders/Orders.Read", "/.default",
                                   "api://orders/.default api://billing/.default"])
def test_client_credentials_need_one_default_scope(entra: EntraLocalIssuer, http: httpx.Client,
                                                     scope: str | None) -> None:
    response = _token(http, entra, **({"scope": scope} if scope is not None else {}))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope" and response.json()["error_codes"] == [1002012]


def test_resource_outside_the_clients_allow_list(entra: EntraLocalIssuer, http: httpx.Client) -> None:
    response = _token(http, entra, client_id="limited", scope="api://billing/.default")
    assert response.status_code == 400 and response.json()["error"] == "invalid_resource"
    assert _token(http, entra, client_id="limited", scope=f"{ORDERS}/.default").status_code == 200


def test_bad_secret_other_grants_and_authorize(entra: EntraLocalIssuer, http: httpx.Client) -> None:
    assert _token(http, entra, client_secret="wrong", scope=f"{ORDERS}/.default").status_code == 401
    refused = _token(http, entra, grant_type="authorization_code", code="x")
    assert refused.status_code == 400 and refused.json()["error"] == "unsupported_grant_type"
    authorize = http.get(entra.authorization_url, params={"response_type": "code"})
    assert authorize.status_code == 400 and authorize.json()["error"] == "unsupported_response_type"


def _assertion(key: rsa.RSAPrivateKey, entra: EntraLocalIssuer, client_id: str, jti: str) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": entra.token_url, "iat": now, "exp": now + 600, "jti": jti}
    return jwt.encode(claims, key, algorithm="PS256", headers={"x5t#S256": "unused-here"})


def test_certificate_assertion_reusable_while_it_lives(entra: EntraLocalIssuer, http: httpx.Client) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    entra.register_client("cert-daemon", public_key=key.public_key())
    assertion = _assertion(key, entra, "cert-daemon", "one-jti")
    form = {"client_id": "cert-daemon", "scope": f"{ORDERS}/.default",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    for _ in range(2):  # Entra, and so MSAL, reuse an assertion until it expires
        response = http.post(entra.token_url, data={"grant_type": "client_credentials", **form})
        assert response.status_code == 200, response.text
        assert _claims(response.json()["access_token"])["azpacr"] == "2"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {**form, "client_assertion": _assertion(other, entra, "cert-daemon", "two-jti")}
    assert http.post(entra.token_url, data={"grant_type": "client_credentials", **forged}).status_code == 401


def test_plain_local_issuer_keeps_its_defaults() -> None:
    plain = LocalIssuer()
    assert plain.token_ttl == 300 and plain.reusable_assertions is False
    with plain:
        assert plain.url.startswith("http://") and plain.jwks_uri == plain.url + "/jwks"


def test_guard_trusts_the_tenant_through_discovery(entra: EntraLocalIssuer, http: httpx.Client) -> None:
    guard = Guard.from_config(entra.guard_config(audience=ORDERS))
    principal = guard.authenticate_sync("Bearer " + _token(http, entra, scope=f"{ORDERS}/.default")
                                        .json()["access_token"])
    assert principal.app is not None and principal.user is None
    assert (principal.app.client_id, principal.app.tenant) == ("daemon", entra.tenant_id)
    assert principal.scopes == {"Orders.Read.All", "Orders.Write.All"}
    other = _token(http, entra, scope="api://billing/.default").json()["access_token"]
    with pytest.raises(InvalidAudience):
        guard.authenticate_sync("Bearer " + other)
