"""Fixtures for the framework adapters: one local issuer per session, its configuration, Django settings.

Django settings are process-wide: they are configured once with a neutral base (nothing of
ours), and every test that needs S2S_GUARD, middleware or URLs applies them with
``override_settings`` and removes them afterwards, so other tests see an untouched Django.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from contrib_support import AUD, DOWN_ISSUER
from loopback import configure_django, free_port

from s2s_guard.testing import LocalIssuer


@pytest.fixture(scope="session")
def issuer() -> Iterator[LocalIssuer]:
    """The one local issuer of the contrib suite (real JWKS over HTTP on 127.0.0.1)."""
    with LocalIssuer(audience=AUD, algorithms=("RS256",)) as iss:
        yield iss


@pytest.fixture(scope="session")
def down_issuer() -> LocalIssuer:
    """An issuer whose JWKS URI refuses connections: its tokens must give 503, never acceptance."""
    return LocalIssuer(issuer=DOWN_ISSUER, audience=AUD, algorithms=("RS256",))  # never started


@pytest.fixture(scope="session")
def guard_config(issuer: LocalIssuer) -> dict[str, Any]:
    """The configuration schema every adapter is built from."""
    return {
        "audience": [AUD],
        "public_paths": ["/health"],
        "issuers": [
            {"name": "local", "issuer": issuer.issuer, "algorithms": ["RS256"],
             "jwks_uri": issuer.jwks_uri},
            {"name": "down", "issuer": DOWN_ISSUER, "algorithms": ["RS256"],
             "jwks_uri": f"http://127.0.0.1:{free_port()}/jwks", "timeout": 2},
        ],
    }


@pytest.fixture(scope="session")
def django_base() -> None:
    """Configure Django once with neutral settings (if nothing else did) and set it up."""
    configure_django()
