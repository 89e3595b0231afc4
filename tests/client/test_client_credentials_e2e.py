"""ClientCredentialsAuth end to end: local issuer -> httpx -> uvicorn app behind GuardMiddleware.

Token requests are counted at the issuer (``hits["/token"]``) and API answers at the app.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from client_support import AUD, CLIENT_ID, CLIENT_SECRET, Api, stale_first_token
from cryptography.hazmat.primitives.asymmetric import ec

from s2s_guard.client import (ClientCredentialsAuth, TokenCache, TokenEndpointError,
                              TokenRequestFailed)
from s2s_guard.errors import ConfigurationError
from s2s_guard.testing import LocalIssuer


def _auth(issuer: LocalIssuer, **options: object) -> ClientCredentialsAuth:
    params: dict[str, object] = {"client_secret": CLIENT_SECRET, "resource": AUD,
                                 "scope": "orders.read", "cache": TokenCache(), **options}
    return ClientCredentialsAuth(issuer.token_url, CLIENT_ID, **params)  # type: ignore[arg-type]


def test_one_token_serves_many_calls(issuer: LocalIssuer, serve_api: Callable[..., Api]) -> None:
    api = serve_api()
    auth = _auth(issuer)
    with httpx.Client(auth=auth) as client:
        answers = [client.get(api.url + "/whoami") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert answers[0].json()["policy"] == "app-only"
    assert answers[0].json()["app"]["client_id"] == CLIENT_ID
    assert answers[0].json()["scopes"] == ["orders.read"]
    assert issuer.hits["/token"] == 1 and auth.token_requests == 1


def test_401_costs_one_new_token_and_one_retry(issuer: LocalIssuer, serve_api: Callable[..., Api]) -> None:
    api = serve_api()
    with httpx.Client(auth=_auth(issuer)) as client:
        stale_first_token(issuer)  # expired on arrival: the API answers 401, the client retries
        assert client.get(api.url + "/whoami").status_code == 200
        assert client.get(api.url + "/whoami").status_code == 200  # the new token is reused
    assert issuer.hits["/token"] == 2
    assert api.statuses == {401: 1, 200: 2}


def test_a_second_401_is_final(issuer: LocalIssuer, serve_api: Callable[..., Api]) -> None:
    api = serve_api(audience="api://elsewhere")  # refuses every token we can get
    with httpx.Client(auth=_auth(issuer)) as client:
        response = client.get(api.url + "/whoami")
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert issuer.hits["/token"] == 2 and api.statuses == {401: 2}
        assert client.get(api.url + "/whoami").status_code == 401
    assert issuer.hits["/token"] == 3 and api.statuses == {401: 4}  # never a loop


def test_the_retry_resends_a_streamed_body(issuer: LocalIssuer, serve_api: Callable[..., Api]) -> None:
    api = serve_api()
    stale_first_token(issuer)
    with httpx.Client(auth=_auth(issuer)) as client:
        response = client.post(api.url + "/whoami", content=iter([b"part one, ", b"part two"]))
    assert response.status_code == 200 and api.statuses == {401: 1, 200: 1}


def test_tokens_are_cached_per_resource_and_scope(issuer: LocalIssuer, serve_api: Callable[..., Api]) -> None:
    api, cache = serve_api(), TokenCache()
    same = [_auth(issuer, cache=cache), _auth(issuer, cache=cache, scope=["orders.read"])]
    other = _auth(issuer, cache=cache, scope="orders.read orders.write")
    with httpx.Client() as client:
        for auth in (*same, other, *same):
            assert client.get(api.url + "/whoami", auth=auth).status_code == 200
    assert issuer.hits["/token"] == 2 and len(cache) == 2


def test_a_token_is_replaced_shortly_before_it_expires(issuer: LocalIssuer,
                                                       serve_api: Callable[..., Api]) -> None:
    api, now = serve_api(), [1000.0]
    auth = _auth(issuer, clock=lambda: now[0])  # the client's clock only drives its cache
    with httpx.Client(auth=auth) as client:
        client.get(api.url + "/whoami")
        now[0] += issuer.token_ttl - 31  # still more than the 30 s margin of a 300 s token
        client.get(api.url + "/whoami")
        assert issuer.hits["/token"] == 1
        now[0] += 2
        client.get(api.url + "/whoami")
    assert issuer.hits["/token"] == 2


def test_resource_indicators_and_scope_reach_the_token_endpoint(issuer: LocalIssuer) -> None:
    auth = _auth(issuer, resource=[AUD, "api://invoices"], scope=["orders.write", "orders.read"])
    token = auth.token_request(0).read()
    assert b"resource=api%3A%2F%2Forders&resource=api%3A%2F%2Finvoices" in token
    with httpx.Client(auth=auth) as client:
        client.get(issuer.jwks_uri)
    form = [r for r in issuer.requests if r.path == "/token"][0].form
    assert form["resource"] == [AUD, "api://invoices"]
    assert form["scope"] == ["orders.read orders.write"] and form["grant_type"] == ["client_credentials"]


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_secret_methods(issuer: LocalIssuer, serve_api: Callable[..., Api], method: str) -> None:
    api = serve_api()
    issuer.register_client("odd:id", secret="p@ss:w/rd+%", scopes=["orders.read"])
    auth = ClientCredentialsAuth(issuer.token_url, "odd:id", client_secret="p@ss:w/rd+%",
                                 auth_method=method, resource=AUD, cache=TokenCache())  # type: ignore[arg-type]
    assert httpx.get(api.url + "/whoami", auth=auth).json()["app"]["client_id"] == "odd:id"
    token_request = [r for r in issuer.requests if r.path == "/token"][0]
    assert ("client_secret" in token_request.form) == (method == "client_secret_post")
    assert (token_request.header("authorization") is not None) == (method == "client_secret_basic")


def test_private_key_jwt(issuer: LocalIssuer, serve_api: Callable[..., Api]) -> None:
    api = serve_api()
    key = ec.generate_private_key(ec.SECP256R1())
    issuer.register_client("signer", public_key=key.public_key(), scopes=["orders.read"])
    cache = TokenCache()
    auth = ClientCredentialsAuth(issuer.token_url, "signer", private_key=key, key_id="k1",
                                 resource=AUD, cache=cache)
    with httpx.Client(auth=auth) as client:
        assert client.get(api.url + "/whoami").json()["app"]["client_id"] == "signer"
        cache.clear()
        assert client.get(api.url + "/whoami").status_code == 200  # a new assertion, new jti
    forms = [r.form for r in issuer.requests if r.path == "/token"]
    assert len(forms) == 2 and forms[0]["client_assertion"] != forms[1]["client_assertion"]
    assert forms[0]["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assert len(issuer.seen_assertions) == 2


def test_token_endpoint_refusals_raise_client_errors(issuer: LocalIssuer) -> None:
    with pytest.raises(TokenEndpointError) as bad_secret:
        httpx.get(issuer.jwks_uri, auth=_auth(issuer, client_secret="wrong"))
    assert bad_secret.value.status_code == 401 and bad_secret.value.error == "invalid_client"
    assert "wrong" not in str(bad_secret.value)
    with pytest.raises(TokenEndpointError) as bad_scope:
        httpx.get(issuer.jwks_uri, auth=_auth(issuer, scope="admin"))
    assert bad_scope.value.error == "invalid_scope" and bad_scope.value.status_code == 400
    issuer.routes["/token"] = lambda iss: (200, b"<html>login</html>", "text/html")
    with pytest.raises(TokenEndpointError, match="not a JSON object"):
        httpx.get(issuer.jwks_uri, auth=_auth(issuer))
    issuer.routes["/token"] = lambda iss: (200, b'{"access_token": "x", "token_type": "mac"}', "application/json")
    with pytest.raises(TokenEndpointError, match="not Bearer"):
        httpx.get(issuer.jwks_uri, auth=_auth(issuer))


def test_an_unreachable_token_endpoint_raises_token_request_failed(issuer: LocalIssuer) -> None:
    url = issuer.token_url
    issuer.stop()
    auth = ClientCredentialsAuth(url, CLIENT_ID, client_secret=CLIENT_SECRET, cache=TokenCache(), timeout=2)
    with pytest.raises(TokenRequestFailed) as failed:
        httpx.get("http://127.0.0.1:9/never", auth=auth)
    assert isinstance(failed.value.__cause__, httpx.ConnectError) and failed.value.token_url == url


def test_bad_options_fail_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        ClientCredentialsAuth("http://x/token", "c", client_secret="s", private_key=b"k")
    with pytest.raises(ConfigurationError, match="client_secret"):
        ClientCredentialsAuth("http://x/token", "c", auth_method="client_secret_post")
    with pytest.raises(ConfigurationError, match="PEM"):
        ClientCredentialsAuth("http://x/token", "c", private_key=b"not a key")
    with pytest.raises(ConfigurationError, match="absolute URI"):
        ClientCredentialsAuth("http://x/token", "c", client_secret="s", resource="orders")
