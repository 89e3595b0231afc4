"""guard.ready() / aready(): every issuer's keys (and discovery) fetched, what is missing reported.

Real servers on 127.0.0.1: a LocalIssuer (counting its hits) and a port nothing listens on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from loopback import free_port

from s2s_guard import ConfigurationError, Guard
from s2s_guard.readiness import Readiness, preload
from s2s_guard.testing import LocalIssuer

AUD = "api://ready"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("RS256",)) as iss:
        yield iss


def dead_url(path: str = "/jwks") -> str:
    return f"http://127.0.0.1:{free_port()}{path}"


def config(issuer: LocalIssuer, **extra: Any) -> dict[str, Any]:
    return {"audience": AUD, "issuers": [
        {"name": "local", "issuer": issuer.issuer, "algorithms": ["RS256"], "jwks_uri": issuer.jwks_uri},
        {"name": "down", "issuer": "https://down.example", "algorithms": ["RS256"], "jwks_uri": dead_url(),
         "timeout": 1, "allow_insecure_http": True}], **extra}


def test_ready_fetches_keys_once_and_names_the_issuer_that_is_missing(issuer: LocalIssuer) -> None:
    guard = Guard.from_config(config(issuer))
    before = issuer.hits["/jwks"]
    readiness = guard.ready()
    assert not readiness.ok and not readiness
    assert list(readiness.problems) == ["down"]
    assert "no keys could be fetched from http://127.0.0.1:" in readiness.problems["down"][0]
    assert issuer.hits["/jwks"] == before + 1
    guard.ready()  # cached and fresh: a probe costs no I/O
    assert issuer.hits["/jwks"] == before + 1
    assert readiness.to_dict()["ok"] is False and "down:" in str(readiness)
    # the fetched keys serve requests: no further fetch for a token
    assert guard.authenticate_sync(f"Bearer {issuer.app_token()}").identity == "daemon-app"
    assert issuer.hits["/jwks"] == before + 1


def test_aready_all_issuers_up(issuer: LocalIssuer) -> None:
    guard = Guard.from_config({"audience": AUD, "issuers": config(issuer)["issuers"][:1]})
    readiness = asyncio.run(guard.aready())
    assert readiness.ok and readiness.problems == {} and str(readiness) == "ready (1 issuer(s))"
    assert isinstance(readiness, Readiness) and readiness.to_dict() == {"ok": True, "problems": {}}


def test_discovery_failure_is_named(issuer: LocalIssuer) -> None:
    raw = {"audience": AUD, "issuers": [{"name": "disc", "issuer": "https://disc.example", "algorithms": ["RS256"],
                                         "discovery": dead_url("/.well-known/openid-configuration"),
                                         "timeout": 1, "allow_insecure_http": True}]}
    readiness = Guard.from_config(raw).ready()
    assert readiness.problems["disc"][0].startswith("discovery document unavailable from http://127.0.0.1:")


def test_static_keys_are_ready_without_io(issuer: LocalIssuer) -> None:
    raw = {"audience": AUD, "issuers": [{"name": "inline", "issuer": issuer.issuer, "algorithms": ["RS256"],
                                         "jwks": issuer.jwks()}]}
    assert Guard.from_config(raw).ready().ok


def test_preload_raises_a_configuration_error_naming_the_fix(issuer: LocalIssuer) -> None:
    readiness = Guard.from_config(config(issuer)).ready()
    with pytest.raises(ConfigurationError, match="preload.*down: no keys could be fetched.*preload = false"):
        preload(readiness)


def test_preload_key_is_a_boolean(issuer: LocalIssuer) -> None:
    assert Guard.from_config(config(issuer, preload=True)).config.preload is True
    with pytest.raises(ConfigurationError, match="preload"):
        Guard.from_config(config(issuer, preload="yes"))
