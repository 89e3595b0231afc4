"""The remote JWKS fetcher against a real server on 127.0.0.1 that rotates keys, fails and counts hits."""

from __future__ import annotations

import json
import threading
import warnings
from typing import Any

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from s2s_guard import AuthError, Guard, ServiceUnavailable, UnknownKey
from s2s_guard.core.flow import HTTPResponse
from s2s_guard.core.keys import KeySet, key_from_jwk
from s2s_guard.sources.jwks import JWKSState
from s2s_guard.testing import LocalIssuer
from settable_clock import Clock

HTTPServer = Any  # tests/sources/conftest.py: the scriptable loopback server

AUD = "api://orders"
ISS = "https://idp.example.test"


@pytest.fixture
def idp() -> LocalIssuer:
    return LocalIssuer(issuer=ISS, audience=AUD, algorithms=("RS256", "ES256"))


@pytest.fixture
def jwks_server(http_server: HTTPServer, idp: LocalIssuer) -> HTTPServer:
    http_server.routes["/jwks"] = lambda _r: (200, {"Content-Type": "application/json"},
                                              json.dumps(idp.jwks()).encode())
    return http_server


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_guard(server: HTTPServer, clock: Clock | None = None, **issuer: Any) -> Guard:
    cfg = {"issuer": ISS, "algorithms": ["RS256", "ES256"], "jwks_uri": server.url + "/jwks", **issuer}
    return Guard.from_config({"audience": [AUD], "issuers": [cfg], "cache": {"verified": False}},
                             **({"clock": clock} if clock else {}))


def outcome(guard: Guard, token: str) -> Any:
    try:
        return guard.authenticate_sync("Bearer " + token)
    except AuthError as exc:
        return exc


def test_keys_are_served_from_cache_without_io(jwks_server: HTTPServer, idp: LocalIssuer) -> None:
    guard = make_guard(jwks_server)
    for _ in range(20):
        assert outcome(guard, idp.app_token()).policy == "app-only"
    assert jwks_server.hits["/jwks"] == 1


def test_unknown_kid_refetches_once_per_cooldown(jwks_server: HTTPServer, idp: LocalIssuer,
                                                 clock: Clock) -> None:
    guard = make_guard(jwks_server, clock)
    outcome(guard, idp.app_token())
    for i in range(50):
        err = outcome(guard, idp.mint({"sub": "x"}, headers={"kid": f"unknown-{i}"}))
        assert isinstance(err, UnknownKey) and err.status_code == 401
    assert jwks_server.hits["/jwks"] == 1  # the first load was less than 30 s ago
    clock.now += 31
    for i in range(50):
        outcome(guard, idp.mint({"sub": "x"}, headers={"kid": f"later-{i}"}))
    assert jwks_server.hits["/jwks"] == 2  # one refetch for the new cooldown window


def test_rotation_picks_up_the_new_key(jwks_server: HTTPServer, idp: LocalIssuer, clock: Clock) -> None:
    guard = make_guard(jwks_server, clock)
    assert outcome(guard, idp.app_token()).policy == "app-only"
    clock.now += 31
    idp.rotate("RS256")
    assert outcome(guard, idp.app_token()).policy == "app-only"
    assert jwks_server.hits["/jwks"] == 2


def test_concurrent_async_unknown_kid_causes_one_fetch(jwks_server: HTTPServer, idp: LocalIssuer) -> None:
    guard = make_guard(jwks_server)
    tokens = [idp.mint({"sub": "x"}, headers={"kid": f"k{i}"}) for i in range(100)]
    jwks_server.delay = 0.2  # keep the fetch in flight while every request arrives
    results: list[Any] = []

    async def one(token: str) -> None:
        try:
            results.append(await guard.authenticate("Bearer " + token))
        except AuthError as exc:
            results.append(exc)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for token in tokens:
                tg.start_soon(one, token)

    anyio.run(main)
    assert jwks_server.hits["/jwks"] == 1
    assert all(isinstance(r, UnknownKey) for r in results)


def test_concurrent_threads_cause_one_fetch(jwks_server: HTTPServer, idp: LocalIssuer) -> None:
    guard = make_guard(jwks_server)
    jwks_server.delay = 0.2
    token = idp.app_token()
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(outcome(guard, token))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert jwks_server.hits["/jwks"] == 1
    assert all(r.policy == "app-only" for r in results)


@pytest.mark.parametrize("reply", [
    (500, {}, b"oops"),
    (200, {"Content-Type": "application/json"}, b"<html>garbage"),
    (200, {"Content-Type": "application/json"}, b'{"keys": "nope"}'),
    (200, {"Content-Type": "application/json"}, b'{"keys": []}'),
])
def test_failed_refresh_keeps_the_last_good_keys(jwks_server: HTTPServer, idp: LocalIssuer, clock: Clock,
                                                 reply: tuple[int, dict[str, str], bytes]) -> None:
    guard = make_guard(jwks_server, clock)
    token = idp.app_token(ttl=7200)
    assert outcome(guard, token).policy == "app-only"
    jwks_server.routes["/jwks"] = lambda _r: reply
    clock.now += 601  # stale: a refresh is due, and fails
    assert outcome(guard, token).policy == "app-only"
    assert jwks_server.hits["/jwks"] == 2
    clock.now += 31
    err = outcome(guard, idp.mint({"sub": "x"}, headers={"kid": "new-one"}, ttl=7200))
    assert isinstance(err, ServiceUnavailable) and err.status_code == 503  # cannot know: fail closed
    assert err.headers["Retry-After"].isdigit()


def test_stale_if_error_is_bounded(jwks_server: HTTPServer, idp: LocalIssuer, clock: Clock) -> None:
    guard = make_guard(jwks_server, clock, jwks_stale_if_error=3600)
    token = idp.app_token(ttl=20000)
    assert outcome(guard, token).policy == "app-only"
    jwks_server.routes["/jwks"] = lambda _r: (503, {}, b"")
    clock.now += 600 + 3000
    assert outcome(guard, token).policy == "app-only"
    clock.now += 700  # past max-age + stale_if_error: the old keys are no longer trusted
    err = outcome(guard, token)
    assert isinstance(err, ServiceUnavailable) and "Retry-After" in err.headers


def test_never_reachable_is_503_with_retry_after(clock: Clock, idp: LocalIssuer, dead_url: str) -> None:
    guard = make_guard(_Dead(dead_url), clock)
    err = outcome(guard, idp.app_token())
    assert isinstance(err, ServiceUnavailable) and err.status_code == 503
    assert int(err.headers["Retry-After"]) >= 1 and err.www_authenticate is None


def test_slow_server_times_out_into_503(jwks_server: HTTPServer, idp: LocalIssuer) -> None:
    jwks_server.delay = 1.0
    guard = make_guard(jwks_server, timeout=0.2)
    err = outcome(guard, idp.app_token())  # the 0.2 s timeout, not the server, ends the wait
    assert isinstance(err, ServiceUnavailable) and "Retry-After" in err.headers


class _Dead:
    def __init__(self, url: str) -> None:
        self.url = url


def test_async_driver_also_fails_closed(idp: LocalIssuer, dead_url: str) -> None:
    guard = make_guard(_Dead(dead_url))
    with pytest.raises(ServiceUnavailable):
        anyio.run(guard.authenticate, "Bearer " + idp.app_token())


@pytest.mark.parametrize(("cache_control", "fresh_for"), [
    ("max-age=120", 120), ("public, max-age=100000", 600), ("max-age=0", 60), ("no-store", 60),
    (None, 600)])
def test_cache_control_max_age_within_bounds(jwks_server: HTTPServer, idp: LocalIssuer, clock: Clock,
                                             cache_control: str | None, fresh_for: int) -> None:
    body = json.dumps(idp.jwks()).encode()
    headers = {"Content-Type": "application/json", **({"Cache-Control": cache_control} if cache_control else {})}
    jwks_server.routes["/jwks"] = lambda _r: (200, headers, body)
    # bounds: jwks_min_age 60, jwks_max_age 600; refresh-ahead off, since this times the refetch
    guard = make_guard(jwks_server, clock, jwks_refresh_ahead=1)
    token = idp.app_token(ttl=7200)
    outcome(guard, token)
    clock.now += fresh_for - 1
    outcome(guard, token)
    assert jwks_server.hits["/jwks"] == 1
    clock.now += 2
    outcome(guard, token)
    assert jwks_server.hits["/jwks"] == 2


def _serve_keys(server: HTTPServer, keys: list[dict[str, Any]]) -> None:
    server.json("/jwks", {"keys": keys})


def test_refuses_encryption_keys(http_server: HTTPServer, idp: LocalIssuer) -> None:
    _serve_keys(http_server, [{**k, "use": "enc"} for k in idp.jwks()["keys"]])
    err = outcome(make_guard(http_server), idp.app_token())
    assert isinstance(err, ServiceUnavailable)  # a JWKS with no usable signing key is a failed fetch


def test_refuses_alg_that_contradicts_the_header(http_server: HTTPServer, idp: LocalIssuer) -> None:
    keys = idp.jwks()["keys"]
    _serve_keys(http_server, [{**k, "alg": "PS256"} if k["kty"] == "RSA" else k for k in keys])
    err = outcome(make_guard(http_server), idp.app_token(alg="RS256"))
    assert isinstance(err, UnknownKey)
    assert outcome(make_guard(http_server), idp.app_token(alg="ES256")).policy == "app-only"


def test_refuses_short_rsa_keys(http_server: HTTPServer, idp: LocalIssuer) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwk = {**RSAAlgorithm.to_jwk(small.public_key(), as_dict=True), "kid": "small", "alg": "RS256"}
    with pytest.raises(ValueError, match="below 2048"):
        key_from_jwk(jwk)
    _serve_keys(http_server, [jwk, *idp.jwks()["keys"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about signing with 1024 bits; that is the point
        token = idp.mint({"sub": "x"}, key=small, headers={"kid": "small"})
    err = outcome(make_guard(http_server), token)
    assert isinstance(err, UnknownKey)


def test_refuses_ec_points_off_the_curve(http_server: HTTPServer, idp: LocalIssuer) -> None:
    good = next(k for k in idp.jwks()["keys"] if k["kty"] == "EC")
    off = {**good, "y": good["x"]}  # (x, x) is not a point of P-256
    with pytest.raises(ValueError):
        key_from_jwk(off)
    _serve_keys(http_server, [off, *[k for k in idp.jwks()["keys"] if k["kty"] == "RSA"]])
    err = outcome(make_guard(http_server), idp.app_token(alg="ES256"))
    assert isinstance(err, UnknownKey)


def test_an_older_fetch_cannot_overwrite_a_newer_one(idp: LocalIssuer) -> None:
    state = JWKSState(cooldown=0)
    first = state.claim({}, 0.0)
    second = state.claim({}, 1.0)
    assert first is not None and second is not None
    new = LocalIssuer(issuer=ISS, algorithms=("RS256",))
    state.apply(second, HTTPResponse(200, {}, json.dumps(new.jwks()).encode()), 1.0)
    state.apply(first, HTTPResponse(200, {}, json.dumps(idp.jwks()).encode()), 1.0)
    assert state.keys is not None
    assert state.keys.has_identifier({"kid": new.keys[0].kid})
    assert not state.keys.has_identifier({"kid": idp.keys[0].kid})


def test_static_keys_combine_with_remote_keys(jwks_server: HTTPServer, idp: LocalIssuer) -> None:
    pinned = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("RS256",))
    guard = make_guard(jwks_server, jwks=pinned.jwks())
    assert outcome(guard, pinned.app_token()).policy == "app-only"
    assert outcome(guard, idp.app_token()).policy == "app-only"
    assert KeySet.from_jwks(pinned.jwks())

