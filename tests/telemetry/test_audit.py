"""The audit log: one JSON line per decision on ``s2s_guard.audit`` (captured with caplog),
through a real guard, the ASGI middleware and the WSGI middleware; never the token."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from telemetry_kit import guard_for

from s2s_guard import AuthError, ConfigurationError, Guard, GuardMiddleware
from s2s_guard.telemetry import AUDIT_LOGGER
from s2s_guard.testing import LocalIssuer


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    lines = []
    for record in caplog.records:
        if record.name == AUDIT_LOGGER:
            line = json.loads(record.getMessage())
            assert line == record.audit  # type: ignore[attr-defined]  # the same dict for structured handlers
            lines.append(line)
    return lines


def never_logged(caplog: pytest.LogCaptureFixture, *tokens: str) -> None:
    text = caplog.text + repr([(r.getMessage(), r.__dict__) for r in caplog.records])
    for token in tokens:
        assert token not in text and token.split(".")[-1] not in text  # not even the signature


def test_one_line_per_decision_with_the_token_hash_only(issuer: LocalIssuer,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    guard = guard_for(issuer)
    good = issuer.user_token("alice", "web-app", scopes="orders.read")
    expired = issuer.app_token("billing", ttl=-3600)
    guard.authenticate_sync(f"Bearer {good}", path="/orders/7")
    with pytest.raises(AuthError):
        guard.authenticate_sync(f"Bearer {expired}", path="/orders/7")
    with pytest.raises(AuthError):
        guard.authenticate_sync(None, path="/orders")
    accepted, refused, missing = audit_lines(caplog)
    assert accepted == {
        "event": "s2s_guard.decision", "outcome": "accepted", "stage": "authenticate", "reason": None,
        "status": None, "policy": "user+app", "app": "web-app", "user": "[PII hidden]", "issuer": "local",
        "path": "/orders/7", "cached": False, "token_sha256": hashlib.sha256(good.encode()).hexdigest()[:12],
        "duration_ms": accepted["duration_ms"]}
    assert refused["outcome"] == "refused" and refused["reason"] == "expired" and refused["status"] == 401
    assert refused["issuer"] == "local" and refused["app"] is None  # an expired token names nobody
    assert refused["token_sha256"] == hashlib.sha256(expired.encode()).hexdigest()[:12]
    assert (missing["reason"], missing["token_sha256"]) == ("missing_token", None)
    never_logged(caplog, good, expired)


def test_a_hostile_path_stays_one_json_line(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    guard = guard_for(issuer)
    with pytest.raises(AuthError):
        guard.authenticate_sync("Bearer x.y.z", path='/a\n{"outcome": "accepted"}\r' + "p" * 1000)
    [record] = [r for r in caplog.records if r.name == AUDIT_LOGGER]
    assert "\n" not in record.getMessage() and "\r" not in record.getMessage()
    [line] = audit_lines(caplog)
    assert line["outcome"] == "refused" and len(line["path"]) == 256


def test_audit_off_leaves_the_guard_uninstrumented(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    guard = Guard.from_config({**issuer.guard_config(), "telemetry": {"audit": False}})
    assert not {"authenticate", "authenticate_sync", "lookup", "authorize"} & set(vars(guard))
    guard.authenticate_sync("Bearer " + issuer.app_token())
    assert audit_lines(caplog) == []


def test_a_logger_below_info_gets_nothing(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=AUDIT_LOGGER)
    guard = guard_for(issuer)
    guard.authenticate_sync("Bearer " + issuer.app_token())
    assert audit_lines(caplog) == []


def test_the_asgi_middleware_reports_paths_and_warm_hits(issuer: LocalIssuer,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)

    async def orders(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.user.display_name)

    app = Starlette(routes=[Route("/orders", orders)])
    app.add_middleware(GuardMiddleware, guard=guard_for(issuer))
    token = issuer.app_token("billing")
    with TestClient(app) as client:
        for _ in range(2):
            assert client.get("/orders", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/orders", headers={"Authorization": "Bearer nope"}).status_code == 401
    lines = audit_lines(caplog)
    assert [(line["outcome"], line["cached"], line["path"]) for line in lines] == [
        ("accepted", False, "/orders"), ("accepted", True, "/orders"), ("refused", False, "/orders")]
    never_logged(caplog, token)


def test_the_wsgi_middleware_reports_paths(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    from werkzeug.test import Client

    from s2s_guard.wsgi import GuardMiddleware as WSGIGuard
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    client = Client(WSGIGuard(app, guard=guard_for(issuer)))
    assert client.get("/reports", headers={"Authorization": "Bearer " + issuer.app_token()}).status_code == 200
    [line] = audit_lines(caplog)
    assert (line["outcome"], line["path"]) == ("accepted", "/reports")


def test_otel_without_the_package_is_a_configuration_error(issuer: LocalIssuer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "s2s_guard.telemetry.otel", raising=False)
    with pytest.raises(ConfigurationError, match=r"telemetry\.otel.*s2s_guard\[otel\]"):
        Guard.from_config({**issuer.guard_config(), "telemetry": {"otel": True}})


def test_unknown_telemetry_keys_are_refused(issuer: LocalIssuer) -> None:
    with pytest.raises(ConfigurationError, match="telemetry.metrics"):
        Guard.from_config({**issuer.guard_config(), "telemetry": {"metrics": True}})
    with pytest.raises(ConfigurationError, match="telemetry.audit"):
        Guard.from_config({**issuer.guard_config(), "telemetry": {"audit": "yes"}})


def test_importing_s2s_guard_does_not_import_opentelemetry() -> None:
    code = """
import sys
import s2s_guard
from s2s_guard import Guard
import s2s_guard.telemetry
guard = Guard.from_config({"audience": ["api://x"], "issuers": [{"name": "x", "issuer": "https://x.test",
    "algorithms": ["HS256"], "secret": "a-shared-secret-long-enough-for-hs256-keys!"}]})
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")
assert not loaded, loaded
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr
