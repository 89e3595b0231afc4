"""``preload = true``: the Flask extension and the Django middleware fetch every issuer's keys at start-up.

Real servers on 127.0.0.1: the session's local issuer (counting its hits) and a port nothing listens on.
"""

from __future__ import annotations

from typing import Any

import pytest
from loopback import free_port

from s2s_guard import ConfigurationError
from s2s_guard.testing import LocalIssuer


def reachable(guard_config: dict[str, Any]) -> dict[str, Any]:
    return {**guard_config, "issuers": guard_config["issuers"][:1], "preload": True}


def unreachable(guard_config: dict[str, Any]) -> dict[str, Any]:
    down = {**guard_config["issuers"][0], "jwks_uri": f"http://127.0.0.1:{free_port()}/jwks", "timeout": 1}
    return {**guard_config, "issuers": [down], "preload": True}


def test_flask_init_app_preloads_keys(guard_config: dict[str, Any], issuer: LocalIssuer) -> None:
    from flask import Flask

    from s2s_guard.contrib.flask import Guard

    app = Flask("preload")
    app.config["S2S_GUARD"] = reachable(guard_config)
    before = issuer.hits["/jwks"]
    guard = Guard(app)
    assert issuer.hits["/jwks"] == before + 1
    with app.app_context():
        assert guard.guard.ready().ok


def test_flask_init_app_fails_without_keys(guard_config: dict[str, Any]) -> None:
    from flask import Flask

    from s2s_guard.contrib.flask import Guard

    app = Flask("preload-down")
    app.config["S2S_GUARD"] = unreachable(guard_config)
    with pytest.raises(ConfigurationError, match="preload: not ready: local: no keys could be fetched"):
        Guard(app)


def test_django_middleware_preloads_keys(guard_config: dict[str, Any], issuer: LocalIssuer,
                                         django_base: None) -> None:
    from django.http import HttpRequest, HttpResponse
    from django.test import override_settings

    from s2s_guard.contrib.django import GuardMiddleware

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    with override_settings(S2S_GUARD=reachable(guard_config)):
        before = issuer.hits["/jwks"]
        GuardMiddleware(view)
        assert issuer.hits["/jwks"] == before + 1
    with override_settings(S2S_GUARD=unreachable(guard_config)), \
            pytest.raises(ConfigurationError, match="preload.*no keys could be fetched"):
        GuardMiddleware(view)
