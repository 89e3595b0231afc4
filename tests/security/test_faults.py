"""Regressions found by the load and fault scenarios (``benchmarks/load.py``, issue 7).

A slow introspection server must not draw a pile-up of calls: at most
``Introspector.MAX_IN_FLIGHT`` at once per process, the others wait for a slot no longer than
the timeout and are then refused 503; and once a call has failed, the endpoint is rested for
``outage`` seconds counted from when the failure was seen, not from when the request began.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from s2s_guard import AuthError, Guard, Principal, ServiceUnavailable
from s2s_guard.config import IntrospectionConfig, IssuerConfig
from s2s_guard.core.keys import KeySet
from s2s_guard.sources.introspection import Introspector
from s2s_guard.sources.jwks import StaticKeys
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing._server import IssuerHTTPServer, SlowRoute

AUD = "api://faults"
CLAIMS = {"client_id": "billing", "sub": "billing", "scope": "orders.read"}
SECRET = "faults-resource-server-secret-0123456789"


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalIssuer]:
    """A local issuer whose listen backlog lets every concurrent connection reach it."""
    monkeypatch.setattr(IssuerHTTPServer, "request_queue_size", 1024)
    with LocalIssuer(audience=AUD, algorithms=("ES256",)) as local:
        local.register_client("faults-api", secret=SECRET)
        yield local
        deadline = time.monotonic() + 5  # let slow answers to clients that gave up finish quietly
        while any(isinstance(r, SlowRoute) and r.in_flight for r in local.routes.values()) \
                and time.monotonic() < deadline:
            time.sleep(0.02)


def guard_for(issuer: LocalIssuer, timeout: float) -> Guard:
    return Guard.from_config({**issuer.guard_config(), "introspection": {
        "endpoint": issuer.introspection_url, "client_id": "faults-api", "client_secret": SECRET,
        "timeout": timeout}})


def outcomes_async(guard: Guard, tokens: list[str]) -> list[Principal | AuthError]:
    async def one(token: str) -> Principal | AuthError:
        try:
            return await guard.authenticate("Bearer " + token)
        except AuthError as exc:
            return exc

    async def every() -> list[Principal | AuthError]:
        return list(await asyncio.gather(*(one(token) for token in tokens)))

    return asyncio.run(every())


def outcomes_sync(guard: Guard, tokens: list[str]) -> list[Principal | AuthError]:
    def one(token: str) -> Principal | AuthError:
        try:
            return guard.authenticate_sync("Bearer " + token)
        except AuthError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        return list(pool.map(one, tokens))


DRIVERS = {"async": outcomes_async, "sync": outcomes_sync}


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_slow_introspection_server_sees_a_bounded_number_of_calls(issuer: LocalIssuer, driver: str) -> None:
    """Issue 7, load and faults (3): distinct cold tokens, more than the cap, against a server slower
    than the timeout. Before the fix every request made its own call (a pile-up as deep as the load)."""
    route = SlowRoute(issuer, "/introspect", delay=0.6)
    guard = guard_for(issuer, timeout=0.3)
    tokens = [issuer.issue_opaque(CLAIMS) for _ in range(Introspector.MAX_IN_FLIGHT + 32)]
    results = DRIVERS[driver](guard, tokens)
    assert all(isinstance(r, ServiceUnavailable) and int(r.headers["Retry-After"]) >= 1 for r in results)
    assert route.peak <= Introspector.MAX_IN_FLIGHT
    assert issuer.hits["/introspect"] <= Introspector.MAX_IN_FLIGHT
    guard.close()


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_more_cold_tokens_than_the_cap_wait_for_a_slot_on_a_healthy_server(issuer: LocalIssuer,
                                                                           driver: str) -> None:
    """The cap bounds the calls in flight; it does not refuse a burst that a healthy server answers."""
    SlowRoute(issuer, "/introspect", delay=0.05)
    guard = guard_for(issuer, timeout=5.0)
    tokens = [issuer.issue_opaque(CLAIMS) for _ in range(Introspector.MAX_IN_FLIGHT + 32)]
    results = DRIVERS[driver](guard, tokens)
    assert all(isinstance(r, Principal) and r.app is not None for r in results)
    assert issuer.hits["/introspect"] == len(tokens)
    guard.close()


def test_outage_window_opens_when_the_failure_is_seen(issuer: LocalIssuer) -> None:
    """Issue 7, load and faults (3): with a timeout longer than ``outage``, the window used to open
    at the request's start and be over before the timeout fired, so every request called again."""
    SlowRoute(issuer, "/introspect", delay=0.6)
    config = IntrospectionConfig(client_id="faults-api", endpoint=issuer.introspection_url,
                                 client_secret=SECRET, timeout=0.3)
    introspector = Introspector(config, IssuerConfig(name="local", issuer=issuer.issuer, algorithms=("ES256",)),
                                StaticKeys(KeySet()), outage=0.1)
    first, second = (issuer.issue_opaque(CLAIMS) for _ in range(2))
    now = time.time()
    assert introspector.introspect(first, hashlib.sha256(first.encode()).hexdigest(), now).error
    # A request arriving as the timeout fires (now + timeout) is inside the window: no second call.
    assert introspector.introspect(second, hashlib.sha256(second.encode()).hexdigest(), now + 0.3).error
    assert issuer.hits["/introspect"] == 1
    introspector.close()
