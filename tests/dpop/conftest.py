"""Fixtures for the DPoP and certificate-binding tests: a local issuer, a client key, guards, Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dpop_support import AUD, GuardFactory
from loopback import running_redis

from s2s_guard import Guard
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing.dpop import DPoPKey


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("RS256",)) as iss:
        yield iss


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey("ES256")


@pytest.fixture
def make_guard(issuer: LocalIssuer) -> Iterator[GuardFactory]:
    """``make_guard(dpop="allowed", **top)``: a guard trusting ``issuer``; closed after the test."""
    made: list[Guard] = []

    def make(top: dict[str, Any] | None = None, **issuer_options: Any) -> Guard:
        guard = Guard.from_config({**issuer.guard_config(**issuer_options), **(top or {})})
        made.append(guard)
        return guard

    yield make
    for guard in made:
        guard.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A private redis-server on a free loopback port for this test (workers share it)."""
    with running_redis() as server:
        yield server.url
