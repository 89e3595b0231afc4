"""Shared by the examples: a local issuer's configuration, sample tokens and the ``--check`` run.

Every example protects the same three routes: ``/health`` (public), ``/orders`` (app-only
tokens with ``orders.read``) and ``/me`` (user+app tokens with ``orders.read``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from s2s_guard.testing import LocalIssuer

AUDIENCE = "api://orders"
HOST, PORT = "127.0.0.1", 8000

#: ``call(path, token)`` -> ``(status, body text)``, made with the framework's test client.
Call = Callable[[str, "str | None"], "tuple[int, str]"]


def local_config(issuer: LocalIssuer) -> dict[str, Any]:
    """The configuration schema (as a dict) trusting the local issuer; a TOML file works the same."""
    return {
        "audience": [AUDIENCE],
        "public_paths": ["/health"],
        "issuers": [{"name": "local", "issuer": issuer.issuer, "algorithms": ["RS256"],
                     "jwks_uri": issuer.jwks_uri}],
    }


def start_issuer() -> LocalIssuer:
    """A local issuer on 127.0.0.1 (the JWKS the guard fetches is real HTTP)."""
    return LocalIssuer(audience=AUDIENCE, algorithms=("RS256",)).start()


def sample_tokens(issuer: LocalIssuer) -> dict[str, str]:
    """An app-only and a user+app token, valid for an hour."""
    return {"app": issuer.app_token("daemon-app", scopes="orders.read", ttl=3600),
            "user": issuer.user_token("alice", "web-app", scopes="orders.read", ttl=3600)}


def print_usage(tokens: dict[str, str], url: str = f"http://{HOST}:{PORT}") -> None:
    """Show how to call the running example."""
    print(f"Serving on {url}; try:")
    print(f"  curl -i {url}/health")
    print(f"  curl -i {url}/orders")
    print(f"  curl -i -H 'Authorization: Bearer {tokens['app']}' {url}/orders")
    print(f"  curl -i -H 'Authorization: Bearer {tokens['user']}' {url}/me")
    print(f"  curl -i -H 'Authorization: Bearer {tokens['user']}' {url}/orders   # 403: wrong policy")
    sys.stdout.flush()


def check(call: Call, tokens: dict[str, str]) -> int:
    """Drive the app through its test client; 0 when every answer is the expected one."""
    expected = [("/health", None, 200), ("/orders", None, 401), ("/orders", tokens["app"], 200),
                ("/orders", tokens["user"], 403), ("/me", tokens["user"], 200),
                ("/me", tokens["app"], 403)]
    failures = 0
    for path, token, status in expected:
        got, body = call(path, token)
        mark = "ok " if got == status else "BAD"
        failures += got != status
        print(f"{mark} GET {path} ({'no token' if token is None else 'token'}): {got} {body.strip()[:80]}")
    print("all checks passed" if not failures else f"{failures} checks failed")
    return 1 if failures else 0


def bearer(token: str | None) -> dict[str, str]:
    """The Authorization header for ``token`` (none for ``None``)."""
    return {} if token is None else {"Authorization": f"Bearer {token}"}
