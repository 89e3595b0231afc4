"""The pytest plugin: fixtures used directly, and as a user's fresh project sees them (pytester)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from s2s_guard import Guard, GuardMiddleware, InsufficientScope, Requirement
from s2s_guard.testing import LocalIssuer

pytest_plugins = ["pytester"]


async def _orders(request: Request) -> JSONResponse:
    return JSONResponse({"caller": request.user.identity})


def test_fixtures_protect_an_app_in_a_few_lines(s2s_guard: Guard, s2s_token: Callable[..., str]) -> None:
    app = GuardMiddleware(Starlette(routes=[Route("/orders", _orders)]), guard=s2s_guard)
    with TestClient(app) as client:
        good = client.get("/orders", headers={"Authorization": "Bearer " + s2s_token("user+app", user="bob")})
        bad = client.get("/orders", headers={"Authorization": "Bearer " + s2s_token("expired")})
    assert good.json() == {"caller": "bob"}
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_guard_config_is_a_fresh_editable_dict(s2s_issuer: LocalIssuer, s2s_guard_config: dict[str, Any],
                                               s2s_token: Callable[..., str]) -> None:
    assert s2s_guard_config["audience"] == [s2s_issuer.audience] == ["api://test"]
    assert s2s_guard_config["issuers"][0]["jwks_uri"] == s2s_issuer.jwks_uri
    s2s_guard_config["public_paths"] = ["/health"]
    guard = Guard.from_config(s2s_guard_config)
    assert guard.is_public("/health")
    token = s2s_token("app-only", client_id="reporting", scopes="reports.read")
    with pytest.raises(InsufficientScope):
        guard.authenticate_sync("Bearer " + token, Requirement(policy="user+app"))


def test_a_fresh_project_gets_the_fixtures_from_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ns2s_guard_audience = api://mine\n")
    pytester.makepyfile(test_user_app='''
        def test_mine(s2s_issuer, s2s_token, s2s_guard):
            assert s2s_issuer.audience == "api://mine"
            principal = s2s_guard.authenticate_sync("Bearer " + s2s_token("app-only", scopes="a b"))
            assert principal.policy == "app-only" and principal.scopes == {"a", "b"}
    ''')
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_importing_the_plugin_starts_nothing() -> None:
    code = ("import threading, sys; import s2s_guard.testing.pytest_plugin; "
            "print(threading.active_count(), 'uvicorn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "False"]
