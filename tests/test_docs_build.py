"""The documentation site builds with ``--strict``, and ``make docs`` really is strict.

MkDocs 1.6 counts warnings for ``--strict`` only when they are logged: with ``--quiet`` (log level
ERROR) a broken link or anchor is dropped before it is counted, and the build passes. So the
Makefile must not pass ``--quiet`` (or ``-q``) to ``mkdocs build``, and, where the ``docs`` extra
is installed, the site is built here with ``--strict`` into a temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_make_docs_is_strict_and_not_quiet() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    builds = [line for line in makefile.splitlines() if re.search(r"\bmkdocs build\b", line)]
    assert builds, "the Makefile's docs target no longer runs mkdocs build"
    for line in builds:
        assert "--strict" in line, line
        assert not re.search(r"\s(--quiet|-q)\b", line), f"--quiet hides --strict's warnings: {line.strip()}"


def test_site_builds_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not on PATH")
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    warnings = [line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert result.returncode == 0, "\n".join(warnings) or result.stderr[-2000:]
