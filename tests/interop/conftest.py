"""Fixtures for the interop tests: a real oidc-provider for the whole session.

The tests skip only when Node.js or npm is not installed; see ``interop_server.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interop_server import OidcProvider, start_oidc_provider


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """oidc-provider started once per session on a free loopback port, stopped at the end."""
    yield from start_oidc_provider()
