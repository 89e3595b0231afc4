"""Importing s2s_guard never imports a framework; each adapter imports only its own."""

from __future__ import annotations

import subprocess
import sys

import pytest

FRAMEWORKS = ("flask", "django", "fastapi", "rest_framework")
CASES = {
    "s2s_guard, s2s_guard.contrib, s2s_guard.wsgi": FRAMEWORKS,
    "s2s_guard.contrib.flask": ("django", "fastapi", "rest_framework"),
    "s2s_guard.contrib.fastapi": ("flask", "django", "rest_framework"),
    "s2s_guard.contrib.django": ("flask", "fastapi", "rest_framework"),
}


@pytest.mark.parametrize("modules", list(CASES))
def test_imports_pull_in_no_other_framework(modules: str) -> None:
    code = (f"import sys, {modules}\n"
            f"bad = [m for m in {CASES[modules]!r} if m in sys.modules]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
