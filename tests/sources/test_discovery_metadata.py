"""OpenID Connect Discovery / RFC 8414 metadata from a real server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import pytest

from s2s_guard import AuthError, Guard, ServiceUnavailable
from s2s_guard.core.flow import HTTPResponse
from s2s_guard.sources.discovery import Discovery, parse_metadata
from s2s_guard.testing import LocalIssuer

HTTPServer = Any  # tests/sources/conftest.py: the scriptable loopback server
AUD = "api://orders"


def serve_idp(server: HTTPServer, *, issuer: str | None = None,
              path: str = "/.well-known/openid-configuration") -> LocalIssuer:
    idp = LocalIssuer(issuer=server.url, audience=AUD, algorithms=("ES256",))
    server.json(path, {"issuer": issuer or server.url, "jwks_uri": server.url + "/keys",
                       "introspection_endpoint": server.url + "/introspect"})
    server.json("/keys", idp.jwks())
    return idp


def guard_for(server: HTTPServer, path: str = "/.well-known/openid-configuration", **extra: Any) -> Guard:
    return Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": server.url, "algorithms": ["ES256"], "discovery": server.url + path, **extra}]})


def outcome(guard: Guard, token: str) -> Any:
    try:
        return guard.authenticate_sync("Bearer " + token)
    except AuthError as exc:
        return exc


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration",
                                  "/.well-known/oauth-authorization-server"])
def test_discovery_yields_the_jwks_uri(http_server: HTTPServer, path: str) -> None:
    idp = serve_idp(http_server, path=path)
    guard = guard_for(http_server, path)
    assert outcome(guard, idp.app_token(alg="ES256")).policy == "app-only"
    assert anyio.run(guard.authenticate, "Bearer " + idp.app_token(alg="ES256")).policy == "app-only"
    assert http_server.hits[path] == 1 and http_server.hits["/keys"] == 1


def test_metadata_for_another_issuer_is_refused(http_server: HTTPServer) -> None:
    idp = serve_idp(http_server, issuer="https://evil.example")
    err = outcome(guard_for(http_server), idp.app_token(alg="ES256"))
    assert isinstance(err, ServiceUnavailable)
    assert http_server.hits["/keys"] == 0  # the impostor's keys were never fetched


def test_discovery_outage_is_503_and_retried_after_cooldown(http_server: HTTPServer) -> None:
    idp = serve_idp(http_server)
    path = "/.well-known/openid-configuration"
    good = http_server.routes[path]
    http_server.routes[path] = lambda _r: (500, {}, b"")
    now = [time.time()]
    guard = Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": http_server.url, "algorithms": ["ES256"], "discovery": http_server.url + path}]},
        clock=lambda: now[0])
    token = idp.app_token(alg="ES256")
    for _ in range(5):
        assert isinstance(outcome(guard, token), ServiceUnavailable)
    assert http_server.hits[path] == 1
    http_server.routes[path] = good
    now[0] += 31
    assert outcome(guard, token).policy == "app-only"


def test_discovery_supplies_the_introspection_endpoint(http_server: HTTPServer) -> None:
    serve_idp(http_server)
    http_server.routes["/introspect"] = lambda _r: (200, {"Content-Type": "application/json"}, json.dumps(
        {"active": True, "iss": http_server.url, "aud": AUD, "client_id": "c",
         "exp": int(time.time()) + 60}).encode())
    guard = Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": http_server.url, "validation": "introspect",
         "discovery": http_server.url + "/.well-known/openid-configuration"}],
        "introspection": {"client_id": "api", "client_secret": "s"}})
    assert outcome(guard, "opaque").app.client_id == "c"


@pytest.mark.parametrize("doc", [[], {"issuer": "x", "jwks_uri": "ftp://x/keys"},
                                 {"issuer": "x", "jwks_uri": 3}])
def test_parse_metadata_refuses_bad_documents(doc: Any) -> None:
    with pytest.raises(ValueError):
        parse_metadata(HTTPResponse(200, {}, json.dumps(doc).encode()), "x")


def _drive(discovery: Discovery, now: float, response: HTTPResponse) -> tuple[Any, dict[str, str]]:
    """Run one revalidation of ``discovery`` at ``now`` by hand: (the metadata, the request's headers)."""
    flow = discovery.flow(now)
    request = next(flow)
    try:
        flow.send(response)
    except StopIteration as stop:
        return stop.value, dict(request.headers)
    raise AssertionError("the discovery flow asked for a second request")


def test_a_304_without_max_age_keeps_the_stored_lifetime() -> None:
    """RFC 9111 §4.3.4, as for JWKS: a 304 renews the lifetime the 200 gave, not ``max_age``."""
    url = "https://idp.test/.well-known/openid-configuration"
    doc = json.dumps({"issuer": "https://idp.test", "jwks_uri": "https://idp.test/keys"}).encode()
    discovery = Discovery(url, issuer="https://idp.test", cooldown=0, min_age=60, max_age=86400)
    first, _ = _drive(discovery, 1000.0, HTTPResponse(200, {
        "content-type": "application/json", "etag": '"v1"', "cache-control": "max-age=300"}, doc))
    assert discovery.fresh_until == 1300.0
    again, headers = _drive(discovery, 1300.0, HTTPResponse(304, {"etag": '"v1"'}))
    assert headers["If-None-Match"] == '"v1"' and again is first
    assert discovery.fresh_until == 1600.0  # 300 s again, not a day
    _drive(discovery, 1600.0, HTTPResponse(304, {"cache-control": "max-age=120"}))
    assert discovery.fresh_until == 1720.0 and discovery.etag == '"v1"'
