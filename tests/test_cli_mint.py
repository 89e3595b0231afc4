"""``s2s-guard mint`` (every family, from a saved issuer state) and ``s2s-guard issuer`` (a real subprocess)."""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from loopback import free_port

from s2s_guard.cli import DEFAULT_STATE, main
from s2s_guard.cli_issuer import OPAQUE_CLIENT, register_demo_clients, run_issuer, to_toml, write_state
from s2s_guard.client.hightrust import ACTIVE_DIRECTORY_IDP, SHAREPOINT_PRINCIPAL
from s2s_guard.errors import AuthError
from s2s_guard.guard import Guard
from s2s_guard.testing import BROKEN, FAMILIES, LocalIssuer, save_state, trust_config
from s2s_guard.testing.sharepoint import ACS_PRINCIPAL

AUD = "api://orders"
OTHER_AUD = "api://reports"
HOST = "sp.example"
OPTIONS = ("--client-id", "my-app", "--user", "bob", "--scopes", "orders.read", "--scopes", "orders.write",
           "--audience", OTHER_AUD, "--host", HOST, "--ttl", "120")
Claims = dict[str, Any]
Checker = Callable[[Claims, Claims, LocalIssuer], None]


def decode(token: str) -> tuple[Claims, Claims]:
    """Header and claims of a compact JWS, unverified (the format is what is tested here)."""
    header, payload = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in token.split(".")[:2])
    return header, payload


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD) as iss:
        yield iss


@pytest.fixture(scope="module")
def state(issuer: LocalIssuer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("state") / "issuer.json"
    write_state(issuer, path, register_demo_clients(issuer))
    return path


@pytest.fixture(scope="module")
def guard(issuer: LocalIssuer) -> Iterator[Guard]:
    guard = Guard.from_config(trust_config(issuer, host=HOST, audience=[AUD, OTHER_AUD]))
    yield guard
    guard.close()


def mint(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["mint", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- what each family must look like ------------------------------------------------------------

def _rfc9068(sub: str) -> Checker:
    def check(header: Claims, claims: Claims, iss: LocalIssuer) -> None:
        assert (header["typ"], header["kid"] in {k.kid for k in iss.keys}) == ("at+jwt", True)
        assert (claims["iss"], claims["aud"], claims["client_id"], claims["sub"]) == (
            iss.issuer, OTHER_AUD, "my-app", sub)
        assert claims["scope"] == "orders.read orders.write" and claims["exp"] - claims["nbf"] == 120
    return check


def _act_chain(header: Claims, claims: Claims, iss: LocalIssuer) -> None:
    _rfc9068("bob")(header, claims, iss)
    assert claims["act"] == {"sub": "my-app", "act": {"sub": "upstream-service"}}


def _entra(version: str, delegated: bool) -> Checker:
    def check(header: Claims, claims: Claims, iss: LocalIssuer) -> None:
        tid = iss.tenant_id
        expected_iss = f"https://sts.windows.net/{tid}/" if version == "1.0" else \
            f"https://login.microsoftonline.com/{tid}/v2.0"
        assert (header["typ"], claims["ver"], claims["iss"], claims["tid"], claims["aud"]) == (
            "JWT", version, expected_iss, tid, OTHER_AUD)
        assert claims["appid" if version == "1.0" else "azp"] == "my-app"
        if delegated:
            assert claims["scp"] == "orders.read orders.write" and claims["oid"] != claims["sub"]
            assert claims["upn" if version == "1.0" else "preferred_username"] == "bob"
        else:
            assert claims["roles"] == ["orders.read", "orders.write"] and claims["oid"] == claims["sub"]
            assert "scp" not in claims and claims.get("idtyp") == ("app" if version == "1.0" else None)
    return check


def _sharepoint_actor(header: Claims, claims: Claims, iss: LocalIssuer, delegation: bool = False) -> None:
    sp, realm = iss.sharepoint, iss.sharepoint.realm.lower()
    assert (header["alg"], header["x5t"]) == ("RS256", sp.thumbprint)
    assert (claims["iss"], claims["nameid"], claims["aud"]) == (
        f"{sp.issuer_id.lower()}@{realm}", f"my-app@{realm}", f"{SHAREPOINT_PRINCIPAL}/{HOST}@{realm}")
    assert claims["exp"] - claims["nbf"] == 120
    assert claims.get("trustedfordelegation") == ("true" if delegation else None)


def _sharepoint_user(header: Claims, claims: Claims, iss: LocalIssuer) -> None:
    realm = iss.sharepoint.realm.lower()
    assert header == {"typ": "JWT", "alg": "none"}
    assert (claims["iss"], claims["nameid"], claims["nii"]) == (f"my-app@{realm}", "bob", ACTIVE_DIRECTORY_IDP)
    _sharepoint_actor(*decode(claims["actortoken"]), iss, delegation=True)


def _acs(user: bool) -> Checker:
    def check(header: Claims, claims: Claims, iss: LocalIssuer) -> None:
        realm = iss.sharepoint.realm.lower()
        assert header["x5t"] == iss.sharepoint.thumbprint
        assert (claims["iss"], claims["aud"]) == (f"{ACS_PRINCIPAL}@{realm}", f"{SHAREPOINT_PRINCIPAL}/{HOST}@{realm}")
        if user:
            assert (claims["actor"], claims["nameid"]) == (f"my-app@{realm}", "bob")
        else:
            assert claims["nameid"] == f"my-app@{realm}" and "actor" not in claims
    return check


FORMATS: dict[str, Checker] = {
    "app-only": _rfc9068("my-app"),
    "user+app": _rfc9068("bob"),
    "act-chain": _act_chain,
    "entra-v1-app": _entra("1.0", delegated=False),
    "entra-v1-delegated": _entra("1.0", delegated=True),
    "entra-v2-app": _entra("2.0", delegated=False),
    "entra-v2-delegated": _entra("2.0", delegated=True),
    "sharepoint-app-only": _sharepoint_actor,
    "sharepoint-user+app": _sharepoint_user,
    "acs-app-only": _acs(user=False),
    "acs-user+app": _acs(user=True),
}


def test_every_family_but_opaque_has_a_format_check() -> None:
    assert set(FORMATS) == set(FAMILIES) - {"opaque"}


@pytest.mark.parametrize("family", sorted(FORMATS))
def test_mint_prints_a_token_of_the_family(capsys: pytest.CaptureFixture[str], state: Path, issuer: LocalIssuer,
                                           guard: Guard, family: str) -> None:
    code, out, err = mint(capsys, family, "--state", str(state), *OPTIONS)
    assert (code, err, out.count("\n")) == (0, "", 1)
    token = out.strip()
    FORMATS[family](*decode(token), issuer)
    principal = guard.authenticate_sync("Bearer " + token)  # the saved keys are the issuer's keys
    assert principal.app is not None and principal.app.client_id == "my-app"


def test_mint_opaque_asks_the_running_issuer(capsys: pytest.CaptureFixture[str], state: Path,
                                            issuer: LocalIssuer, guard: Guard) -> None:
    code, out, err = mint(capsys, "opaque", "--state", str(state), "--scopes", "orders.read", "--audience", AUD)
    token = out.strip()
    assert (code, err, "." in token) == (0, "", False)
    answer = issuer.introspect(token)
    assert (answer["active"], answer["client_id"], answer["scope"], answer["aud"]) == (
        True, OPAQUE_CLIENT, "orders.read", AUD)
    assert guard.authenticate_sync("Bearer " + token).policy == "app-only"


def test_mint_opaque_for_another_client_exits_2(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    code, out, err = mint(capsys, "opaque", "--state", str(state), "--client-id", "my-app")
    assert (code, out) == (2, "") and OPAQUE_CLIENT in err


def test_mint_a_broken_family_notes_it_on_stderr(capsys: pytest.CaptureFixture[str], state: Path,
                                                 guard: Guard) -> None:
    code, out, err = mint(capsys, "expired", "--state", str(state))
    assert code == 0 and "must refuse" in err
    with pytest.raises(AuthError) as refused:
        guard.authenticate_sync("Bearer " + out.strip())
    assert refused.value.reason == "expired"


def test_mint_list_shows_every_family(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = mint(capsys, "--list")
    assert (code, err) == (0, "")
    names = {line.split()[0] for line in out.splitlines()[1:] if not line.startswith(" ")}
    assert names == set(FAMILIES) | set(BROKEN)
    assert re.search(r"^app-only +accepts +RFC 9068", out, re.M) and re.search(r"^alg-none +refuses", out, re.M)
    assert max(len(line) for line in out.splitlines()) <= 100


def test_mint_reads_the_default_state_in_the_current_directory(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        issuer: LocalIssuer) -> None:
    save_state(issuer, tmp_path / DEFAULT_STATE)
    monkeypatch.chdir(tmp_path)
    code, out, _ = mint(capsys, "user+app")
    assert code == 0 and decode(out.strip())[1]["sub"] == "alice"


@pytest.mark.parametrize(("argv", "message"), [
    (("app-only",), "start `s2s-guard issuer`"),  # no state in the current directory
    (("app-only", "--state", "absent.json"), "no issuer state at absent.json"),
    (("no-such-family",), "unknown token family"),
    ((), "name a token family"),
])
def test_mint_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path, argv: tuple[str, ...], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = mint(capsys, *argv)
    assert (code, out) == (2, "") and message in err


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"issuer": "x"}'])
def test_mint_bad_state_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    code, out, err = mint(capsys, "app-only", "--state", str(path))
    assert (code, out) == (2, "") and str(path) in err


def test_mint_opaque_needs_a_state_written_by_the_issuer_verb(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                              issuer: LocalIssuer) -> None:
    save_state(issuer, tmp_path / "plain.json")  # the testing kit's own format: no client secrets
    code, out, err = mint(capsys, "opaque", "--state", str(tmp_path / "plain.json"))
    assert (code, out) == (2, "") and "not written by `s2s-guard issuer`" in err


def test_mint_opaque_from_a_stopped_issuer_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with LocalIssuer() as stopped:
        write_state(stopped, tmp_path / "state.json", register_demo_clients(stopped))
    code, out, err = mint(capsys, "opaque", "--state", str(tmp_path / "state.json"))
    assert (code, out) == (2, "") and "still running" in err


@pytest.mark.parametrize("ttl", ["0", "-5", "soon", "nan", "inf"])
def test_mint_refuses_a_bad_ttl(capsys: pytest.CaptureFixture[str], ttl: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["mint", "app-only", "--ttl", ttl])
    assert exc.value.code == 2 and "positive number" in capsys.readouterr().err


def test_to_toml_round_trips_a_trust_config(issuer: LocalIssuer) -> None:
    config = trust_config(issuer, public_paths=["/health"], grants=[{"app": "a", "resource": "/s", "right": "Read"}])
    assert tomllib.loads(to_toml(config)) == config


def test_issuer_on_a_busy_port_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code = run_issuer_cli(str(busy.getsockname()[1]), str(tmp_path / "state.json"))
    out, err = capsys.readouterr()
    assert (code, out) == (2, "") and "cannot listen" in err
    assert not (tmp_path / "state.json").exists()


def run_issuer_cli(port: str, state: str) -> int:
    return main(["issuer", "--port", port, "--state", state])


# -- the issuer verb as a real subprocess ----------------------------------------------------------

class IssuerProcess:
    """``s2s-guard issuer`` in a subprocess; its stdout lines arrive on a queue."""

    def __init__(self, port: int, state: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "s2s_guard.cli", "issuer", "--port", str(port), "--state", str(state),
             "--audience", AUD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=state.parent)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_until(self, marker: str, timeout: float = 30.0) -> list[str]:
        seen: list[str] = []
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError("issuer exited early:\n" + "\n".join(seen) + self.stderr())
            seen.append(line)
            if marker in line:
                return seen

    def stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.stderr is not None and self.proc.poll() is not None else ""


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[IssuerProcess, list[str], Path]]:
    state = tmp_path / "issuer-state.json"
    process = IssuerProcess(free_port(), state)
    try:
        yield process, process.read_until("Serving until"), state
    finally:
        if process.proc.poll() is None:
            process.proc.kill()
        process.proc.wait(10)
        for stream in (process.proc.stdout, process.proc.stderr):
            if stream is not None:
                stream.close()


def printed(lines: list[str], label: str) -> str:
    return next(line.split()[-1] for line in lines if line.strip().startswith(label + " "))


def printed_config(lines: list[str], path: Path) -> Path:
    start = lines.index("# --- begin s2s-guard configuration ---")
    end = lines.index("# --- end s2s-guard configuration ---")
    path.write_text("\n".join(lines[start + 1:end]) + "\n")
    return path


def test_issuer_serves_prints_its_config_and_stops_on_sigterm(
        running: tuple[IssuerProcess, list[str], Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    process, lines, state = running
    assert max(len(line) for line in lines if str(state) not in line) <= 100
    discovery = httpx.get(printed(lines, "discovery"), timeout=10, trust_env=False).json()
    assert discovery["issuer"] == printed(lines, "issuer")
    assert discovery["token_endpoint"] == printed(lines, "token")
    assert discovery["introspection_endpoint"] == printed(lines, "introspection")
    metadata = httpx.get(printed(lines, "SharePoint metadata"), timeout=10, trust_env=False).json()
    assert metadata["keys"][0]["keyValue"]["type"] == "x509Certificate"
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600

    config = printed_config(lines, tmp_path / "guard.toml")
    for family in ("app-only", "user+app", "opaque", "entra-v2-delegated", "sharepoint-user+app", "acs-app-only"):
        code, out, err = mint(capsys, family, "--state", str(state), "--scopes", "orders.read")
        assert code == 0, err
        assert main(["check", "--config", str(config), out.strip()]) == 0, family
        verdict = json.loads(capsys.readouterr().out)
        assert verdict["accepted"] is True and verdict["principal"]["app"]["client_id"]

    process.proc.send_signal(signal.SIGTERM)
    assert process.proc.wait(timeout=10) == 0
    assert "s2s-guard issuer: stopped" in process.read_until("stopped")
    assert process.stderr() == ""  # no traceback
    assert not state.exists()  # private keys of a stopped issuer are not left behind


def test_issuer_client_secrets_are_real_and_ctrl_c_stops_it(
        running: tuple[IssuerProcess, list[str], Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    process, lines, _ = running
    secret = next(line.split()[2] for line in lines if line.strip().startswith("daemon-app "))
    answer = httpx.post(printed(lines, "token"), data={"grant_type": "client_credentials", "scope": "orders.read"},
                        auth=("daemon-app", secret), timeout=10, trust_env=False)
    token = answer.json()["access_token"]
    config = printed_config(lines, tmp_path / "guard.toml")
    assert main(["check", "--config", str(config), "--policy", "app-only", "--scope", "orders.read", token]) == 0
    assert token not in capsys.readouterr().out

    process.proc.send_signal(signal.SIGINT)
    assert process.proc.wait(timeout=10) == 0
    assert process.stderr() == ""
