"""Flask extension and plain WSGI middleware specifics: init_app, deny by default, exempt, g, environ."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
from contrib_support import AUD
from flask import Flask, g
from flask.views import MethodView
from werkzeug.test import Client

from s2s_guard import ConfigurationError, Guard, Requirement
from s2s_guard.contrib.flask import Guard as FlaskGuard
from s2s_guard.contrib.flask import get_principal
from s2s_guard.testing import LocalIssuer
from s2s_guard.wsgi import GuardMiddleware


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_app(config: Any, **settings: Any) -> tuple[Flask, FlaskGuard]:
    """An app-factory: the extension is created first and bound with init_app."""
    guard = FlaskGuard()
    app = Flask("ext")
    app.config.update(S2S_GUARD=config, **settings)
    guard.init_app(app)

    @app.get("/plain")
    def plain() -> dict[str, Any]:
        principal = get_principal()
        return {"who": None if principal is None else principal.identity}

    @app.get("/exempt")
    @guard.exempt
    def exempt() -> dict[str, Any]:
        return {"principal": get_principal() is None}

    @app.get("/scoped")
    @guard.require(scopes=["orders.read"])
    def scoped() -> dict[str, Any]:
        return {"who": g.principal.identity}

    class Orders(MethodView):
        decorators = [guard.require(policy="app-only")]

        def post(self) -> tuple[dict[str, Any], int]:
            return {"by": g.principal.identity}, 201

    app.add_url_rule("/orders", view_func=Orders.as_view("orders"))
    return app, guard


def test_deny_by_default_covers_undecorated_and_unknown_routes(guard_config: dict[str, Any]) -> None:
    client = make_app(guard_config)[0].test_client()
    for path in ("/plain", "/no-such-route"):
        r = client.get(path)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == f'Bearer realm="{AUD}"'
    assert client.get("/exempt").json == {"principal": True}


def test_principal_on_g_and_helper(guard_config: dict[str, Any], issuer: LocalIssuer) -> None:
    app, guard = make_app(guard_config)
    client = app.test_client()
    assert client.get("/plain", headers=bearer(issuer.user_token("carol"))).json == {"who": "carol"}
    r = client.get("/scoped", headers=bearer(issuer.app_token("svc", scopes="orders.read")))
    assert r.json == {"who": "svc"}
    assert client.post("/orders", headers=bearer(issuer.app_token("svc"))).status_code == 201
    assert client.post("/orders", headers=bearer(issuer.user_token())).status_code == 403
    with app.app_context():
        assert isinstance(guard.guard, Guard)


def test_opt_in_mode_leaves_undecorated_routes_open(guard_config: dict[str, Any],
                                                    issuer: LocalIssuer) -> None:
    client = make_app(guard_config, S2S_GUARD_DENY_BY_DEFAULT=False)[0].test_client()
    assert client.get("/plain").json == {"who": None}
    assert client.get("/scoped").status_code == 401  # decorated routes authenticate themselves
    ok = client.get("/scoped", headers=bearer(issuer.app_token("svc", scopes="orders.read")))
    assert ok.json == {"who": "svc"}


def test_config_from_a_toml_file(tmp_path: Path, issuer: LocalIssuer) -> None:
    path = tmp_path / "s2s_guard.toml"
    path.write_text(f'audience = ["{AUD}"]\n\n[[issuers]]\nissuer = "{issuer.issuer}"\n'
                    f'algorithms = ["RS256"]\njwks_uri = "{issuer.jwks_uri}"\n')
    client = make_app(str(path))[0].test_client()
    assert client.get("/plain", headers=bearer(issuer.app_token("svc"))).json == {"who": "svc"}


def test_missing_configuration_names_the_key() -> None:
    with pytest.raises(ConfigurationError, match="S2S_GUARD"):
        FlaskGuard(Flask("unconfigured"))


def test_require_outside_an_initialised_app_is_an_error(guard_config: dict[str, Any]) -> None:
    app = Flask("other")
    view = FlaskGuard().require()(lambda: "never")
    app.add_url_rule("/x", view_func=view)
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(RuntimeError, match="init_app"):
        app.test_client().get("/x")


# -- plain WSGI middleware -------------------------------------------------------------------------

def echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    principal = environ.get("s2s_guard.principal")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(None if principal is None else principal.identity).encode()]


def test_wsgi_public_paths_requirement_and_query_tokens(guard_config: dict[str, Any],
                                                        issuer: LocalIssuer) -> None:
    guard = Guard.from_config({**guard_config, "allow_query_token": True})
    app = GuardMiddleware(echo, guard=guard, public_paths=["/status"],
                          requirement=Requirement(policy="user+app"))
    client = Client(app)
    assert client.get("/status").get_json() is None
    assert client.get("/health").get_json() is None  # the configuration's public_paths
    assert client.get(f"/x?access_token={issuer.user_token('dan')}").get_json() == "dan"
    refused = client.get("/x", headers=bearer(issuer.app_token()))
    assert refused.status == "403 Forbidden"
    both = client.get(f"/x?access_token={issuer.user_token()}", headers=bearer(issuer.user_token()))
    assert both.status_code == 400  # RFC 6750 §2: one method only


def test_wsgi_non_ascii_paths_do_not_break_public_matching(guard_config: dict[str, Any]) -> None:
    guard = Guard.from_config({**guard_config, "public_paths": ["/café"]})
    client = Client(GuardMiddleware(echo, guard=guard))
    assert client.get("/café").status_code == 200
    assert client.get("/cafe").status_code == 401
