"""``s2s-guard demo``: the case table against a real issuer and a real uvicorn server."""

from __future__ import annotations

import io
import subprocess
import sys

from s2s_guard.demo import CASES, ROUTES, DemoCase, run_demo


def test_cases_cover_every_route_and_outcome() -> None:
    assert {case.path for case in CASES} == {route.path for route in ROUTES}
    assert {case.expected_status for case in CASES} == {200, 400, 401, 403}
    assert len({case.name for case in CASES}) == len(CASES)


def test_run_demo_matches_every_row() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0, out.getvalue()
    text = out.getvalue()
    for case in CASES:
        assert case.name in text
    assert f"All {len(CASES)} cases matched." in text
    assert 'scope="orders.read"' in text and "The access token expired" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_run_demo_reports_a_row_that_does_not_match() -> None:
    wrong = DemoCase(name="health wrongly expected to be protected", token_kind="(none)",
                     path="/health", expected_status=401, authorization=lambda ctx: None)
    out = io.StringIO()
    assert run_demo(out, cases=(CASES[0], wrong)) == 1
    text = out.getvalue()
    assert "1 of 2 cases did not match" in text
    assert "health wrongly expected to be protected: got 200, expected 401" in text


def test_demo_command_runs_as_a_subprocess() -> None:
    proc = subprocess.run([sys.executable, "-m", "s2s_guard.cli", "demo"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cases matched" in proc.stdout
