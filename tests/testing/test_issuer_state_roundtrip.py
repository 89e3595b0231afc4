"""Issuer state saved by one process and loaded by another: tokens minted from it verify at the original."""

from __future__ import annotations

import stat
from pathlib import Path

from s2s_guard import Guard
from s2s_guard.testing import LocalIssuer, mint_token
from s2s_guard.testing.mint import trust_config
from s2s_guard.testing.state import load_state, save_state

CLIENT = "6e74172b-be56-4843-9ff4-e66a39bb12e3"


def test_a_loaded_issuer_mints_what_the_running_one_verifies(s2s_issuer: LocalIssuer, tmp_path: Path) -> None:
    path = tmp_path / "issuer.json"
    save_state(s2s_issuer, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # private keys inside
    minter = load_state(path)  # never started: mints offline, like `s2s-guard mint`
    assert minter.issuer == s2s_issuer.issuer and minter.sharepoint.realm == s2s_issuer.sharepoint.realm
    guard = Guard.from_config(trust_config(s2s_issuer))
    for family in ("app-only", "entra-v2-app", "sharepoint-user+app", "acs-app-only"):
        token = mint_token(minter, family, client_id=CLIENT)
        assert guard.authenticate_sync("Bearer " + token).app.client_id == CLIENT  # type: ignore[union-attr]
