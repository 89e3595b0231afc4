"""The config package keeps config.py's contract: the same names, digests and checks after the split."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import s2s_guard.config as config
from s2s_guard import ConfigurationError
from s2s_guard.config import load_config
from s2s_guard.sources.signed import namespace_for

SECRET = "x" * 40

#: Every non-underscore name config.py had at module level, and the readers other modules imported.
NAMES_BEFORE_THE_SPLIT = (
    "ASYMMETRIC_ALGORITHMS", "BINDING_MODES", "CacheConfig", "ConfigurationError", "DPOP_ALGORITHMS",
    "DPoPConfig", "DelegationConfig", "Grant", "GuardConfig", "HMAC_ALGORITHMS", "INSECURE_HTTP_FIX",
    "IntrospectionConfig", "IssuerConfig", "MIN_SECRET_BYTES", "ResourceMetadataConfig",
    "SUPPORTED_ALGORITHMS", "TelemetryConfig", "TrustedProxyConfig", "binding_mode", "check_secret_floor",
    "delegation_from", "load_config", "parse_right", "plain_http", "redact_url", "resource_metadata_from",
    "with_dpop_algorithms", "_bool", "_number", "_optional_str", "_strings", "_table", "_unknown",
)


def _rich(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("CS_SECRET", SECRET)
    return {
        "audience": ["api://a", "api://b"], "leeway": 30, "max_token_bytes": 4096,
        "issuers": [
            {"name": "entra", "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0", "profile": "entra",
             "algorithms": ["RS256"], "jwks_uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys",
             "tenants": ["11111111-1111-1111-1111-111111111111"], "actors": ["app1"], "dpop": "allowed",
             "mtls": "required", "jwks_max_age": 120},
            {"name": "hs", "issuer": "https://hs.example", "algorithms": ["HS256"], "secret_env": "CS_SECRET",
             "audience": ["x"], "require_typ": True},
            {"name": "sp", "profile": "sharepoint-high-trust", "issuer_id": "22222222-2222-2222-2222-222222222222",
             "realm": "33333333-3333-3333-3333-333333333333", "algorithms": ["RS256"], "jwks": {"keys": []},
             "hosts": ["Orders.contoso.com"]},
            {"name": "kc", "issuer": "https://kc.example/realms/r", "profile": "keycloak", "algorithms": ["ES256"],
             "jwks_uri": "https://kc.example/jwks", "realm_roles": True, "client_roles": ["c"]},
            {"name": "intro", "issuer": "https://as.example", "validation": "introspect"}],
        "introspection": {"endpoint": "https://as.example/introspect", "client_id": "api",
                          "client_secret": "s3cret", "issuer": "intro", "accept_missing_aud_for_clients": ["c1"]},
        "delegation": {"actors": ["b", "a"], "max_depth": 2},
        "grants": [{"app": "a", "resource": "/x", "right": "Write"}],
        "dpop": {"nonce": True}, "telemetry": {"audit": False},
    }


def test_the_shared_cache_namespace_is_the_same_as_before_the_split(monkeypatch: pytest.MonkeyPatch) -> None:
    # Digests computed by config.py (commit d35fa31): workers running either version share records.
    plain = {"audience": "api://a", "issuers": [{"issuer": "https://idp.example", "algorithms": ["RS256"],
                                                 "jwks_uri": "https://idp.example/jwks"}]}
    assert namespace_for(load_config(plain)) == "86f63ec82faaf0e1a24a0da2e03b6b13"
    assert namespace_for(load_config(_rich(monkeypatch))) == "0f132e69a48f0481a711a5e58503c44d"


def test_every_name_is_still_importable_from_s2s_guard_config() -> None:
    missing = [name for name in NAMES_BEFORE_THE_SPLIT if not hasattr(config, name)]
    assert not missing
    assert {"GuardConfig", "IssuerConfig", "load_config", "CacheConfig"} <= set(config.__all__)
    assert all(hasattr(config, name) for name in config.__all__)


def test_moved_names_stay_importable_from_their_old_modules() -> None:
    from s2s_guard.cli import DEFAULT_STATE, UsageError
    from s2s_guard.delegation import DelegationConfig, delegation_from, max_depth_of
    from s2s_guard.resource_metadata import (WELL_KNOWN, ResourceMetadataConfig, SignedMetadataConfig,
                                             resource_metadata_from, well_known_url, with_dpop_algorithms)
    from s2s_guard.sources.cache import SharedCache

    assert DelegationConfig is config.DelegationConfig and delegation_from is config.delegation_from
    assert ResourceMetadataConfig is config.ResourceMetadataConfig
    assert (DEFAULT_STATE, UsageError.__name__, SharedCache.__name__) == (
        ".s2s-guard-issuer.json", "UsageError", "SharedCache")
    assert callable(max_depth_of) and callable(well_known_url) and callable(resource_metadata_from)
    assert WELL_KNOWN and SignedMetadataConfig and with_dpop_algorithms


def test_an_unknown_profile_names_the_registered_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config({"audience": "a", "issuers": [{"issuer": "https://i", "algorithms": ["RS256"],
                                                   "jwks_uri": "https://i/jwks", "profile": "nope"}]})
    assert "issuers[0].profile" in str(caught.value)
    assert "'auth0'" in str(caught.value) and "'sharepoint-acs'" in str(caught.value)


def test_importing_the_config_alone_registers_profiles_and_the_issuer_uri_resolver() -> None:
    # The model imports no profile and no source: they register themselves when s2s_guard loads.
    code = ("from s2s_guard.config import load_config\n"
            "from s2s_guard.config.registry import registered_profiles\n"
            "import s2s_guard.config.registry as r\n"
            "assert 'entra' in registered_profiles() and r._resolver is not None\n"
            "c = load_config({'audience': 'a', 'issuers': [{'issuer': 'https://i', 'algorithms': ['RS256'],"
            " 'jwks_uri': 'https://i/jwks', 'profile': 'okta'}]})\n"
            "assert c.issuers[0].profile == 'okta'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_dataclass_field_comments_moved_with_their_fields() -> None:
    # The docs generator reads ``#:`` comments above fields: each stays in its class's module.
    import inspect

    for cls, field_name in ((config.IssuerConfig, "validation"), (config.CacheConfig, "secret"),
                            (config.TelemetryConfig, "audit"), (config.DPoPConfig, "iat_window"),
                            (config.TrustedProxyConfig, "url_headers"), (config.GuardConfig, "grants"),
                            (config.IntrospectionConfig, "accept_missing_aud_for_clients")):
        source = inspect.getsource(cls)
        above = source.split(f"\n    {field_name}:")[0].rstrip().splitlines()[-1].strip()
        assert above.startswith("#:"), (cls.__name__, field_name, above)
