"""Install a third-party Python client at test time, the way the npm interop tests do.

``pip install --target`` puts the pinned packages in ``tests/interop/.python-packages/<name>``
(gitignored) once; later runs find the marker and reuse it. The folder is appended to
``sys.path``, so the test environment's own packages (PyJWT, cryptography, ...) always win.
The tests skip only when the package index cannot be reached; any other failure fails them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

CACHE = Path(__file__).parent / ".python-packages"
PIP_TIMEOUT = 300


def _index_url() -> str:
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/") + "/"


def _index_reachable() -> bool:
    try:
        httpx.get(_index_url(), timeout=15, follow_redirects=True)
    except httpx.TransportError:
        return False
    return True


def install(name: str, requirements: list[str]) -> Path:
    """``requirements`` (no dependency resolution: list them all) in a cached folder on ``sys.path``."""
    target = CACHE / name
    marker = target / ".installed"
    wanted = "\n".join(requirements)
    if not marker.is_file() or marker.read_text() != wanted:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--no-deps", "--upgrade", "--timeout", "20", "--retries", "1", "--target", str(target),
                   *requirements]
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
        if done.returncode != 0:
            if not _index_reachable():
                pytest.skip(f"{name}: the package index {_index_url()} cannot be reached, so "
                            f"{' '.join(requirements)} cannot be installed for this interop test")
            pytest.fail(f"pip could not install {requirements} into {target}:\n{done.stdout}\n{done.stderr}",
                        pytrace=False)
        marker.write_text(wanted)
    if str(target) not in sys.path:
        sys.path.append(str(target))  # after site-packages: the environment's versions win
    return target
