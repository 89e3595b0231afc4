"""The ``s2s-guard`` command line, run in-process: ``check`` against a real local issuer, ``inspect``."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from loopback import free_port

from s2s_guard.cli import main
from s2s_guard.core.keys import b64url
from s2s_guard.inspect_token import NotAJWT, inspect_token, relative_time
from s2s_guard.testing import LocalIssuer

AUD = "api://orders"
NOW = 1_700_000_000
RawJws = Callable[..., str]


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("RS256",)) as iss:
        yield iss


@pytest.fixture
def config_file(tmp_path: Path, issuer: LocalIssuer) -> Path:
    path = tmp_path / "guard.toml"
    path.write_text(f'audience = ["{AUD}"]\n\n[[issuers]]\nname = "local"\nissuer = "{issuer.issuer}"\n'
                    f'algorithms = ["RS256"]\njwks_uri = "{issuer.jwks_uri}"\n')
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check(capsys: pytest.CaptureFixture[str], config: Path, token: str, *options: str) -> tuple[int, Any]:
    code, out, err = run(capsys, "check", "--config", str(config), *options, token)
    assert token not in out + err  # never print the raw token
    return code, json.loads(out)


def test_help_lists_the_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(verb in out for verb in ("demo", "check", "inspect", "mint", "issuer"))


# -- check ---------------------------------------------------------------------------------------

def test_check_accepts_an_app_token(capsys: pytest.CaptureFixture[str], config_file: Path,
                                    issuer: LocalIssuer) -> None:
    code, result = check(capsys, config_file, issuer.app_token("daemon", scopes="orders.read"))
    assert code == 0
    assert result["accepted"] is True
    assert result["principal"]["policy"] == "app-only"
    assert result["principal"]["app"]["client_id"] == "daemon"
    assert result["principal"]["scopes"] == ["orders.read"]


def test_check_applies_policy_and_scopes(capsys: pytest.CaptureFixture[str], config_file: Path,
                                         issuer: LocalIssuer) -> None:
    token = issuer.user_token("alice", "web", scopes="orders.read orders.write")
    code, result = check(capsys, config_file, token, "--policy", "user+app",
                         "--scope", "orders.read", "--scope", "orders.write")
    assert (code, result["principal"]["user"]["id"]) == (0, "alice")


@pytest.mark.parametrize(("options", "reason"), [(("--scope", "orders.write"), "insufficient_scope"),
                                                  (("--policy", "user-only"), "policy_mismatch")])
def test_check_refuses_what_the_requirement_does_not_allow(
        capsys: pytest.CaptureFixture[str], config_file: Path, issuer: LocalIssuer,
        options: tuple[str, ...], reason: str) -> None:
    code, result = check(capsys, config_file, issuer.app_token("daemon", scopes="orders.read"), *options)
    assert code == 1
    assert result == {"accepted": False, "status": 403, "error": "insufficient_scope",
                      "error_description": result["error_description"], "reason": reason}


def test_check_refuses_an_expired_token(capsys: pytest.CaptureFixture[str], config_file: Path,
                                        issuer: LocalIssuer) -> None:
    now = int(time.time())
    token = issuer.app_token("daemon", claims={"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})
    code, result = check(capsys, config_file, token)
    assert code == 1
    assert (result["accepted"], result["status"], result["error"], result["reason"]) == (
        False, 401, "invalid_token", "expired")
    assert "expired" in result["error_description"]


def test_check_refuses_a_wrong_audience(capsys: pytest.CaptureFixture[str], config_file: Path,
                                        issuer: LocalIssuer) -> None:
    code, result = check(capsys, config_file, issuer.app_token("daemon", claims={"aud": "api://other"}))
    assert (code, result["status"], result["reason"]) == (1, 401, "bad_audience")


def test_check_refuses_garbage(capsys: pytest.CaptureFixture[str], config_file: Path) -> None:
    code, result = check(capsys, config_file, "not-a-jwt")
    assert (code, result["accepted"], result["status"]) == (1, False, 401)


def test_check_unreachable_jwks_is_503_not_acceptance(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      issuer: LocalIssuer) -> None:
    path = tmp_path / "guard.json"
    path.write_text(json.dumps({"audience": AUD, "issuers": [
        {"issuer": issuer.issuer, "algorithms": ["RS256"], "jwks_uri": f"http://127.0.0.1:{free_port()}/jwks"}]}))
    code, result = check(capsys, path, issuer.app_token("daemon"))
    assert (code, result["accepted"], result["status"], result["reason"]) == (1, False, 503, "unavailable")


def test_check_reads_the_token_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                          config_file: Path, issuer: LocalIssuer) -> None:
    token = issuer.app_token("piped")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"\n  {token}\r\n"))
    code, out, err = run(capsys, "check", "--config", str(config_file), "-")
    assert code == 0, err
    assert json.loads(out)["principal"]["app"]["client_id"] == "piped"
    assert token not in out + err


def test_check_reads_a_json_config(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   issuer: LocalIssuer) -> None:
    path = tmp_path / "guard.json"
    path.write_text(json.dumps({"audience": AUD, "issuers": [
        {"issuer": issuer.issuer, "algorithms": ["RS256"], "jwks_uri": issuer.jwks_uri}]}))
    code, result = check(capsys, path, issuer.app_token("daemon"))
    assert (code, result["accepted"]) == (0, True)


@pytest.mark.parametrize("text", ['audience = ["api://orders"]\nlifetime = 3\n', "not = [toml"])
def test_check_bad_config_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str,
                                  issuer: LocalIssuer) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    token = issuer.app_token("daemon")
    code, out, err = run(capsys, "check", "--config", str(path), token)
    assert (code, out) == (2, "")
    assert "configuration error" in err and token not in err


def test_check_missing_config_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "check", "--config", str(tmp_path / "absent.toml"), "x.y.z")
    assert (code, out) == (2, "")
    assert "absent.toml" in err


def test_check_empty_stdin_exits_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                   config_file: Path) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("  \n"))
    code, out, err = run(capsys, "check", "--config", str(config_file), "-")
    assert (code, out) == (2, "")
    assert "no token" in err


def test_usage_errors_exit_2_without_echoing_the_token(capsys: pytest.CaptureFixture[str], config_file: Path,
                                                       issuer: LocalIssuer) -> None:
    token = issuer.app_token("daemon")
    with pytest.raises(SystemExit) as exc:
        main(["check", "--config", str(config_file), token, token])  # one token too many
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert "unrecognized arguments" in captured.err and token not in captured.err
    with pytest.raises(SystemExit) as exc:
        main(["check", "--config", str(config_file), "--policy", "admin", token])
    assert exc.value.code == 2


# -- inspect -------------------------------------------------------------------------------------

def codes(report: dict[str, Any]) -> set[str]:
    return {flag["code"] for flag in report["flags"]}


def claims(**overrides: Any) -> dict[str, Any]:
    return {"iss": "https://issuer.example", "aud": AUD, "sub": "daemon", "iat": NOW - 60,
            "exp": NOW + 300, **overrides}


def test_inspect_prints_header_claims_and_times(capsys: pytest.CaptureFixture[str],
                                                issuer: LocalIssuer) -> None:
    token = issuer.app_token("daemon", scopes="orders.read")
    code, out, err = run(capsys, "inspect", token)
    report = json.loads(out)
    assert code == 0 and token not in out
    assert report["header"]["alg"] == "RS256" and report["claims"]["client_id"] == "daemon"
    assert report["times"]["exp"]["relative"].startswith("in ")
    assert report["times"]["exp"]["utc"].endswith("Z")
    assert report["flags"] == [] and report["signature_bytes"] == 256


def test_inspect_flags_an_expired_token_in_text(capsys: pytest.CaptureFixture[str], issuer: LocalIssuer) -> None:
    token = issuer.app_token("daemon", claims={"exp": int(time.time()) - 3 * 3600 - 30 * 60})
    code, out, _ = run(capsys, "inspect", "--text", token)
    assert code == 0 and token not in out
    assert "expired 3h 30m ago" in out and "(3h 30m ago)" in out and "flags" in out


def test_inspect_reads_stdin_and_drops_a_bearer_prefix(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       issuer: LocalIssuer) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("Bearer " + issuer.app_token("piped") + "\n"))
    code, out, _ = run(capsys, "inspect", "-")
    assert (code, json.loads(out)["claims"]["sub"]) == (0, "piped")


@pytest.mark.parametrize("text", ["hello", "!!!.###.x", "a.b.c.d.e", "e30"])
def test_inspect_exits_2_when_not_a_jwt(capsys: pytest.CaptureFixture[str], text: str) -> None:
    code, out, err = run(capsys, "inspect", text)
    assert (code, out) == (2, "")
    assert err


@pytest.mark.parametrize(("header", "payload", "flag"), [
    ({"alg": "none"}, claims(), "alg_none"),
    ({"typ": "JWT"}, claims(), "alg_none"),
    ({"alg": "HS256"}, claims(), "alg_hmac"),
    ({"alg": "RS1"}, claims(), "alg_unsupported"),
    ({"alg": "RS256", "crit": ["exp"]}, claims(), "crit"),
    ({"alg": "RS256", "jku": "https://evil.example/jwks"}, claims(), "jku_header"),
    ({"alg": "RS256", "x5u": "https://evil.example/cert"}, claims(), "x5u_header"),
    ({"alg": "RS256", "jwk": {"kty": "oct"}}, claims(), "jwk_header"),
    ({"alg": "RS256", "cty": "JWT"}, claims(), "nested_jwt"),
    ({"alg": "RS256"}, claims(exp=NOW - 10), "expired"),
    ({"alg": "RS256"}, claims(nbf=NOW + 600), "not_yet_valid"),
    ({"alg": "RS256"}, claims(iat=NOW + 600), "iat_in_future"),
    ({"alg": "RS256"}, {k: v for k, v in claims().items() if k != "exp"}, "missing_exp"),
    ({"alg": "RS256"}, {k: v for k, v in claims().items() if k != "aud"}, "missing_aud"),
    ({"alg": "RS256"}, {k: v for k, v in claims().items() if k != "iss"}, "missing_iss"),
    ({"alg": "RS256"}, claims(aud=[1]), "bad_aud"),
    ({"alg": "RS256"}, claims(exp="tomorrow"), "bad_time_claim"),
    ({"alg": "RS256"}, claims(nbf=True), "bad_time_claim"),
    ({"alg": "RS256"}, claims(pad="x" * 17000), "oversize"),
])
def test_inspect_flags(raw_jws: RawJws, header: dict[str, Any], payload: dict[str, Any], flag: str) -> None:
    report = inspect_token(raw_jws(header, payload), now=NOW)
    assert flag in codes(report)
    assert report["header"] == header


def test_inspect_clean_token_has_no_flags(raw_jws: RawJws) -> None:
    report = inspect_token(raw_jws({"alg": "ES256", "kid": "k"}, claims(nbf=NOW - 60)), now=NOW)
    assert report["flags"] == []
    assert report["times"]["iat"] == {"value": NOW - 60, "utc": "2023-11-14T22:12:20Z", "relative": "1m ago"}


def test_inspect_bad_time_claim_is_shown_not_dropped(raw_jws: RawJws) -> None:
    report = inspect_token(raw_jws({"alg": "RS256"}, claims(exp="tomorrow")), now=NOW)
    assert report["times"]["exp"] == {"value": "tomorrow", "error": "not a NumericDate"}
    assert "missing_exp" not in codes(report) and "expired" not in codes(report)


def test_inspect_duplicate_keys_show_the_last_value(raw_jws: RawJws) -> None:
    payload = b'{"sub": "alice", "sub": "mallory", "aud": "api://orders", "iss": "i", "exp": 1700000300}'
    report = inspect_token(raw_jws({"alg": "RS256"}, payload), now=NOW)
    assert codes(report) == {"duplicate_keys"}
    assert report["claims"]["sub"] == "mallory"


def test_inspect_non_canonical_base64(raw_jws: RawJws) -> None:
    header, payload, signature = raw_jws({"alg": "RS256"}, claims()).split(".")
    padded = inspect_token(f"{header}==.{payload}.{signature}", now=NOW)
    assert codes(padded) == {"non_canonical_base64"} and padded["header"] == {"alg": "RS256"}
    odd = b64url(b'{"alg":"RS256"} ')  # 16 bytes: 22 characters, 4 unused low bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    tweaked = odd[:-1] + alphabet[alphabet.index(odd[-1]) + 1]  # same bytes, a non-zero low bit
    report = inspect_token(f"{tweaked}.{payload}.{signature}", now=NOW)
    assert codes(report) == {"non_canonical_base64"} and report["header"] == {"alg": "RS256"}


def test_inspect_payload_that_is_not_json(raw_jws: RawJws) -> None:
    report = inspect_token(raw_jws({"alg": "RS256"}, b"plain text"), now=NOW)
    assert report["claims"] is None and codes(report) == {"invalid_json"}


def test_inspect_decodes_a_sharepoint_actortoken(capsys: pytest.CaptureFixture[str], raw_jws: RawJws,
                                                 issuer: LocalIssuer) -> None:
    inner = issuer.app_token("add-in")
    outer = raw_jws({"alg": "none"}, {**claims(), "actortoken": inner, "nameid": "alice"}, b"")
    code, out, _ = run(capsys, "inspect", outer)
    report = json.loads(out)
    assert code == 0 and inner not in out
    assert report["actortoken"]["header"]["alg"] == "RS256"
    assert report["actortoken"]["claims"]["client_id"] == "add-in"
    assert report["claims"]["actortoken"].startswith("<token sha256:")
    assert "alg_none" in codes(report) and report["signature_bytes"] == 0
    code, text, _ = run(capsys, "inspect", "--text", outer)
    assert code == 0 and "actortoken" in text and "add-in" in text and inner not in text


def test_inspect_token_raises_for_non_jwt() -> None:
    with pytest.raises(NotAJWT):
        inspect_token("Zm9v.YmFy.YmF6", now=NOW)  # "foo": base64url, but not a JSON object


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "now"), (0.4, "now"), (45, "in 45s"), (300, "in 5m"), (299.4, "in 4m 59s"),
    (-3 * 3600, "3h ago"), (-3 * 3600 - 59 * 60 - 5, "3h 59m ago"), (2 * 86400 + 5, "in 2d"),
    (86400 + 3600 + 60, "in 1d 1h")])
def test_relative_time(seconds: float, text: str) -> None:
    assert relative_time(seconds) == text
