"""Issue 14: a failed JWKS fetch or introspection call names the configured issuer and the URL (redacted)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from loopback import free_port

from s2s_guard import Guard, ServiceUnavailable
from s2s_guard.testing import LocalIssuer


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience="api://orders", algorithms=("RS256",)) as iss:
        yield iss


def test_a_failed_jwks_fetch_names_the_issuer_and_url(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    issuer.fail_with = 500
    guard = Guard.from_config(issuer.guard_config())
    with caplog.at_level(logging.WARNING, logger="s2s_guard"), pytest.raises(ServiceUnavailable):
        guard.authenticate_sync("Bearer " + issuer.app_token())
    guard.close()
    [record] = [r for r in caplog.records if r.name == "s2s_guard.jwks"]
    assert f"JWKS fetch for issuer 'local' from {issuer.jwks_uri} failed" in record.getMessage()


def test_a_failed_introspection_names_the_issuer_and_a_redacted_url(issuer: LocalIssuer,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}/introspect?api_key=hunter2"
    config = {**issuer.guard_config(validation="introspect"),
              "introspection": {"endpoint": endpoint, "issuer": "local", "client_id": "rs", "client_secret": "x"}}
    guard = Guard.from_config(config)
    with caplog.at_level(logging.WARNING, logger="s2s_guard"), pytest.raises(ServiceUnavailable):
        guard.authenticate_sync("Bearer opaque-token-value")
    guard.close()
    [record] = [r for r in caplog.records if r.name == "s2s_guard.introspection"]
    message = record.getMessage()
    assert "introspection for issuer 'local' at http://127.0.0.1:" in message and "api_key=***" in message
    assert "hunter2" not in caplog.text and "opaque-token-value" not in caplog.text
