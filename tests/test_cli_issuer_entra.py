"""``s2s-guard issuer --entra``: an Entra-compatible tenant on loopback, its CA bundle printed."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from loopback import free_port

from s2s_guard import Guard
from s2s_guard.cli import main

TENANT = str(uuid.uuid4())


def _printed(lines: list[str], label: str) -> str:
    return next(line.split()[-1] for line in lines if line.strip().startswith(label + " "))


def _read_until(proc: subprocess.Popen[str], marker: str) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError("issuer exited early:\n" + "\n".join(lines))


def test_entra_issuer_verb_prints_authority_ca_bundle_and_a_working_config(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    command = [sys.executable, "-m", "s2s_guard.cli", "issuer", "--entra", "--tenant", TENANT,
               "--port", str(free_port()), "--state", str(state), "--audience", "api://orders"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            lines = _read_until(proc, "Serving until")
            authority, bundle = _printed(lines, "authority (MSAL)"), _printed(lines, "CA bundle")
            assert authority.startswith("https://127.0.0.1:") and authority.endswith("/" + TENANT)
            secret = next(line.split()[2] for line in lines if line.strip().startswith("daemon-app "))
            start, end = lines.index("# --- begin s2s-guard configuration ---"), \
                lines.index("# --- end s2s-guard configuration ---")
            config = tmp_path / "s2s-guard.toml"
            config.write_text("\n".join(lines[start + 1:end]) + "\n")
            with httpx.Client(verify=ssl.create_default_context(cafile=bundle), timeout=10) as http:
                token = http.post(f"{authority}/oauth2/v2.0/token", data={
                    "grant_type": "client_credentials", "client_id": "daemon-app", "client_secret": secret,
                    "scope": "api://orders/.default"}).json()["access_token"]
            principal = Guard.from_config(config).authenticate_sync("Bearer " + token)
            assert principal.app is not None and (principal.app.client_id, principal.app.tenant) == (
                "daemon-app", TENANT)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert not Path(bundle).exists() and not state.exists()  # the CA and the keys go with the process


@pytest.mark.parametrize("args", [["--entra", "--tenant", "contoso"], ["--tenant", TENANT]])
def test_tenant_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]) -> None:
    assert main(["issuer", "--port", str(free_port()), "--state", str(tmp_path / "s.json"), *args]) == 2
    assert "--tenant" in capsys.readouterr().err
