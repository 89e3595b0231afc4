"""pytest fixtures to test an s2s_guard-protected app without an identity provider.

Registered as the ``s2s_guard`` ``pytest11`` entry point, so installing s2s_guard is enough:

    def test_orders(s2s_token, s2s_guard):
        principal = s2s_guard.authenticate_sync("Bearer " + s2s_token("user+app", scopes="orders.read"))
        assert principal.policy == "user+app"

``s2s_issuer`` is one :class:`~s2s_guard.testing.LocalIssuer` per session (audience from the
``s2s_guard_audience`` ini option, default ``api://test``); tests that rotate its keys or make
it fail should start their own ``LocalIssuer``. Importing this module starts nothing and
imports nothing heavy: pytest loads it in every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..guard import Guard
    from .issuer import LocalIssuer

__all__ = ["s2s_guard", "s2s_guard_config", "s2s_issuer", "s2s_token"]

DEFAULT_AUDIENCE = "api://test"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("s2s_guard_audience", "aud of the tokens the s2s_issuer fixture mints",
                  default=DEFAULT_AUDIENCE)


@pytest.fixture(scope="session")
def s2s_issuer(pytestconfig: pytest.Config) -> Iterator[LocalIssuer]:
    """A started local issuer on 127.0.0.1 for the whole session, stopped at the end."""
    from .issuer import LocalIssuer

    audience = str(pytestconfig.getini("s2s_guard_audience") or DEFAULT_AUDIENCE)
    with LocalIssuer(audience=audience, algorithms=("RS256", "ES256")) as issuer:
        yield issuer


@pytest.fixture
def s2s_token(s2s_issuer: LocalIssuer) -> Callable[..., str]:
    """``s2s_token(kind="app-only", scopes=..., client_id=..., user=..., audience=..., ttl=...)``.

    ``kind`` is any family of :data:`s2s_guard.testing.FAMILIES` or :data:`~s2s_guard.testing.BROKEN`.
    """
    from .mint import mint_token

    def make(kind: str = "app-only", *, scopes: str | Iterable[str] = "", **options: Any) -> str:
        scope = scopes if isinstance(scopes, str) else " ".join(scopes)
        return mint_token(s2s_issuer, kind, scopes=scope, **options)

    return make


@pytest.fixture
def s2s_guard_config(s2s_issuer: LocalIssuer) -> dict[str, Any]:
    """A guard configuration (a fresh dict per test, edit it freely) trusting ``s2s_issuer``."""
    return s2s_issuer.guard_config()


@pytest.fixture
def s2s_guard(s2s_guard_config: dict[str, Any]) -> Guard:
    """A :class:`~s2s_guard.Guard` built from ``s2s_guard_config``."""
    from ..guard import Guard

    return Guard.from_config(s2s_guard_config)
