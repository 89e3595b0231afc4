"""Configuration that is probably a mistake is refused (naming the key and the fix) or warned about at load."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from s2s_guard.config import load_config
from s2s_guard.errors import ConfigurationError

ISS = "https://login.example.com/tenant/v2.0"
SECRET = "x" * 32
TOML = """
audience = ["api://orders"]

[[issuers]]
issuer = "https://login.example.com/tenant/v2.0"
algorithms = ["RS256"]
jwks_uri = "https://login.example.com/keys"
"""


def config(issuers: list[dict[str, Any]] | None = None, **top: Any) -> dict[str, Any]:
    issuer = {"issuer": ISS, "algorithms": ["RS256"], "jwks_uri": "https://login.example.com/keys"}
    return {"audience": ["api://orders"], "issuers": issuers or [issuer], **top}


def test_a_public_path_without_a_leading_slash_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config(config(public_paths=["/ready", "health"]))
    assert info.value.key == "public_paths"
    assert "'/health'" in str(info.value)


def test_a_public_path_given_as_a_string_works_and_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "s2s_guard.config"):
        loaded = load_config(config(public_paths="/health"))
    assert loaded.public_paths == ("/health",)
    assert "public_paths = ['/health']" in caplog.text


def test_public_paths_as_a_list_are_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "s2s_guard.config"):
        assert load_config(config(public_paths=["/health", "/public/*"])).public_paths == ("/health", "/public/*")
    assert caplog.text == ""


def test_an_issuer_with_a_trailing_slash_twin_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    twins = [{"name": n, "issuer": iss, "algorithms": ["RS256"], "jwks_uri": "https://login.example.com/keys"}
             for n, iss in (("a", ISS), ("b", ISS + "/"))]
    with caplog.at_level(logging.WARNING, "s2s_guard.config"):
        loaded = load_config(config(issuers=twins))
    assert [i.issuer for i in loaded.issuers] == [ISS, ISS + "/"]  # still loaded: an IdP may issue both
    assert "issuers[1].issuer" in caplog.text and "trailing slash" in caplog.text


@pytest.mark.parametrize("key", ["secret", "secret_env"])
def test_a_secret_on_an_issuer_without_an_hmac_algorithm_is_refused(key: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISSUER_SECRET", SECRET)
    issuer = {"issuer": ISS, "algorithms": ["RS256"], "jwks_uri": "https://login.example.com/keys",
              key: SECRET if key == "secret" else "ISSUER_SECRET"}
    with pytest.raises(ConfigurationError) as info:
        load_config(config(issuers=[issuer]))
    assert info.value.key == f"issuers[0].{key}"
    assert "add the one your tokens use to algorithms, or remove the secret" in str(info.value)


def test_a_secret_with_an_hmac_algorithm_still_loads() -> None:
    issuer = {"issuer": ISS, "algorithms": ["HS256"], "secret": SECRET}
    assert load_config(config(issuers=[issuer])).issuers[0].secret == SECRET.encode()


@pytest.mark.parametrize("name", ["guard.yaml", "guard.yml", "guard.ini", "guard"])
def test_a_file_that_is_neither_toml_nor_json_is_refused_by_its_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(TOML, encoding="utf-8")  # valid TOML: refused for its name, not parsed as a guess
    with pytest.raises(ConfigurationError) as info:
        load_config(path)
    assert "write the configuration as TOML (.toml) or JSON (.json)" in str(info.value)
    assert "not valid" not in str(info.value)


def test_yaml_content_in_a_yaml_file_is_not_reported_as_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text("audience: [api://orders]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="unsupported configuration file extension '.yaml'"):
        load_config(path)


@pytest.mark.parametrize("name", ["guard.TOML", "guard.Json"])
def test_the_extension_is_matched_without_case(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(TOML if name.endswith("TOML") else
                    '{"audience": ["api://orders"], "issuers": [{"issuer": "%s", "algorithms": ["RS256"], '
                    '"jwks_uri": "https://login.example.com/keys"}]}' % ISS, encoding="utf-8")
    assert load_config(path).issuers[0].issuer == ISS
