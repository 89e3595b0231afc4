"""Telemetry of sender-constrained and delegation decisions, and refresh-ahead
keeping key fetches off the request path of a busy service, against LocalIssuers on 127.0.0.1
with the OpenTelemetry SDK's in-memory exporters.

* DPoP refusals are decisions with low-cardinality reasons (``invalid_dpop_proof``,
  ``binding_mismatch``, ``dpop_required``); their audit lines carry the token's SHA-256 prefix,
  never the token or the proof.
* A delegation refusal (RFC 8693 policy) is a 403 ``delegation_not_allowed`` naming app and user.
* A busy service: steady traffic over several key lifetimes, a slow JWKS server, refresh-ahead
  on (the default 0.8): every request returns without waiting for a fetch, keys are never
  served stale, and each refresh is counted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from telemetry_kit import AUD, Recorded, guard_for

from s2s_guard import AuthError, Guard, Requirement
from s2s_guard.sources.jwks import RemoteJWKS
from s2s_guard.telemetry import AUDIT_LOGGER
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing._server import IssuerRequest, Reply
from s2s_guard.testing.dpop import DPoPKey, bound_token
from settable_clock import Clock

URL = "https://api.example.com/orders"


def _audit(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]


def _refused(guard: Guard, authorization: str, requirement: Requirement | None = None, **kwargs: Any) -> AuthError:
    with pytest.raises(AuthError) as caught:
        guard.authenticate_sync(authorization, requirement, path="/orders", **kwargs)
    return caught.value


# -- DPoP and delegation decisions ------------------------------------------------------------------

def test_dpop_decisions_are_counted_and_audited_without_the_token(issuer: LocalIssuer, otel: Recorded,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    guard = Guard.from_config({**issuer.guard_config(dpop="allowed"), "telemetry": {"audit": True}},
                              telemetry=otel.telemetry)
    key = DPoPKey()
    token = bound_token(issuer, key)
    proof = key.proof("GET", URL, access_token=token)
    sender = {"dpop_proof": proof, "method": "GET", "url": URL}
    guard.authenticate_sync(f"DPoP {token}", path="/orders", **sender)
    assert _refused(guard, f"DPoP {token}", **sender).reason == "invalid_dpop_proof"  # replayed
    assert _refused(guard, f"Bearer {token}").reason == "binding_mismatch"  # bound token, no proof
    plain = issuer.app_token()
    assert _refused(guard, f"Bearer {plain}", Requirement(dpop="required")).reason == "dpop_required"

    assert otel.count("s2s_guard.decisions", outcome="accepted", issuer="local") == 1
    for reason in ("invalid_dpop_proof", "binding_mismatch", "dpop_required"):
        assert otel.count("s2s_guard.decisions", outcome="refused", reason=reason, status=401) == 1, reason
    sha = hashlib.sha256(token.encode()).hexdigest()[:12]
    lines = _audit(caplog)
    assert [(line["outcome"], line["reason"]) for line in lines] == [
        ("accepted", None), ("refused", "invalid_dpop_proof"), ("refused", "binding_mismatch"),
        ("refused", "dpop_required")]
    assert [line["token_sha256"] for line in lines[:3]] == [sha, sha, sha]
    assert lines[0]["app"] == "daemon-app" and lines[0]["issuer"] == "local"
    text = caplog.text + repr([r.__dict__ for r in caplog.records])
    for secret in (token, proof, token.split(".")[2], proof.split(".")[2], plain):
        assert secret not in text
    guard.close()


def test_delegation_refusals_are_403_decisions_naming_app_and_user(issuer: LocalIssuer, otel: Recorded,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    guard = guard_for(issuer, otel, delegation={"actors": ["gateway"]}, telemetry={"audit": True})
    assert guard.authenticate_sync("Bearer " + issuer.user_token("alice", "gateway")).app is not None
    error = _refused(guard, "Bearer " + issuer.user_token("alice", "web-app"))
    assert (error.status_code, error.reason) == (403, "delegation_not_allowed")
    assert otel.count("s2s_guard.decisions", outcome="refused", reason="delegation_not_allowed",
                      status=403, issuer="local") == 1
    [accepted, refused] = _audit(caplog)
    assert (accepted["app"], accepted["user"], accepted["policy"]) == ("gateway", "[PII hidden]", "user+app")
    assert (refused["reason"], refused["status"], refused["issuer"]) == ("delegation_not_allowed", 403, "local")
    guard.close()


# -- refresh-ahead on a busy service ---------------------------------------------------------------

LIFETIME = 600  # Cache-Control max-age of the JWKS
STEP = 30  # seconds of (guard) time between two requests
SLOW = 0.4  # seconds the JWKS server takes to answer a refresh
FAST = SLOW / 2  # a request that waited for a fetch cannot be this quick


@pytest.fixture
def busy() -> Iterator[tuple[LocalIssuer, Clock]]:
    clock = Clock()
    with LocalIssuer(audience=AUD, algorithms=("RS256",), clock=clock, token_ttl=86400) as idp:
        def jwks(issuer: LocalIssuer, request: IssuerRequest) -> Reply:
            body = json.dumps(issuer.jwks()).encode()
            tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            status = 304 if request.header("if-none-match") == tag else 200
            return Reply(status, b"" if status == 304 else body, "application/json",
                         {"ETag": tag, "Cache-Control": f"max-age={LIFETIME}"})
        idp.routes["/jwks"] = jwks
        yield idp, clock


def _busy_guard(idp: LocalIssuer, clock: Clock, otel: Recorded) -> tuple[Guard, RemoteJWKS]:
    config = {**idp.guard_config(), "cache": {"verified": False}, "telemetry": {"audit": False}}
    guard = Guard.from_config(config, clock=clock, telemetry=otel.telemetry)  # jwks_refresh_ahead = 0.8
    source = guard._sources[idp.issuer]
    assert isinstance(source, RemoteJWKS)
    return guard, source


def _settle(condition: Any) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "background refresh did not finish"
        time.sleep(0.005)


def test_a_busy_sync_service_never_waits_for_a_key_fetch(busy: tuple[LocalIssuer, Clock], otel: Recorded) -> None:
    idp, clock = busy
    guard, source = _busy_guard(idp, clock, otel)
    guard.authenticate_sync("Bearer " + idp.app_token())  # cold start: the only fetch anyone waits for
    idp.delays["/jwks"] = SLOW
    slowest = 0.0
    for _ in range(4 * LIFETIME // STEP):  # four key lifetimes of steady traffic
        clock.now += STEP
        started = time.perf_counter()
        guard.authenticate_sync("Bearer " + idp.app_token(ttl=3600))
        slowest = max(slowest, time.perf_counter() - started)
        _settle(lambda: not source._flights.busy("jwks"))  # real time passes between requests
    guard.close()
    assert slowest < FAST, f"a request waited {slowest:.3f}s: a key fetch was on the request path"
    assert idp.hits["/jwks"] == 1 + 4 * LIFETIME // int(LIFETIME * 0.8)  # the cold fetch, then one every 480 s
    assert otel.count("s2s_guard.keys.stale_served") == 0  # keys never expired under traffic
    assert otel.count("s2s_guard.jwks.refreshes", result="not_modified") == idp.hits["/jwks"] - 1
    assert otel.count("s2s_guard.jwks.refreshes", result="error") == 0
    assert otel.count("s2s_guard.decisions", outcome="refused") == 0


def test_a_busy_async_service_never_waits_for_a_key_fetch(busy: tuple[LocalIssuer, Clock], otel: Recorded) -> None:
    idp, clock = busy
    guard, source = _busy_guard(idp, clock, otel)

    async def main() -> float:
        await guard.authenticate("Bearer " + idp.app_token())
        idp.delays["/jwks"] = SLOW
        slowest = 0.0
        for _ in range(4 * LIFETIME // STEP):
            clock.now += STEP
            started = time.perf_counter()
            await guard.authenticate("Bearer " + idp.app_token(ttl=3600))
            slowest = max(slowest, time.perf_counter() - started)
            while source._aflights.busy("jwks"):  # the refresh is a task on this loop
                await asyncio.sleep(0.005)
        await guard.aclose()
        return slowest

    slowest = asyncio.run(main())
    guard.close()
    assert slowest < FAST, f"a request waited {slowest:.3f}s: a key fetch was on the request path"
    assert idp.hits["/jwks"] == 1 + 4 * LIFETIME // int(LIFETIME * 0.8)
    assert otel.count("s2s_guard.keys.stale_served") == 0
    assert otel.count("s2s_guard.jwks.refreshes", result="error") == 0


def test_without_refresh_ahead_the_request_path_pays(busy: tuple[LocalIssuer, Clock], otel: Recorded) -> None:
    """The control: with ``jwks_refresh_ahead = 1`` a request finds the keys stale and waits."""
    idp, clock = busy
    config = {**idp.guard_config(jwks_refresh_ahead=1.0), "cache": {"verified": False},
              "telemetry": {"audit": False}}
    guard = Guard.from_config(config, clock=clock, telemetry=otel.telemetry)
    guard.authenticate_sync("Bearer " + idp.app_token())
    idp.delays["/jwks"] = SLOW
    clock.now += LIFETIME + 1
    started = time.perf_counter()
    guard.authenticate_sync("Bearer " + idp.app_token(ttl=3600))
    assert time.perf_counter() - started >= SLOW
    guard.close()
