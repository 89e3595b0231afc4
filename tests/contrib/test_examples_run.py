"""The examples run as examples/README.md says: each one's ``--check`` drives it through its test client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMES = ("starlette_app", "fastapi_app", "flask_app", "django_app", "drf_app")


def test_every_example_passes_its_check() -> None:
    # In parallel: each is a fresh interpreter (Django settings are per process).
    runs = {name: subprocess.Popen([sys.executable, "-W", "error", str(EXAMPLES / f"{name}.py"), "--check"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for name in NAMES}
    for name, process in runs.items():
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}:\n{output}"
        assert "all checks passed" in output, f"{name}:\n{output}"


def test_every_example_has_a_readme_line() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"python examples/{name}.py" in readme, name
