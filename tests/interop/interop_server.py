"""Support for the interop tests: start oidc-provider (Node.js) on 127.0.0.1, probe features.

``npm ci`` installs the pinned version from ``package-lock.json`` into ``node_modules`` once
(skipped when that version is already there); the server (``server.mjs``) runs as a subprocess
for the test session. The tests skip only when Node.js or npm is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from loopback import free_port


HERE = Path(__file__).parent
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class OidcProvider:
    """The running server: its issuer URL and discovery document (RFC 8414 / OpenID Discovery)."""

    issuer: str
    metadata: dict[str, Any]
    log: Path

    @property
    def token_endpoint(self) -> str:
        return str(self.metadata["token_endpoint"])

    @property
    def jwks_uri(self) -> str:
        return str(self.metadata["jwks_uri"])

    @property
    def discovery(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"


def _pinned_version() -> str:
    return str(json.loads((HERE / "package.json").read_text())["dependencies"]["oidc-provider"])


def _installed_version() -> str | None:
    manifest = HERE / "node_modules" / "oidc-provider" / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text())["version"])


def _npm_ci(npm: str) -> None:
    """Install exactly what package-lock.json pins (no scripts, no audit)."""
    if _installed_version() == _pinned_version():
        return
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                          cwd=HERE, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"npm ci failed in {HERE}:\n{done.stdout}\n{done.stderr}", pytrace=False)


def _wait_for_discovery(proc: subprocess.Popen[bytes], issuer: str, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"oidc-provider exited with {proc.returncode}:\n{log.read_text()}", pytrace=False)
        try:
            response = httpx.get(issuer + "/.well-known/openid-configuration", timeout=1)
            if response.status_code == 200:
                return dict(response.json())
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"oidc-provider did not serve discovery within {START_TIMEOUT}s:\n{log.read_text()}",
                pytrace=False)


def start_oidc_provider() -> Iterator[OidcProvider]:
    """oidc-provider on a free loopback port until the generator is closed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed: the oidc-provider interop tests need them")
    _npm_ci(npm)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    fd, name = tempfile.mkstemp(prefix="oidc-provider-", suffix=".log")
    os.close(fd)
    log = Path(name)
    with log.open("wb") as out:
        proc = subprocess.Popen([node, "server.mjs", str(port)], cwd=HERE, stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "NODE_ENV": "test"})
    try:
        yield OidcProvider(issuer, _wait_for_discovery(proc, issuer, log), log)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.unlink(missing_ok=True)
