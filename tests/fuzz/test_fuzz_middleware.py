"""Property tests of GuardMiddleware over raw ASGI: arbitrary header bytes never make a 500.

Whatever bytes arrive (several Authorization headers, 8-bit values, query strings, paths,
websocket handshakes), the response is the app's 200, a refusal (400, 401, 403) or 503 with
``Retry-After``, and a refusal always carries the RFC 6750 challenge and JSON body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import anyio
from hypothesis import given
from hypothesis import strategies as st

from s2s_guard import Requirement

from fuzz_kit import (GUARD, QUERY_GUARD, VALID, authorization_values, body_of, guarded_app, http_scope,
                      mutated_tokens, run_asgi)

APP = guarded_app(GUARD)
SCOPED_APP = guarded_app(GUARD, Requirement(policy="app-only", scopes=["orders.read"]))
QUERY_APP = guarded_app(QUERY_GUARD)
REFUSALS = {400: "invalid_request", 401: "invalid_token", 403: "insufficient_scope",
            503: "temporarily_unavailable"}


def header_bytes() -> st.SearchStrategy[bytes]:
    """Authorization values as bytes: made-up, mutated tokens, and arbitrary octets."""
    return st.one_of(authorization_values().map(lambda v: v.encode("utf-8")),
                     mutated_tokens().map(lambda t: b"Bearer " + t.encode("utf-8")),
                     st.sampled_from(VALID).map(lambda t: b"Bearer " + t.encode()),
                     st.binary(max_size=200))


def headers() -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    authorization = st.tuples(st.sampled_from([b"authorization"]), header_bytes())
    other = st.tuples(st.sampled_from([b"x-forwarded-for", b"cookie", b"authorization-x", b"host"]),
                      st.binary(max_size=40))
    return st.lists(st.one_of(authorization, authorization, other), max_size=3)


def check_http(messages: list[dict[str, Any]]) -> int:
    """The response is complete and well-formed; return its status."""
    start = next(m for m in messages if m["type"] == "http.response.start")
    status = int(start["status"])
    assert status in (200, *REFUSALS), status
    response_headers = {k.lower(): v for k, v in start["headers"]}
    if status != 200:
        assert response_headers[b"cache-control"] == b"no-store"
        body = body_of(messages)
        if status == 503:
            assert response_headers[b"retry-after"].isdigit() and body["error"] == REFUSALS[503]
        else:
            assert response_headers[b"www-authenticate"].startswith(b"Bearer")
            assert body.get("error", "invalid_token" if status == 401 else None) == REFUSALS[status]
    return status


@given(headers(), st.binary(max_size=60))
def test_arbitrary_header_bytes_never_make_a_500(header_list: list[tuple[bytes, bytes]], query: bytes) -> None:
    """Any header bytes and query string: 200, 400, 401 or 503; never an exception, never a 500."""
    check_http(anyio.run(run_asgi, APP, http_scope(header_list, query)))


@given(header_bytes())
def test_requirements_refuse_with_403_not_500(value: bytes) -> None:
    """With a route requirement, an authenticated caller who lacks it gets 403, never a crash."""
    status = check_http(anyio.run(run_asgi, SCOPED_APP, http_scope([(b"authorization", value)])))
    assert status in (200, 400, 401, 403, 503)


@given(st.lists(st.one_of(st.sampled_from(VALID), mutated_tokens(), st.text(max_size=30)), max_size=2),
       st.lists(header_bytes(), max_size=1), st.binary(max_size=30))
def test_query_tokens_never_make_a_500(tokens: list[str], values: list[bytes], extra: bytes) -> None:
    """RFC 6750 §2.3 (when enabled): access_token in the query, alone, twice or with a header."""
    query = b"&".join([b"access_token=" + quote(t, safe="").encode() for t in tokens] + [extra])
    scope = http_scope([(b"authorization", v) for v in values], query)
    check_http(anyio.run(run_asgi, QUERY_APP, scope))


@given(headers(), st.binary(max_size=30))
def test_websocket_handshake_is_accepted_or_closed_with_1008(header_list: list[tuple[bytes, bytes]],
                                                             query: bytes) -> None:
    """RFC 6455 §7.4.1: a websocket is accepted, or closed with 1008 (policy violation), never crashed."""
    scope = {**http_scope(header_list, query, path="/ws"), "type": "websocket", "subprotocols": []}
    del scope["method"]
    messages = anyio.run(run_asgi, APP, scope)
    first = messages[0]
    if first["type"] == "websocket.close":
        assert first["code"] == 1008
    else:
        assert first["type"] == "websocket.accept", first
