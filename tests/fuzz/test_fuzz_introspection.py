"""Property test of RFC 7662 introspection: whatever the endpoint answers, the guard maps or refuses.

The endpoint is the project's own ``LocalIssuer`` on 127.0.0.1 with its ``/introspect`` route
replaced by one that answers the generated status and body; nothing is cached between examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2s_guard import AuthError, Guard, Principal
from s2s_guard.testing import LocalIssuer

from fuzz_kit import AUD, ISS, NOW, json_values

Answer = tuple[int, bytes, str]


class Endpoint:
    """The answer the replaced ``/introspect`` route gives, set per example."""

    def __init__(self) -> None:
        self.answer: Answer = (200, b'{"active": false}', "application/json")

    def route(self, issuer: LocalIssuer, request: object) -> Answer:
        return self.answer


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[Endpoint, Guard]]:
    with LocalIssuer(issuer=ISS, audience=AUD, algorithms=("RS256",)) as issuer:
        answers = Endpoint()
        issuer.routes["/introspect"] = answers.route
        guard = Guard.from_config({
            "audience": [AUD], "issuers": [{"issuer": ISS, "algorithms": ["RS256"], "jwks_uri": issuer.jwks_uri}],
            "introspection": {"endpoint": issuer.introspection_url, "client_id": "orders-api",
                              "client_secret": "orders-api-secret-0123456789abcdef", "timeout": 2,
                              "cache_ttl": 0, "negative_ttl": 0}}, clock=lambda: NOW)
        yield answers, guard


@st.composite
def introspection_bodies(draw: st.DrawFn) -> bytes:
    """Mostly plausible responses with junk members; sometimes not JSON at all."""
    members: dict[str, st.SearchStrategy[Any]] = {
        "active": st.one_of(st.just(True), json_values()),
        "iss": st.one_of(st.just(ISS), json_values()), "aud": st.one_of(st.just(AUD), json_values()),
        "exp": st.one_of(st.just(NOW + 300), json_values()), "nbf": json_values(), "iat": json_values(),
        "client_id": st.one_of(st.just("daemon"), json_values()), "sub": json_values(),
        "scope": st.one_of(st.just("orders.read"), json_values()), "act": json_values(),
        "jti": json_values(), "token_type": json_values()}
    body = draw(st.fixed_dictionaries({}, optional=members))
    return draw(st.one_of(st.just(json.dumps(body).encode()), st.binary(max_size=60)))


@settings(max_examples=max(30, settings().max_examples // 3))  # an HTTP round trip per example
@given(st.sampled_from([200, 200, 200, 400, 401, 500, 503]), introspection_bodies(),
       st.sampled_from(["application/json", "text/html", "application/token-introspection+jwt"]),
       st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=8, max_size=40))
def test_any_introspection_answer_maps_or_refuses(endpoint: tuple[Endpoint, Guard], status: int, body: bytes,
                                                  content_type: str, token: str) -> None:
    """RFC 7662 §2.2-2.3: a Principal only for ``active: true`` with this audience; else 401 or 503."""
    answers, guard = endpoint
    answers.answer = (status, body, content_type)
    try:
        principal = guard.authenticate_sync("Bearer " + token)
    except AuthError as exc:
        assert exc.status_code in (401, 503)
        return
    assert isinstance(principal, Principal)
    response = json.loads(body)
    assert status == 200 and response["active"] is True and AUD in (
        response["aud"] if isinstance(response["aud"], list) else [response["aud"]])
