"""ETag / If-None-Match on the discovery metadata fetch, not only on JWKS (RFC 9110 §13.1.2).

OpenID Connect Discovery / RFC 8414 metadata is revalidated when its lifetime ends (inside key
refreshes), conditionally; a 304 renews it, a failure keeps the last good document, and a moved
``jwks_uri`` is followed. A real issuer on 127.0.0.1 answers the discovery URL with an ``ETag``
and ``Cache-Control: max-age`` and 304 to a matching conditional GET.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from s2s_guard import Guard
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing._endpoints import server_metadata
from s2s_guard.testing._server import IssuerRequest, Reply
from settable_clock import Clock

AUD = "api://orders"
DISCOVERY = "/.well-known/openid-configuration"


class MetadataServer:
    """The discovery route: ETag = hash of the document, 304 on a matching If-None-Match."""

    def __init__(self) -> None:
        self.conditional: list[str | None] = []
        self.statuses: list[int] = []
        self.etag = ""

    def __call__(self, issuer: LocalIssuer, request: IssuerRequest) -> Reply:
        body = json.dumps(server_metadata(issuer)).encode()
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        seen = request.header("if-none-match")
        self.conditional.append(seen)
        status = 304 if seen == self.etag else 200
        self.statuses.append(status)
        return Reply(status, b"" if status == 304 else body, "application/json",
                     {"ETag": self.etag, "Cache-Control": "max-age=300"})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def idp(clock: Clock) -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("RS256",), clock=clock, token_ttl=7 * 86400) as iss:
        yield iss


def guard_for(idp: LocalIssuer, clock: Clock) -> Guard:
    return Guard.from_config({"audience": [AUD], "cache": {"verified": False}, "issuers": [{
        "issuer": idp.issuer, "algorithms": ["RS256"], "discovery": idp.url + DISCOVERY,
        "jwks_refresh_ahead": 1}]}, clock=clock)


def test_discovery_is_fetched_and_the_jwks_it_names_is_used(idp: LocalIssuer, clock: Clock) -> None:
    """Baseline (passes): the guard follows discovery to the JWKS on a real loopback server."""
    server = MetadataServer()
    idp.routes[DISCOVERY] = server
    guard = guard_for(idp, clock)
    assert guard.authenticate_sync("Bearer " + idp.app_token(ttl=3600)).policy == "app-only"
    assert server.statuses == [200] and server.conditional == [None]
    assert idp.hits["/jwks"] == 1
    guard.close()


def test_discovery_metadata_is_revalidated_with_if_none_match(idp: LocalIssuer, clock: Clock) -> None:
    server = MetadataServer()
    idp.routes[DISCOVERY] = server
    guard = guard_for(idp, clock)
    assert guard.authenticate_sync("Bearer " + idp.app_token(ttl=86400 * 3)).policy == "app-only"
    for _ in range(3):  # well past the metadata's max-age (300 s) and the JWKS's (600 s)
        clock.now += 3600
        assert guard.authenticate_sync("Bearer " + idp.app_token(ttl=3600)).policy == "app-only"
    guard.close()
    assert idp.hits["/jwks"] >= 2  # the keys were refreshed...
    assert len(server.statuses) >= 2, "the discovery document was fetched only once"  # ...the metadata was not
    assert server.etag in server.conditional[1:]
    assert 304 in server.statuses


def test_a_failed_revalidation_keeps_the_last_good_metadata(idp: LocalIssuer, clock: Clock) -> None:
    server = MetadataServer()
    idp.routes[DISCOVERY] = server
    guard = guard_for(idp, clock)
    assert guard.authenticate_sync("Bearer " + idp.app_token(ttl=86400 * 3)).policy == "app-only"
    failures: list[int] = []
    idp.routes[DISCOVERY] = lambda issuer, request: failures.append(500) or Reply(500, b"down", "text/plain", {})
    clock.now += 3600
    idp.rotate()  # a new kid: the keys must be refetched from the jwks_uri of the kept metadata
    assert guard.authenticate_sync("Bearer " + idp.app_token(ttl=3600)).policy == "app-only"
    assert failures == [500]  # revalidation was tried, failed, and the kept metadata still led to the keys
    guard.close()


def test_a_moved_jwks_uri_is_followed(idp: LocalIssuer, clock: Clock) -> None:
    moved = {"uri": idp.url + "/jwks"}

    def metadata(issuer: LocalIssuer, request: IssuerRequest) -> Reply:
        doc = {**server_metadata(issuer), "jwks_uri": moved["uri"]}
        return Reply(200, json.dumps(doc).encode(), "application/json", {"Cache-Control": "max-age=300"})

    idp.routes[DISCOVERY] = metadata
    idp.routes["/keys-v2"] = lambda issuer, request: Reply(200, json.dumps(issuer.jwks()).encode(),
                                                            "application/json", {})
    guard = guard_for(idp, clock)
    assert guard.authenticate_sync("Bearer " + idp.app_token(ttl=86400 * 3)).policy == "app-only"
    moved["uri"] = idp.url + "/keys-v2"
    clock.now += 3600
    assert guard.authenticate_sync("Bearer " + idp.app_token(ttl=3600)).policy == "app-only"
    clock.now += 3600
    assert guard.authenticate_sync("Bearer " + idp.app_token(ttl=3600)).policy == "app-only"
    assert idp.hits.get("/keys-v2", 0) >= 1
    guard.close()
