"""Configuration of DPoP, certificate binding and trusted proxies: refused at start-up, named by key."""

from __future__ import annotations

from typing import Any

import pytest

from s2s_guard import ConfigurationError, Requirement
from s2s_guard.config import DPOP_ALGORITHMS, load_config

ISSUER = {"issuer": "https://as.example", "algorithms": ["RS256"], "jwks": {"keys": []}}


def config(issuer: dict[str, Any] | None = None, **top: Any) -> Any:
    return load_config({"audience": "api://x", "issuers": [{**ISSUER, **(issuer or {})}], **top})


def test_defaults_are_off_and_untrusted() -> None:
    loaded = config()
    assert (loaded.issuers[0].dpop, loaded.issuers[0].mtls) == ("off", "off")
    assert loaded.dpop.algorithms == DPOP_ALGORITHMS and loaded.dpop.iat_window == 60 and not loaded.dpop.nonce
    assert loaded.trusted_proxy.url_headers is None and loaded.trusted_proxy.client_cert_header is None


def test_everything_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NONCE_SECRET", "n" * 32)
    loaded = config({"dpop": "required", "mtls": "allowed"},
                    dpop={"algorithms": ["ES256"], "iat_window": 30, "nonce": True, "nonce_lifetime": 120,
                          "nonce_secret_env": "NONCE_SECRET"},
                    trusted_proxy={"url_headers": "forwarded", "client_cert_header": "X-Client-Cert"})
    assert loaded.issuers[0].dpop == "required" and loaded.dpop.nonce_secret == b"n" * 32
    assert loaded.trusted_proxy.client_cert_header == "x-client-cert"


@pytest.mark.parametrize(("issuer", "top", "key"), [
    ({"dpop": "yes"}, {}, "issuers[0].dpop"),
    ({"mtls": True}, {}, "issuers[0].mtls"),
    ({}, {"dpop": {"algorithms": ["HS256"]}}, "dpop.algorithms"),  # RFC 9449 §4.2: asymmetric only
    ({}, {"dpop": {"algorithms": ["none"]}}, "dpop.algorithms"),
    ({}, {"dpop": {"iat_window": 0}}, "dpop.iat_window"),
    ({}, {"dpop": {"nonce": "yes"}}, "dpop.nonce"),
    ({}, {"dpop": {"nonce_secret_env": "S2S_UNSET_SECRET"}}, "dpop.nonce_secret_env"),
    ({}, {"dpop": {"leeway": 1}}, "dpop.leeway"),
    ({}, {"dpop": []}, "dpop"),
    ({}, {"dpop": {"replay_cache_size": 0}}, "dpop.replay_cache_size"),
    ({}, {"trusted_proxy": {"url_headers": "x-real-ip"}}, "trusted_proxy.url_headers"),
    ({}, {"trusted_proxy": {"client_cert_header": ""}}, "trusted_proxy.client_cert_header"),
    ({}, {"trusted_proxy": {"hops": 2}}, "trusted_proxy.hops"),
])
def test_bad_values_name_their_key(issuer: dict[str, Any], top: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        config(issuer, **top)
    assert info.value.key == key


def test_route_mode_is_checked() -> None:
    assert Requirement(dpop="required").dpop == "required"
    assert Requirement(dpop="off").dpop is None  # a route can only tighten: "off" adds nothing
    with pytest.raises(ConfigurationError):
        Requirement(dpop="sometimes")
