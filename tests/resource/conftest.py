"""Fixtures for the resource tests: a local issuer on loopback (session) and neutral Django settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loopback import configure_django
from resource_kit import AUD

from s2s_guard.testing import LocalIssuer


@pytest.fixture(scope="session")
def issuer() -> Iterator[LocalIssuer]:
    """A real issuer on 127.0.0.1 whose JWKS the guards fetch."""
    with LocalIssuer(audience=AUD, algorithms=("RS256",)) as iss:
        yield iss


@pytest.fixture(scope="session")
def django_ready() -> None:
    configure_django()
