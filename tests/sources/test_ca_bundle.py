"""Per-issuer ``ca_bundle``: an issuer behind a private CA, trusted without touching the process.

RFC 8414 §3 and RFC 7517 §9.2 want keys and metadata over TLS; an issuer whose server
certificate comes from a private CA (a company PKI, the testing kit's local CA) is verified
with that CA alone, for that issuer's fetches only. Real https servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s2s_guard import Guard
from s2s_guard.config import load_config
from s2s_guard.errors import ConfigurationError, ServiceUnavailable
from s2s_guard.testing import EntraLocalIssuer, LocalCA

AUD = "api://orders"


@pytest.fixture(scope="module")
def entra() -> Iterator[EntraLocalIssuer]:
    with EntraLocalIssuer(audience=AUD) as issuer:
        yield issuer


def _config(entra: EntraLocalIssuer, **options: Any) -> dict[str, Any]:
    """A plain jwt issuer entry fetching the tenant's JWKS over https."""
    issuer = {"name": "private-ca", "profile": "entra", "issuer": entra.issuer, "algorithms": ["RS256"],
              "jwks_uri": entra.jwks_uri, **options}
    return {"audience": AUD, "issuers": [issuer]}


def _token(entra: EntraLocalIssuer) -> str:
    return entra.app_only_token("daemon", AUD, roles=["Orders.Read.All"])


def test_keys_fetched_over_https_verified_with_the_bundle(entra: EntraLocalIssuer) -> None:
    guard = Guard.from_config(_config(entra, ca_bundle=entra.ca_bundle))
    assert guard.authenticate_sync("Bearer " + _token(entra)).scopes == {"Orders.Read.All"}
    fresh = Guard.from_config(_config(entra, ca_bundle=entra.ca_bundle))  # the async path, its own fetch
    principal = asyncio.run(fresh.authenticate("Bearer " + _token(entra)))
    assert principal.app is not None and principal.app.client_id == "daemon"


def test_discovery_also_uses_the_bundle(entra: EntraLocalIssuer) -> None:
    config = _config(entra, ca_bundle=entra.ca_bundle, discovery=entra.discovery_url)
    del config["issuers"][0]["jwks_uri"]
    assert Guard.from_config(config).authenticate_sync("Bearer " + _token(entra)).app is not None


def test_without_the_bundle_the_private_ca_is_not_trusted(entra: EntraLocalIssuer) -> None:
    guard = Guard.from_config(_config(entra))  # the system's CAs: fail closed, 503
    with pytest.raises(ServiceUnavailable):
        guard.authenticate_sync("Bearer " + _token(entra))


def test_the_bundle_replaces_the_system_cas_for_that_issuer(entra: EntraLocalIssuer) -> None:
    other = LocalCA()  # a bundle for another CA: that issuer's certificate no longer verifies
    guard = Guard.from_config(_config(entra, ca_bundle=other.ca_bundle))
    with pytest.raises(ServiceUnavailable):
        guard.authenticate_sync("Bearer " + _token(entra))


@pytest.mark.parametrize("content", [None, b"not a certificate\n", b""])
def test_an_unusable_bundle_fails_at_load(entra: EntraLocalIssuer, tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigurationError) as raised:
        load_config(_config(entra, ca_bundle=str(path)))
    assert raised.value.key == "issuers[0].ca_bundle" and "PEM" in str(raised.value)


def test_ca_bundle_is_kept_in_the_issuer_config(entra: EntraLocalIssuer) -> None:
    config = load_config(_config(entra, ca_bundle=entra.ca_bundle))
    assert config.issuers[0].ca_bundle == entra.ca_bundle
    assert load_config(_config(entra)).issuers[0].ca_bundle is None
