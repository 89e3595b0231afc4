"""Support for the django-oauth-toolkit interop tests: a real DOT authorization server on 127.0.0.1.

``pip`` installs the pinned django-oauth-toolkit into a virtual environment of its own, cached in
``tests/interop/.cache`` (which ignores itself, as ``.pytest_cache`` does) and reused while the
pin is unchanged. The test writes a tiny Django project (settings, urls, a start script) into a
temporary directory; the script migrates a SQLite database, creates the clients and a user
through the ORM and runs Django's own server on a free port. The tests skip only when the
package index cannot be reached.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from loopback import HOST, free_port

REQUIREMENT = "django-oauth-toolkit==3.4.1"
CACHE = Path(__file__).parent / ".cache"
START_TIMEOUT = 30.0

SETTINGS = '''
from pathlib import Path

SECRET_KEY = "django-oauth-toolkit-interop-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "oauth2_provider"]
MIDDLEWARE = []
ROOT_URLCONF = "urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": Path(__file__).parent / "db.sqlite3"}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Client secrets and the user's password are hashed at rest; a fast hasher keeps the test quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
OAUTH2_PROVIDER = {
    "SCOPES": {"orders.read": "Read orders", "orders.write": "Write orders",
               "introspection": "Introspect tokens"},
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    # The tests get a user's token over HTTP with the password grant (RFC 9700 discourages it;
    # DOT 4.0 plans to refuse it by default): kept on explicitly for this test server only.
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": False,
}
'''

URLS = '''
from django.urls import include, path

urlpatterns = [path("o/", include("oauth2_provider.urls", namespace="oauth2_provider"))]
'''

START = '''
"""Migrate, create the clients and the user through the ORM, then serve: start.py PORT CLIENTS USER."""
import json
import os
import sys

os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
import django

django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from oauth2_provider.models import get_application_model

call_command("migrate", verbosity=0)
Application = get_application_model()
for client_id, (secret, grant) in json.loads(sys.argv[2]).items():
    Application.objects.create(name=client_id, client_id=client_id, client_secret=secret,
                               client_type=Application.CLIENT_CONFIDENTIAL, authorization_grant_type=grant)
username, password = json.loads(sys.argv[3])
get_user_model().objects.create_user(username, password=password)
call_command("runserver", "127.0.0.1:" + sys.argv[1], use_reloader=False, use_threading=True)
'''


@dataclass(frozen=True)
class DOTServer:
    """The running server: its base URL, ``/o/token/`` and ``/o/introspect/``."""

    url: str
    log: Path

    @property
    def token_endpoint(self) -> str:
        return self.url + "/o/token/"

    @property
    def introspection_endpoint(self) -> str:
        return self.url + "/o/introspect/"


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def _index_reachable() -> str | None:
    """Why the package index cannot be reached, or ``None`` when it answers at all."""
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    cafile = os.environ.get("PIP_CERT")
    verify = ssl.create_default_context(cafile=cafile) if cafile else True
    try:
        httpx.get(index + "/django-oauth-toolkit/", timeout=10, verify=verify)
    except httpx.TransportError as exc:
        return f"{index} cannot be reached ({type(exc).__name__}: {exc})"
    return None


def dot_python() -> Path:
    """The interpreter of the cached environment with :data:`REQUIREMENT` installed."""
    venv = CACHE / REQUIREMENT.replace("==", "-")
    stamp = venv / ".installed"
    if stamp.is_file():
        return _bin(venv, "python")
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("# created by tests/interop/dot_server.py\n*\n")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(_bin(venv, "python")), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           REQUIREMENT], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        unreachable = _index_reachable()
        if unreachable is not None:
            pytest.skip(f"{REQUIREMENT} cannot be installed: {unreachable}")
        pytest.fail(f"pip install {REQUIREMENT} failed:\n{done.stdout}\n{done.stderr}", pytrace=False)
    stamp.write_text(REQUIREMENT + "\n")
    return _bin(venv, "python")


def _write_project(project: Path) -> None:
    project.mkdir(parents=True, exist_ok=True)
    for name, text in (("settings.py", SETTINGS), ("urls.py", URLS), ("start.py", START)):
        (project / name).write_text(text.lstrip())


def _wait_until_serving(proc: subprocess.Popen[bytes], server: DOTServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"django-oauth-toolkit exited with {proc.returncode}:\n{server.log.read_text()}",
                        pytrace=False)
        try:
            httpx.get(server.introspection_endpoint, timeout=1)  # any answer: it is serving
            return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"django-oauth-toolkit did not serve within {START_TIMEOUT}s:\n{server.log.read_text()}",
                pytrace=False)


def start_dot(project: Path, clients: dict[str, tuple[str, str]], user: tuple[str, str]) -> Iterator[DOTServer]:
    """DOT on a free loopback port, with ``clients`` (id -> (secret, grant type)) and one user."""
    python = dot_python()
    _write_project(project)
    port = free_port()
    server = DOTServer(f"http://{HOST}:{port}", project / "server.log")
    with server.log.open("wb") as out:
        proc = subprocess.Popen([str(python), "start.py", str(port), json.dumps(clients), json.dumps(user)],
                                cwd=project, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        _wait_until_serving(proc, server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
