"""TokenExchangeAuth against the local issuer's /token: RFC 8693 and the Entra on-behalf-of form."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import jwt
import pytest
from client_support import AUD, CLIENT_ID, CLIENT_SECRET, Api

from s2s_guard.client import TokenCache, TokenEndpointError, TokenExchangeAuth
from s2s_guard.testing import LocalIssuer, mint_token


def _exchange(issuer: LocalIssuer, subject: str | Callable[[], str], **options: object) -> TokenExchangeAuth:
    params: dict[str, object] = {"client_secret": CLIENT_SECRET, "audience": AUD, "scope": "orders.read",
                                 "cache": TokenCache(), **options}
    return TokenExchangeAuth(issuer.token_url, CLIENT_ID, subject_token=subject, **params)  # type: ignore[arg-type]


def test_rfc8693_exchange_calls_as_user_and_app(issuer: LocalIssuer, serve_api: Callable[..., Api]) -> None:
    api = serve_api()
    incoming = issuer.user_token("alice", "web-app", scopes="orders.read profile", claims={"aud": "api://bff"})
    auth = _exchange(issuer, incoming)
    with httpx.Client(auth=auth) as client:
        body = client.get(api.url + "/whoami").json()
        assert client.get(api.url + "/whoami").status_code == 200
    assert body["policy"] == "user+app" and body["user"]["id"] == "alice"
    assert body["app"]["client_id"] == CLIENT_ID and body["scopes"] == ["orders.read"]
    assert issuer.hits["/token"] == 1
    form = [r.form for r in issuer.requests if r.path == "/token"][0]
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:token-exchange"]
    assert form["subject_token_type"] == ["urn:ietf:params:oauth:token-type:access_token"]
    assert form["subject_token"] == [incoming] and form["audience"] == [AUD]


def test_the_exchanged_token_carries_the_act_chain(issuer: LocalIssuer) -> None:
    incoming = mint_token(issuer, "act-chain", user="alice", client_id="web-app", actors=("edge",))
    auth = _exchange(issuer, incoming)
    with httpx.Client() as client:
        response = client.send(auth.token_request(issuer.clock()))
    assert response.json()["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["client_id"] == CLIENT_ID and claims["aud"] == AUD
    assert claims["act"] == {"sub": CLIENT_ID, "act": {"sub": "web-app", "act": {"sub": "edge"}}}


def test_entra_on_behalf_of_form(issuer: LocalIssuer, serve_api: Callable[..., Api]) -> None:
    api = serve_api()
    incoming = issuer.user_token("bob", "spa", scopes="orders.read")
    auth = _exchange(issuer, incoming, on_behalf_of=True, audience=None, resource=AUD)
    body = httpx.get(api.url + "/whoami", auth=auth).json()
    assert body["policy"] == "user+app" and body["user"]["id"] == "bob"
    form = [r.form for r in issuer.requests if r.path == "/token"][0]
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert form["requested_token_use"] == ["on_behalf_of"] and form["assertion"] == [incoming]
    assert "subject_token" not in form


def test_exchanges_are_cached_per_subject_token(issuer: LocalIssuer, serve_api: Callable[..., Api]) -> None:
    api, cache = serve_api(), TokenCache()
    current = {"token": issuer.user_token("alice", scopes="orders.read")}
    auth = _exchange(issuer, lambda: current["token"], cache=cache)  # e.g. read from a contextvar
    with httpx.Client(auth=auth) as client:
        assert client.get(api.url + "/whoami").json()["user"]["id"] == "alice"
        assert client.get(api.url + "/whoami").json()["user"]["id"] == "alice"
        current["token"] = issuer.user_token("carol", scopes="orders.read")
        assert client.get(api.url + "/whoami").json()["user"]["id"] == "carol"
    assert issuer.hits["/token"] == 2 and len(cache) == 2
    assert all(current["token"] not in part for key in cache._tokens for part in key)  # hashed keys


def test_a_dead_subject_token_is_refused(issuer: LocalIssuer) -> None:
    for subject in (mint_token(issuer, "expired"), mint_token(issuer, "stolen-kid"), "opaque-nonsense"):
        with pytest.raises(TokenEndpointError) as refused:
            httpx.get(issuer.jwks_uri, auth=_exchange(issuer, subject))
        assert refused.value.error == "invalid_request" and refused.value.status_code == 400
