"""LocalIssuer over real HTTP: discovery, /token, /introspect, the SharePoint metadata document."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from s2s_guard.client._client_auth import client_authentication
from s2s_guard.testing import LocalIssuer, SigningKey, generate_key

AUD = "api://orders"
SECRET = "resource-server-secret-0123456789"


@pytest.fixture(scope="module")
def keys() -> list[SigningKey]:
    return [generate_key("ES256", kid="es")]  # keys made once, reused by every issuer below


@pytest.fixture
def issuer(keys: list[SigningKey]) -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("ES256",), keys=keys) as iss:
        iss.register_client("api", secret=SECRET)
        iss.register_client("daemon", secret="daemon-secret", scopes=["orders.read"], resources=[AUD, "api://b"])
        yield iss


def _token(issuer: LocalIssuer, auth: tuple[str, str] = ("daemon", "daemon-secret"),
           **form: str | list[str]) -> httpx.Response:
    return httpx.post(issuer.token_url, data={"grant_type": "client_credentials", **form}, auth=auth)


def test_discovery_documents(issuer: LocalIssuer) -> None:
    oidc = httpx.get(issuer.url + "/.well-known/openid-configuration").json()
    rfc8414 = httpx.get(issuer.url + "/.well-known/oauth-authorization-server").json()
    assert oidc == rfc8414
    assert oidc["issuer"] == issuer.issuer and oidc["jwks_uri"] == issuer.jwks_uri
    assert oidc["token_endpoint"] == issuer.token_url
    assert oidc["introspection_endpoint"] == issuer.introspection_url
    assert "client_credentials" in oidc["grant_types_supported"]
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in oidc["grant_types_supported"]
    assert oidc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post",
                                                             "private_key_jwt"]
    assert httpx.get(issuer.jwks_uri).json()["keys"][0]["kid"] == "es"


def test_client_credentials_with_resource_indicators(issuer: LocalIssuer) -> None:
    answer = _token(issuer, resource=[AUD, "api://b"], scope="orders.read")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300 and body["scope"] == "orders.read"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == [AUD, "api://b"] and claims["sub"] == claims["client_id"] == "daemon"
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    assert issuer.hits["/token"] == 1


@pytest.mark.parametrize(("form", "auth", "status", "error"), [
    ({"resource": "api://not-allowed"}, ("daemon", "daemon-secret"), 400, "invalid_target"),
    ({"resource": "orders"}, ("daemon", "daemon-secret"), 400, "invalid_target"),
    ({"scope": "orders.write"}, ("daemon", "daemon-secret"), 400, "invalid_scope"),
    ({}, ("daemon", "nope"), 401, "invalid_client"),
    ({}, ("nobody", "daemon-secret"), 401, "invalid_client"),
    ({"grant_type": "password"}, ("daemon", "daemon-secret"), 400, "unsupported_grant_type"),
])
def test_token_endpoint_errors(issuer: LocalIssuer, form: dict[str, str], auth: tuple[str, str],
                               status: int, error: str) -> None:
    answer = _token(issuer, auth=auth, **form)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Basic ")


def test_client_secret_post_and_public_clients(issuer: LocalIssuer) -> None:
    posted = httpx.post(issuer.token_url, data={"grant_type": "client_credentials", "client_id": "daemon",
                                                "client_secret": "daemon-secret"})
    assert posted.status_code == 200
    anonymous = httpx.post(issuer.token_url, data={"grant_type": "client_credentials", "client_id": "daemon"})
    assert anonymous.status_code == 401 and "www-authenticate" not in anonymous.headers
    issuer.register_client("cli", public=True)
    public = httpx.post(issuer.token_url, data={"grant_type": "client_credentials", "client_id": "cli"})
    assert public.status_code == 200
    assert httpx.get(issuer.token_url).status_code == 405


def test_private_key_jwt_assertions_are_checked_and_single_use(issuer: LocalIssuer) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer.register_client("signer", public_key=key.public_key())
    credentials = client_authentication("signer", private_key=key)
    form: dict[str, str] = {"grant_type": "client_credentials"}
    credentials.apply(form, issuer.token_url, issuer.clock())
    assert httpx.post(issuer.token_url, data=form).status_code == 200
    assert httpx.post(issuer.token_url, data=form).json()["error"] == "invalid_client"  # replayed jti
    stranger = client_authentication("signer", private_key=ec.generate_private_key(ec.SECP256R1()))
    stranger.apply(form, issuer.token_url, issuer.clock())
    assert httpx.post(issuer.token_url, data=form).status_code == 401  # wrong key
    elsewhere = client_authentication("signer", private_key=key, assertion_audience="https://other.example")
    elsewhere.apply(form, issuer.token_url, issuer.clock())
    assert httpx.post(issuer.token_url, data=form).status_code == 401  # aud is not this server


def test_opaque_tokens_are_introspected(issuer: LocalIssuer) -> None:
    issuer.opaque_resources.add("api://b")
    token = _token(issuer, resource="api://b").json()["access_token"]
    assert token.count(".") == 0
    answer = httpx.post(issuer.introspection_url, data={"token": token}, auth=("api", SECRET)).json()
    assert answer["active"] is True and answer["client_id"] == "daemon" and answer["aud"] == "api://b"
    assert answer["iss"] == issuer.issuer and answer["scope"] == "orders.read"
    assert {"exp", "iat", "sub"} <= set(answer)
    issuer.revoke(token)
    again = httpx.post(issuer.introspection_url, data={"token": token}, auth=("api", SECRET))
    assert again.json() == {"active": False}
    assert issuer.hits["/introspect"] == 2


def test_introspection_of_jwts_and_of_garbage(issuer: LocalIssuer) -> None:
    jwt_token = issuer.app_token("daemon", scopes="orders.read", alg="ES256")
    answer = httpx.post(issuer.introspection_url, data={"token": jwt_token}, auth=("api", SECRET)).json()
    assert answer["active"] is True and answer["sub"] == "daemon"
    expired = issuer.app_token("daemon", alg="ES256", ttl=-10)
    for token in (expired, "garbage"):
        dead = httpx.post(issuer.introspection_url, data={"token": token}, auth=("api", SECRET))
        assert dead.json() == {"active": False}


def test_introspection_needs_client_authentication(issuer: LocalIssuer) -> None:
    assert httpx.post(issuer.introspection_url, data={"token": "x"}).status_code == 401
    assert httpx.post(issuer.introspection_url, data={"token": "x"}, auth=("api", "bad")).status_code == 401
    assert httpx.post(issuer.introspection_url, data={}, auth=("api", SECRET)).status_code == 400


def test_endpoints_can_be_slowed_disabled_or_failed(issuer: LocalIssuer) -> None:
    issuer.disabled.add("/introspect")
    down = httpx.post(issuer.introspection_url, data={"token": "x"}, auth=("api", SECRET))
    assert down.status_code == 503 and down.headers["retry-after"] == "1"
    issuer.delays["/introspect"] = 0.3
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(issuer.introspection_url, data={"token": "x"}, auth=("api", SECRET), timeout=0.05)
    issuer.fail_with = 502
    assert httpx.get(issuer.jwks_uri).status_code == 502
    assert issuer.hits["/introspect"] == 2 and issuer.hits["/jwks"] == 1


def test_custom_routes_old_and_new_forms(issuer: LocalIssuer) -> None:
    issuer.routes["/old"] = lambda iss: (200, b'{"old": true}', "application/json")
    issuer.routes["/new"] = lambda iss, request: (201, (request.param("q") or "").encode(), "text/plain")
    assert httpx.get(issuer.url + "/old").json() == {"old": True}
    assert httpx.post(issuer.url + "/new", data={"q": "x"}).status_code == 201
    assert httpx.get(issuer.url + "/missing").status_code == 404
    def broken(iss: LocalIssuer) -> tuple[int, bytes, str]:
        raise RuntimeError("a bug in a test route")

    issuer.routes["/broken"] = broken
    assert httpx.get(issuer.url + "/broken").json() == {"error": "server_error"}


def test_sharepoint_metadata_document(issuer: LocalIssuer) -> None:
    document = httpx.get(issuer.url + "/_layouts/15/metadata/json/1").json()
    sp = issuer.sharepoint
    assert document["realm"] == sp.realm and document["issuer"] == f"{sp.issuer_id}@{sp.realm}"
    (key,) = document["keys"]
    assert key["usage"] == "signing" and key["keyValue"]["type"] == "x509Certificate"
    der = base64.b64decode(key["keyValue"]["value"])
    assert x509.load_der_x509_certificate(der) == sp.certificate
    thumbprint = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
    assert key["keyValue"]["keyInfo"]["x5t"] == thumbprint == sp.thumbprint
    assert document["endpoints"] == [{"location": issuer.token_url, "protocol": "OAuth2", "usage": "issuance"}]
