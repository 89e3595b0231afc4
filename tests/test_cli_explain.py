"""Issue 14: ``s2s-guard check --verbose`` explains a refusal; ``inspect --config`` flags what a configuration refuses."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from s2s_guard.cli import main
from s2s_guard.testing import LocalIssuer

from test_cli import issuer  # noqa: F401 (the module's local issuer, the same as the check tests')

AUD = "api://orders"


@pytest.fixture
def config_file(tmp_path: Path, issuer: LocalIssuer) -> Path:
    path = tmp_path / "guard.toml"
    path.write_text(f'audience = ["{AUD}"]\n\n[[issuers]]\nname = "local"\nissuer = "{issuer.issuer}/"\n'
                    f'algorithms = ["RS256"]\njwks_uri = "{issuer.jwks_uri}"\n')
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert argv[-1] not in out + err
    return code, out


def test_verbose_check_explains_the_trailing_slash(capsys: pytest.CaptureFixture[str], config_file: Path,
                                                   issuer: LocalIssuer) -> None:
    code, out = run(capsys, "check", "--config", str(config_file), "--verbose", issuer.app_token())
    result = json.loads(out)
    assert (code, result["reason"]) == (1, "unknown_issuer")
    assert any("trailing slash differs" in line for line in result["explanation"])


def test_verbose_check_explains_the_policy(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           issuer: LocalIssuer) -> None:
    path = tmp_path / "guard.json"
    path.write_text(json.dumps(issuer.guard_config()))
    token = issuer.user_token("alice", scopes="orders.read orders.write")
    code, out = run(capsys, "check", "--config", str(path), "-v", "--policy", "app-only",
                    "--scopes", "orders.read orders.write", token)
    result = json.loads(out)
    assert (code, result["reason"]) == (1, "policy_mismatch")
    assert "cause: policy: the route wants app-only, the token is user+app (app 'web-app' and a user)" in \
        result["explanation"]
    assert "alice" not in out


def test_without_verbose_there_is_no_explanation(capsys: pytest.CaptureFixture[str], config_file: Path,
                                                 issuer: LocalIssuer) -> None:
    _, out = run(capsys, "check", "--config", str(config_file), issuer.app_token())
    assert "explanation" not in json.loads(out)


def test_inspect_with_config_flags_what_it_would_refuse(capsys: pytest.CaptureFixture[str], config_file: Path,
                                                        issuer: LocalIssuer) -> None:
    now = int(time.time())
    token = issuer.app_token(claims={"aud": "orders", "exp": now - 93, "iat": now - 900, "nbf": now - 900})
    code, out = run(capsys, "inspect", "--config", str(config_file), token)
    flags = {flag["code"] for flag in json.loads(out)["flags"]}
    assert code == 0
    assert {"config_unknown_issuer", "config_bad_audience", "config_expired"} <= flags


def test_inspect_without_config_is_unchanged(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    _, out = run(capsys, "inspect", issuer.app_token())
    assert not [f for f in json.loads(out)["flags"] if f["code"].startswith("config_")]


def test_inspect_with_a_bad_config_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    issuer: LocalIssuer) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('audience = ["x"]\n')
    assert main(["inspect", "--config", str(path), issuer.app_token()]) == 2
    assert "configuration error" in capsys.readouterr().err
