"""JWKS and SharePoint metadata fetches: ETag / If-None-Match (RFC 9110 §13.1.2) and refresh-ahead.

A real issuer on 127.0.0.1 answers conditional GETs with 304 and counts its hits. Refresh-ahead
is shown with a gate: the key server holds the background request until the test opens it, and
every request made meanwhile returns at once with the still-fresh keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from s2s_guard import Guard
from s2s_guard.core.flow import HTTPResponse
from s2s_guard.core.jwks import JWKSState
from s2s_guard.core.sharepoint import parse_metadata
from s2s_guard.sources.jwks import RemoteJWKS
from s2s_guard.testing import HighTrustIdentity, LocalIssuer
from s2s_guard.testing._server import IssuerRequest, Reply
from s2s_guard.testing.sharepoint import METADATA_PATH, metadata_document
from settable_clock import Clock

AUD = "api://orders"


class KeyServer:
    """The ``/jwks`` route: ETag = hash of the document; 304 on a matching If-None-Match; a gate."""

    def __init__(self, document: Callable[[], Any], max_age: int | None = 600) -> None:
        self.document = document
        self.max_age = max_age
        self.statuses: list[int] = []
        self.conditional: list[str | None] = []
        self.gate = threading.Event()
        self.gate.set()  # open unless a test closes it
        self.arrived = threading.Event()

    def __call__(self, issuer: LocalIssuer, request: IssuerRequest) -> Reply:
        self.arrived.set()
        self.gate.wait(10)
        body = json.dumps(self.document()).encode()
        tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        self.conditional.append(request.header("if-none-match"))
        headers = {"ETag": tag, **({"Cache-Control": f"max-age={self.max_age}"} if self.max_age else {})}
        status = 304 if request.header("if-none-match") == tag else 200
        self.statuses.append(status)
        return Reply(status, b"" if status == 304 else body, "application/json", headers)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def idp(clock: Clock) -> Iterator[LocalIssuer]:
    """An issuer minting on the guard's clock (tokens live as long as the test's time needs)."""
    with LocalIssuer(issuer="https://idp.example.test", audience=AUD, algorithms=("RS256",),
                     clock=clock, token_ttl=7200) as iss:
        yield iss


def serve(idp: LocalIssuer, path: str = "/jwks", **options: Any) -> KeyServer:
    server = KeyServer(idp.jwks, **options)
    idp.routes[path] = server
    return server


def make_guard(idp: LocalIssuer, clock: Clock, **issuer: Any) -> Guard:
    entry = {"issuer": idp.issuer, "algorithms": ["RS256"], "jwks_uri": idp.jwks_uri, **issuer}
    return Guard.from_config({"audience": [AUD], "issuers": [entry], "cache": {"verified": False}}, clock=clock)


def accept(guard: Guard, idp: LocalIssuer) -> None:
    assert guard.authenticate_sync("Bearer " + idp.app_token(ttl=60)).policy == "app-only"


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# -- ETag / If-None-Match --------------------------------------------------------------------------

def test_a_304_keeps_the_keys_and_renews_their_lifetime(idp: LocalIssuer, clock: Clock) -> None:
    server = serve(idp)
    guard = make_guard(idp, clock, jwks_refresh_ahead=1)  # refresh on expiry only, to see each step
    accept(guard, idp)
    clock.now += 601  # stale: the next request revalidates
    accept(guard, idp)
    assert server.statuses == [200, 304]
    assert server.conditional[0] is None and server.conditional[1] is not None  # the ETag of the 200
    clock.now += 599  # renewed by the 304 for max-age again: no fetch
    accept(guard, idp)
    assert idp.hits["/jwks"] == 2


def test_a_304_without_cache_control_keeps_the_stored_lifetime() -> None:
    state = JWKSState(max_age=600, min_age=60)
    body = json.dumps(LocalIssuer(algorithms=("ES256",)).jwks()).encode()
    state.apply(state.claim({}, 0) or 0, HTTPResponse(200, {"etag": '"v1"', "cache-control": "max-age=120"}, body), 0)
    assert state.fresh_until == 120 and state.request("https://x/jwks", 5).headers["If-None-Match"] == '"v1"'
    state.apply(state.claim({}, 130) or 0, HTTPResponse(304, {}), 130)
    assert (state.fresh_until, state.failed, state.etag, state.document) == (250, False, '"v1"', body)


def test_a_304_to_an_unconditional_request_is_a_failure() -> None:
    state = JWKSState()
    body = json.dumps(LocalIssuer(algorithms=("ES256",)).jwks()).encode()
    state.apply(state.claim({}, 0) or 0, HTTPResponse(200, {}, body), 0)  # no ETag: nothing to revalidate
    assert "If-None-Match" not in state.request("https://x/jwks", 5).headers
    state.apply(state.claim({}, 700) or 0, HTTPResponse(304, {}), 700)
    assert state.failed and state.fresh_until == 600  # old keys kept, not renewed


def test_a_changed_document_is_a_200_with_a_new_etag(idp: LocalIssuer, clock: Clock) -> None:
    server = serve(idp)
    guard = make_guard(idp, clock, jwks_refresh_ahead=1)
    accept(guard, idp)
    first = idp.keys[0].kid
    idp.rotate("RS256")  # the next token names a kid the cache lacks: refetch (after the cooldown)
    clock.now += 31
    accept(guard, idp)
    assert server.statuses == [200, 200] and idp.keys[0].kid != first
    clock.now += 601
    accept(guard, idp)
    assert server.statuses == [200, 200, 304]


def test_the_etag_travels_with_a_shared_document() -> None:
    body = json.dumps(LocalIssuer(algorithms=("ES256",)).jwks()).encode()
    one, two = JWKSState(), JWKSState()
    one.apply(one.claim({}, 10) or 0, HTTPResponse(200, {"etag": 'W/"7"'}, body), 10)
    record = json.loads(one.record(10) or b"")
    assert two.adopt(record["jwks"].encode(), record["fetched_at"], record["fresh_until"], record["etag"])
    assert two.request("https://x/jwks", 5).headers["If-None-Match"] == 'W/"7"'


def test_sharepoint_metadata_is_revalidated_too(idp: LocalIssuer) -> None:
    sp = HighTrustIdentity()
    server = KeyServer(lambda: metadata_document(sp, idp.token_url))
    idp.routes[METADATA_PATH] = server
    source = RemoteJWKS(idp.url + METADATA_PATH, refresh_ahead=1, parse=parse_metadata)
    header = {"x5t": sp.thumbprint}
    assert source.keys_sync(header, 0).has_identifier(header)
    assert source.keys_sync(header, 601).has_identifier(header)
    assert server.statuses == [200, 304]
    source.close()


# -- refresh-ahead -----------------------------------------------------------------------------------

def test_sync_refresh_ahead_runs_in_the_background(idp: LocalIssuer, clock: Clock) -> None:
    server = serve(idp)
    guard = make_guard(idp, clock)  # jwks_refresh_ahead = 0.8 by default: 480 s of a 600 s lifetime
    accept(guard, idp)
    clock.now += 479
    accept(guard, idp)
    assert idp.hits["/jwks"] == 1  # not due yet
    server.gate.clear()
    server.arrived.clear()
    clock.now += 2
    for _ in range(20):  # each returns while the key server holds the refresh
        accept(guard, idp)
    assert server.arrived.wait(10)
    assert idp.hits["/jwks"] == 2 and not server.gate.is_set()  # one refresh, still held
    server.gate.set()
    source = guard._sources[idp.issuer]
    assert isinstance(source, RemoteJWKS)
    wait_for(lambda: source.state.fetched_at == clock.now)
    assert server.statuses == [200, 304]  # revalidated: the keys did not change
    assert source.state.fresh_until == clock.now + 600


def test_async_refresh_ahead_is_a_task_nobody_awaits(idp: LocalIssuer, clock: Clock) -> None:
    server = serve(idp)
    guard = make_guard(idp, clock)
    source = guard._sources[idp.issuer]
    assert isinstance(source, RemoteJWKS)

    async def main() -> None:
        assert (await guard.authenticate("Bearer " + idp.app_token(ttl=60))).policy == "app-only"
        server.gate.clear()
        server.arrived.clear()
        clock.now += 500
        old = idp.keys[0]
        idp.rotate("RS256", keep_old=True)  # a new key appears: the refresh fetches it ahead of need
        for _ in range(20):  # tokens still signed with the old key: each returns at once
            claims = {"sub": "x", "client_id": "x"}
            await guard.authenticate("Bearer " + idp.mint(claims, key=old.key, ttl=60, headers={"kid": old.kid}))
        assert await asyncio.to_thread(server.arrived.wait, 10)
        assert idp.hits["/jwks"] == 2
        server.gate.set()
        while source.state.fetched_at != clock.now:
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert server.statuses == [200, 200]
    assert source.state.keys is not None and source.state.keys.has_identifier({"kid": idp.keys[0].kid})


def test_refresh_ahead_respects_the_cooldown_after_a_failure(idp: LocalIssuer, clock: Clock) -> None:
    serve(idp)
    guard = make_guard(idp, clock)
    accept(guard, idp)
    idp.fail_with = 500
    clock.now += 500
    accept(guard, idp)
    source = guard._sources[idp.issuer]
    assert isinstance(source, RemoteJWKS)
    wait_for(lambda: source.state.failed)
    for _ in range(10):
        clock.now += 1  # within the 30 s cooldown: no second attempt
        accept(guard, idp)
    assert idp.hits["/jwks"] == 2
    idp.fail_with = None
    clock.now += 30
    accept(guard, idp)
    wait_for(lambda: not source.state.failed)
    assert idp.hits["/jwks"] == 3


@pytest.mark.parametrize("value", [0, 1.5, -0.1, "0.8", True])
def test_refresh_ahead_must_be_a_fraction(value: Any) -> None:
    from s2s_guard import ConfigurationError

    with pytest.raises(ConfigurationError) as info:
        Guard.from_config({"audience": [AUD], "issuers": [{"issuer": "https://idp", "algorithms": ["RS256"],
                                                           "jwks_uri": "https://idp/jwks",
                                                           "jwks_refresh_ahead": value}]})
    assert info.value.key == "issuers[0].jwks_refresh_ahead"
