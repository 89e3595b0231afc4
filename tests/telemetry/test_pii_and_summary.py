"""Issue 14: user ids reach the logs only when switched on; a guard says at INFO what it trusts."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from telemetry_kit import guard_for

from s2s_guard import AuthError, ConfigurationError, Guard, Requirement
from s2s_guard.config import load_config
from s2s_guard.summary import startup_summary
from s2s_guard.telemetry import AUDIT_LOGGER, PII_HIDDEN, SHOW_PII_ENV
from s2s_guard.testing import LocalIssuer

USER = "alice-7c5e"


def audit_users(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [json.loads(r.getMessage())["user"] for r in caplog.records if r.name == AUDIT_LOGGER]


def decide(guard: Guard, issuer: LocalIssuer) -> None:
    token = issuer.user_token(USER, "web-app", scopes="orders.read")
    guard.authenticate_sync(f"Bearer {token}")
    with pytest.raises(AuthError):
        guard.authenticate_sync(f"Bearer {token}", Requirement(policy="app-only"))
    guard.close()


def test_user_ids_are_hidden_by_default_at_every_level(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SHOW_PII_ENV, raising=False)
    caplog.set_level(logging.DEBUG)
    decide(guard_for(issuer), issuer)
    assert audit_users(caplog) == [PII_HIDDEN, PII_HIDDEN]
    assert USER not in caplog.text + repr([r.__dict__ for r in caplog.records])


def test_show_pii_in_the_configuration(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SHOW_PII_ENV, raising=False)
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    decide(guard_for(issuer, telemetry={"show_pii": True}), issuer)
    assert audit_users(caplog) == [USER, USER]


def test_show_pii_from_the_environment(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SHOW_PII_ENV, "1")
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    decide(guard_for(issuer), issuer)
    assert audit_users(caplog) == [USER, USER]


def test_show_pii_must_be_a_boolean(issuer: LocalIssuer) -> None:
    with pytest.raises(ConfigurationError, match="telemetry.show_pii"):
        load_config({**issuer.guard_config(), "telemetry": {"show_pii": "yes"}})


def test_an_app_only_decision_has_no_user_to_hide(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    guard = guard_for(issuer)
    guard.authenticate_sync("Bearer " + issuer.app_token("daemon"))
    assert audit_users(caplog) == [None]


# -- the start-up summary ----------------------------------------------------------------------

def test_a_guard_logs_what_it_trusts_once_at_info(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="s2s_guard")
    guard = guard_for(issuer, cache={"backend": "memory"})
    guard.authenticate_sync("Bearer " + issuer.app_token("daemon"))
    guard.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "s2s_guard" and r.levelno == logging.INFO]
    assert len(lines) == 2 and lines[0].startswith("s2s_guard ready: audience ['api://orders'], 1 issuer(s)")
    assert "cache memory" in lines[0] and "PII in logs hidden" in lines[0]
    assert lines[1].startswith(f"s2s_guard issuer 'local': iss {issuer.issuer!r}, profile jwt, validation jwt, "
                               f"keys from jwks_uri {issuer.jwks_uri}")
    assert "dpop off, mtls off" in lines[1]


def test_the_summary_redacts_urls_and_never_shows_secrets() -> None:
    config = load_config({"audience": "api://x", "cache": {"backend": "redis", "url": "redis://u:hunter2@r:6379/0",
                                                           "secret": "c" * 32},
                          "issuers": [{"name": "hs", "issuer": "https://i.example", "algorithms": ["HS256"],
                                       "secret": "s3cr3t-" * 6, "dpop": "required"}]})
    text = "\n".join(startup_summary(config))
    assert "hunter2" not in text and "s3cr3t" not in text and "c" * 32 not in text
    assert "redis redis://u:***@r:6379/0" in text
    assert "keys from a shared HMAC secret" in text and "dpop required" in text
