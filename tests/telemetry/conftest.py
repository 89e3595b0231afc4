"""Fixtures for the telemetry tests: fresh in-memory OpenTelemetry per test, one local issuer per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from telemetry_kit import AUD, Recorded

from s2s_guard.testing import LocalIssuer


@pytest.fixture
def otel() -> Iterator[Recorded]:
    recorded = Recorded()
    yield recorded
    recorded.close()


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD) as iss:
        yield iss
