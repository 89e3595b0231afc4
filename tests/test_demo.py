"""``s2s-guard demo``: every token family against a real issuer and a real uvicorn server."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import httpx

from s2s_guard.client import TokenExchangeAuth
from s2s_guard.demo import CASES, ROUTES, DemoCase, DemoContext, run_demo
from s2s_guard.demo_cases import user_permissions
from s2s_guard.grants import Right
from s2s_guard.principal import UserPrincipal

JWT_LIKE = re.compile(r"eyJ[\w-]+\.[\w-]+\.")
#: What the table must show: each family the issues name, with its outcome.
FAMILY_ROWS = {
    "app-only token, app-only route": 200,
    "user+app via token exchange": 200,
    "introspected opaque token": 200,
    "revoked opaque token": 401,
    "SharePoint high-trust app-only": 200,
    "SharePoint high-trust user+app": 200,
    "add-in without a grant": 403,
    "high-trust forgery, no actor": 401,
    "SharePoint ACS user+app": 200,
    "Entra v2 app-only": 200,
    "Entra v2 delegated": 200,
}


def test_cases_cover_every_route_and_outcome() -> None:
    assert {case.path for case in CASES} == {route.path for route in ROUTES}
    assert {case.expected_status for case in CASES} == {200, 400, 401, 403}
    assert len({case.name for case in CASES}) == len(CASES)


def test_cases_show_every_token_family() -> None:
    by_name = {case.name: case for case in CASES}
    assert {name: by_name[name].expected_status for name in FAMILY_ROWS} == FAMILY_ROWS
    policies = {route.path: route.policy for route in ROUTES}
    sharepoint = [case for case in CASES if case.name.startswith("SharePoint")]
    assert {policies[case.path] for case in sharepoint} == {"app-only", "user+app"}
    assert all(route.right and not route.scopes for route in ROUTES if route.path.startswith("/sites/"))


def test_every_refusal_checks_its_challenge() -> None:
    for case in CASES:
        if case.expected_status in (400, 401, 403) and case.name != "no Authorization header":
            assert any(s.startswith("error=") for s in case.challenge_has), case.name


def test_user_permissions_hook() -> None:
    alice = UserPrincipal(id="alice", issuer="x")
    assert user_permissions(alice, "/sites/hr/docs") == Right.Write
    assert user_permissions(alice, "/sites/finance") is None
    assert user_permissions(UserPrincipal(id="bob", issuer="x"), "/sites/hr/docs") is None


def test_run_demo_matches_every_row() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0, out.getvalue()
    text = out.getvalue()
    for case in CASES:
        assert re.search(rf"^{re.escape(case.name)} .* {case.expected_status} +ok$", text, re.M), case.name
    assert f"All {len(CASES)} cases matched." in text
    assert 'scope="orders.read"' in text and "The access token expired" in text
    assert "right: Write on its path" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert not JWT_LIKE.search(text)  # no token is ever printed


def test_run_demo_reports_a_row_that_does_not_match() -> None:
    wrong = DemoCase(name="health wrongly expected to be protected", token_kind="(none)",
                     path="/health", expected_status=401, authorization=lambda ctx: None)
    out = io.StringIO()
    assert run_demo(out, cases=(CASES[0], wrong)) == 1
    text = out.getvalue()
    assert "1 of 2 cases did not match" in text
    assert "health wrongly expected to be protected: got 200, expected 401" in text


def _bad_exchange(ctx: DemoContext) -> httpx.Auth:
    subject = ctx.issuer.user_token("alice", "front-end")
    return TokenExchangeAuth(ctx.issuer.token_url, "web-app", client_secret="wrong", subject_token=subject,
                             http_client=ctx.token_client)


def test_run_demo_reports_a_caller_that_gets_no_token() -> None:
    row = DemoCase(name="exchange with a wrong secret", token_kind="exchanged", path="/user-and-app",
                   expected_status=200, authorization=_bad_exchange)
    out = io.StringIO()
    assert run_demo(out, cases=(row,)) == 1
    assert "demo failed: TokenEndpointError" in out.getvalue() and "invalid_client" in out.getvalue()


def test_demo_command_runs_as_a_subprocess() -> None:
    proc = subprocess.run([sys.executable, "-m", "s2s_guard.cli", "demo"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"All {len(CASES)} cases matched." in proc.stdout and proc.stderr == ""


def test_hidden_realm_keeps_the_comma_between_challenges() -> None:
    from s2s_guard.demo_table import _challenge_lines

    realm = "api://orders"
    assert _challenge_lines(f'Bearer realm="{realm}"', realm) == ["    Bearer"]
    assert _challenge_lines(f'Bearer realm="{realm}", DPoP realm="{realm}", algs="ES256"', realm) == [
        '    Bearer, DPoP algs="ES256"']
    assert _challenge_lines(f'Bearer realm="{realm}", error="invalid_token", DPoP realm="{realm}", algs="ES256"',
                            realm) == ['    Bearer error="invalid_token", DPoP algs="ES256"']
