"""load_config: dict, TOML and JSON sources, and a ConfigurationError naming every bad key."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from s2s_guard.config import GuardConfig, IssuerConfig, load_config
from s2s_guard.errors import ConfigurationError

ISS = "https://login.example.com/tenant/v2.0"
SECRET = "x" * 32
BASE: dict[str, Any] = {
    "audience": ["api://orders"],
    "leeway": 30,
    "public_paths": ["/health"],
    "issuers": [{"name": "corp", "issuer": ISS, "algorithms": ["RS256"],
                 "jwks_uri": "https://login.example.com/keys", "typ": "at+jwt"}],
}
TOML = """
audience = ["api://orders"]
leeway = 30
public_paths = ["/health"]

[[issuers]]
name = "corp"
issuer = "https://login.example.com/tenant/v2.0"
algorithms = ["RS256"]
jwks_uri = "https://login.example.com/keys"
typ = "at+jwt"
"""


def config(**top: Any) -> dict[str, Any]:
    """BASE with top-level keys replaced; ``issuer={...}`` merges into the first issuer."""
    raw = copy.deepcopy(BASE)
    raw["issuers"][0].update(top.pop("issuer", {}))
    raw.update(top)
    return raw


def check_expected(cfg: GuardConfig) -> None:
    assert cfg.audience == ("api://orders",)
    assert cfg.leeway == 30.0
    assert cfg.public_paths == ("/health",)
    assert cfg.max_token_bytes == 16 * 1024
    assert cfg.allow_query_token is False
    assert cfg.issuers == (IssuerConfig(name="corp", issuer=ISS, algorithms=("RS256",),
                                        jwks_uri="https://login.example.com/keys", typ="at+jwt"),)


def test_from_dict() -> None:
    check_expected(load_config(BASE))


def test_from_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "guard.toml"
    path.write_text(TOML, encoding="utf-8")
    check_expected(load_config(path))
    check_expected(load_config(str(path)))


def test_from_json_file(tmp_path: Path) -> None:
    path = tmp_path / "guard.json"
    path.write_text(json.dumps(BASE), encoding="utf-8")
    check_expected(load_config(path))


def test_from_a_shared_file_with_an_s2s_guard_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    shared = "[project]\nname = 'x'\n\n" + TOML.replace("[[issuers]]", "[[s2s_guard.issuers]]")
    shared = shared.replace('audience = ["api://orders"]', '[s2s_guard]\naudience = ["api://orders"]')
    path.write_text(shared, encoding="utf-8")
    check_expected(load_config(path))
    json_path = tmp_path / "settings.json"
    json_path.write_text(json.dumps({"other": 1, "s2s_guard": BASE}), encoding="utf-8")
    check_expected(load_config(json_path))


def test_a_guard_config_passes_through() -> None:
    cfg = load_config(BASE)
    assert load_config(cfg) is cfg


def test_optional_values() -> None:
    cfg = load_config(config(audience="api://orders", realm="orders", max_token_bytes=4096,
                             allow_query_token=True, leeway=0,
                             issuer={"audience": "api://other", "jwks_max_age": 60,
                                     "jwks_cooldown": 5.5, "timeout": 1, "profile": "jwt"}))
    assert (cfg.audience, cfg.realm, cfg.max_token_bytes, cfg.allow_query_token, cfg.leeway) == (
        ("api://orders",), "orders", 4096, True, 0.0)
    issuer = cfg.issuers[0]
    assert (issuer.audience, issuer.jwks_max_age, issuer.jwks_cooldown, issuer.timeout) == (
        ("api://other",), 60.0, 5.5, 1.0)


def test_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_TEST_SECRET", SECRET)
    cfg = load_config(config(issuer={"algorithms": ["HS256"], "secret_env": "S2S_TEST_SECRET"}))
    assert cfg.issuers[0].secret == SECRET.encode()
    assert SECRET not in repr(cfg)  # the secret never shows in a repr


def test_issuer_with_only_a_secret_needs_no_key_source() -> None:
    raw = config(issuer={"algorithms": ["HS512"], "secret": SECRET})
    del raw["issuers"][0]["jwks_uri"]
    assert load_config(raw).issuers[0].jwks_uri is None


@pytest.mark.parametrize(("raw", "key"), [
    (config(unknown=1), "unknown"),
    (config(issuer={"jwks_url": "https://x"}), "issuers[0].jwks_url"),
    ({k: v for k, v in BASE.items() if k != "audience"}, "audience"),
    (config(audience=[]), "audience"),
    (config(audience=""), "audience"),
    (config(audience=["api://orders", 1]), "audience"),
    (config(issuers=[]), "issuers"),
    ({k: v for k, v in BASE.items() if k != "issuers"}, "issuers"),
    (config(issuers="https://x"), "issuers"),
    (config(issuers=["https://x"]), "issuers[0]"),
    (config(issuer={"algorithms": ["none"]}), "issuers[0].algorithms"),
    (config(issuer={"algorithms": ["RS256", "None"]}), "issuers[0].algorithms"),
    (config(issuer={"algorithms": ["rs256"]}), "issuers[0].algorithms"),
    (config(issuer={"algorithms": []}), "issuers[0].algorithms"),
    (config(issuer={"algorithms": "HS256", "secret": None}), "issuers[0].algorithms"),
    (config(issuer={"jwks_uri": "ftp://login.example.com/keys"}), "issuers[0].jwks_uri"),
    (config(issuer={"jwks_uri": "login.example.com/keys"}), "issuers[0].jwks_uri"),
    (config(issuer={"jwks_uri": 42}), "issuers[0].jwks_uri"),
    (config(issuer={"jwks_uri": ""}), "issuers[0].jwks_uri"),
    (config(issuers=[BASE["issuers"][0], {**BASE["issuers"][0], "name": "copy"}]), "issuers[1].issuer"),
    (config(issuer={"algorithms": ["HS256"], "secret": "short"}), "issuers[0].secret"),
    (config(issuer={"algorithms": ["HS256"], "secret": "x" * 31}), "issuers[0].secret"),
    (config(issuer={"algorithms": ["HS256"], "secret": 12345}), "issuers[0].secret"),
    (config(issuer={"algorithms": ["HS256"], "secret_env": "S2S_TEST_UNSET"}), "issuers[0].secret_env"),
    (config(issuer={"algorithms": ["HS256"], "secret_env": 1}), "issuers[0].secret_env"),
    (config(leeway="60"), "leeway"),
    (config(leeway=True), "leeway"),
    (config(leeway=-1), "leeway"),
    (config(leeway=None), "leeway"),
    (config(leeway=float("inf")), "leeway"),   # an infinite leeway would disable expiry
    (config(leeway=float("nan")), "leeway"),   # so would NaN: every comparison is false
    (config(issuer={"timeout": 0}), "issuers[0].timeout"),
    (config(issuer={"timeout": float("inf")}), "issuers[0].timeout"),
    (config(issuer={"jwks_max_age": "10"}), "issuers[0].jwks_max_age"),
    (config(issuer={"jwks_cooldown": -1}), "issuers[0].jwks_cooldown"),
    (config(issuer={"jwks_uri": None}), "issuers[0].jwks_uri"),  # RS256 needs a key source
    (config(issuer={"profile": "azure"}), "issuers[0].profile"),
    (config(issuer={"profile": 1}), "issuers[0].profile"),
    (config(issuer={"issuer": ""}), "issuers[0].issuer"),
    (config(issuer={"issuer": 42}), "issuers[0].issuer"),
    (config(issuers=[{"algorithms": ["RS256"], "jwks_uri": "https://x"}]), "issuers[0].issuer"),
    (config(issuers=[{"issuer": ISS, "jwks_uri": "https://x"}]), "issuers[0].algorithms"),
    (config(issuer={"typ": ""}), "issuers[0].typ"),
    (config(issuer={"jwks": {"kty": "RSA"}}), "issuers[0].jwks"),
    (config(issuer={"jwks": []}), "issuers[0].jwks"),
    (config(issuer={"audience": []}), "issuers[0].audience"),
    (config(issuer={"certificates": "x" * 0}), "issuers[0].certificates"),
    (config(max_token_bytes=10), "max_token_bytes"),
    (config(max_token_bytes="16384"), "max_token_bytes"),
    (config(max_token_bytes=True), "max_token_bytes"),
    (config(max_token_bytes=16384.0), "max_token_bytes"),
    (config(realm=1), "realm"),
    (config(allow_query_token="yes"), "allow_query_token"),
    (config(public_paths=[1]), "public_paths"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_invalid_key_is_named(raw: dict[str, Any], key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("S2S_TEST_UNSET", raising=False)
    with pytest.raises(ConfigurationError) as info:
        load_config(raw)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")


@pytest.mark.parametrize("source", [42, ["audience"], b"audience = []"])
def test_not_a_config_source(source: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config(source)
    assert info.value.key == "config"


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(ConfigurationError) as info:
        load_config(path)
    assert info.value.key == str(path)
    with pytest.raises(ConfigurationError) as info:
        load_config(tmp_path)  # a directory
    assert info.value.key == str(tmp_path)


@pytest.mark.parametrize(("name", "text"), [
    ("bad.toml", "audience = [\n"),
    ("bad.toml", "audience = 'a'\naudience = 'b'\n"),
    ("bad.json", '{"audience": '),
    ("list.json", '["audience"]'),
    ("bad.toml", "\udcff"),
])
def test_invalid_file_contents(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigurationError) as info:
        load_config(path)
    assert info.value.key == str(path)


def test_toml_infinity_leeway_refused(tmp_path: Path) -> None:
    path = tmp_path / "guard.toml"
    path.write_text(TOML.replace("leeway = 30", "leeway = inf"), encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_config(path)
    assert info.value.key == "leeway"


def test_errors_in_a_file_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "guard.toml"
    path.write_text(TOML.replace('algorithms = ["RS256"]', 'algorithms = ["none"]'), encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_config(os.fspath(path))
    assert info.value.key == "issuers[0].algorithms"
