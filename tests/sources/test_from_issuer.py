"""Issue 13, "One line to trust an IdP": ``Guard.from_issuer(url, audience=...)`` and the two-key
configuration (``issuer_uri`` + ``audience``) against real discovery and JWKS servers on 127.0.0.1.

Vendor issuer URLs are not loopback, so the loopback issuer here is shaped like Keycloak
(Keycloak, "Securing applications", endpoints: ``/realms/<realm>`` and
``/realms/<realm>/protocol/openid-connect/certs``, https://www.keycloak.org/securing-apps/oidc-layers),
which is recognised from its path and metadata; tokens are the documented Keycloak samples of
``tests/fixtures/profiles/idp_tokens.json``. Vendor host detection is unit-tested in
tests/core/test_idp_detection.py.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from s2s_guard import AuthError, ConfigurationError, Guard, Principal, Requirement, load_config
from s2s_guard.testing import LocalIssuer

HTTPServer = Any  # tests/sources/conftest.py: the scriptable loopback server
API = "https://orders.example.com"
REALM = "/realms/demo"
CERTS = REALM + "/protocol/openid-connect/certs"
OIDC = REALM + "/.well-known/openid-configuration"
SAMPLES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "profiles" / "idp_tokens.json").read_text())


def keycloak_realm(server: HTTPServer, *, path: str = OIDC, issuer: str | None = None,
                   algs: list[str] | None = None) -> LocalIssuer:
    """A Keycloak-shaped realm on ``server``: its discovery document at ``path`` and its certs."""
    iss = server.url + REALM
    idp = LocalIssuer(issuer=iss, algorithms=("RS256",), audience=API)
    oidc = iss + "/protocol/openid-connect"
    server.json(path, {"issuer": issuer or iss, "authorization_endpoint": oidc + "/auth",
                       "token_endpoint": oidc + "/token", "jwks_uri": server.url + CERTS,
                       "id_token_signing_alg_values_supported": algs or ["HS256", "RS256", "ES256"]})
    server.json(CERTS, idp.jwks())
    return idp


def token(idp: LocalIssuer, name: str) -> str:
    return idp.mint(SAMPLES[name], headers={"typ": "JWT"})  # Keycloak's access tokens say JWT


def outcome(guard: Guard, value: str, requirement: Requirement | None = None) -> Principal | AuthError:
    try:
        return guard.authenticate_sync("Bearer " + value, requirement)
    except AuthError as exc:
        return exc


def test_from_issuer_detects_keycloak_and_classifies_its_tokens(http_server: HTTPServer,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """One line: discovery read once at construction, Keycloak recognised and logged at INFO with its
    classification rule; a service account is app-only (refused on a user+app route), a user is user+app."""
    idp = keycloak_realm(http_server)
    with caplog.at_level(logging.INFO, logger="s2s_guard"):
        guard = Guard.from_issuer(idp.issuer, audience=API)
    assert http_server.hits[OIDC] == 1 and http_server.hits[CERTS] == 0  # keys on first need
    issuer = guard.config.issuers[0]
    assert (issuer.issuer, issuer.profile, issuer.discovery) == (idp.issuer, "keycloak", http_server.url + OIDC)
    assert issuer.algorithms == ("ES256", "RS256")  # RFC 8725 §2.1: HS256 in the document is not taken
    line = next(r.getMessage() for r in caplog.records if "uses profile" in r.getMessage())
    assert caplog.records[-1].levelno == logging.INFO
    assert "'keycloak'" in line and "Keycloak realm" in line and "service-account" in line
    daemon = outcome(guard, token(idp, "keycloak_service_account"), Requirement(policy="app-only"))
    assert isinstance(daemon, Principal) and daemon.user is None and daemon.app is not None
    assert daemon.app.client_id == "orders-job"
    assert isinstance(outcome(guard, token(idp, "keycloak_service_account"), Requirement(policy="user+app")),
                      AuthError)
    user = outcome(guard, token(idp, "keycloak_user"), Requirement(policy="user+app"))
    assert isinstance(user, Principal) and user.user is not None and user.user.name == "alice"
    assert http_server.hits[CERTS] == 1


def test_two_key_configuration_toml_and_dict(http_server: HTTPServer, tmp_path: Path) -> None:
    """``issuer_uri`` + ``audience``, as TOML (``load_config``) and as a dict (``Guard.from_config``)."""
    idp = keycloak_realm(http_server)
    path = tmp_path / "guard.toml"
    path.write_text(f'issuer_uri = "{idp.issuer}"\naudience = "{API}"\n')
    config = load_config(path)
    assert [(i.issuer, i.profile) for i in config.issuers] == [(idp.issuer, "keycloak")]
    guard = Guard.from_config({"issuer_uri": idp.issuer, "audience": API})
    assert isinstance(outcome(guard, token(idp, "keycloak_user")), Principal)


def test_an_issuers_entry_with_issuer_uri_keeps_its_other_keys(http_server: HTTPServer) -> None:
    idp = keycloak_realm(http_server)
    config = load_config({"audience": API, "issuers": [
        {"issuer_uri": idp.issuer, "name": "sso", "realm_roles": True, "timeout": 2}]})
    issuer = config.issuers[0]
    assert (issuer.name, issuer.profile, issuer.realm_roles, issuer.timeout) == ("sso", "keycloak", True, 2.0)


def test_framework_adapters_take_the_two_key_configuration(http_server: HTTPServer) -> None:
    """Flask's ``S2S_GUARD`` settings reach the guard through the same translation."""
    flask = pytest.importorskip("flask")
    from s2s_guard.contrib.flask import Guard as FlaskGuard

    idp = keycloak_realm(http_server)
    app = flask.Flask(__name__)
    app.config["S2S_GUARD"] = {"issuer_uri": idp.issuer, "audience": API}
    guard = FlaskGuard(app)

    @app.get("/orders")
    @guard.require(policy="user+app")
    def orders() -> str:
        return "ok"

    client = app.test_client()
    user = client.get("/orders", headers={"Authorization": "Bearer " + token(idp, "keycloak_user")})
    daemon = client.get("/orders", headers={"Authorization": "Bearer " + token(idp, "keycloak_service_account")})
    assert (user.status_code, daemon.status_code) == (200, 403)


def test_an_explicit_profile_always_wins(http_server: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    idp = keycloak_realm(http_server)
    with caplog.at_level(logging.INFO, logger="s2s_guard"):
        guard = Guard.from_issuer(idp.issuer, audience=API, profile="jwt", algorithms=["RS256"])
    issuer = guard.config.issuers[0]
    assert (issuer.profile, issuer.algorithms) == ("jwt", ("RS256",))
    assert any("'jwt' (configured; the document looks like keycloak" in r.getMessage() for r in caplog.records)
    # the generic profile still refuses Keycloak's service account as a user (its daemon marker)
    assert isinstance(outcome(guard, token(idp, "keycloak_service_account"), Requirement(policy="user+app")),
                      AuthError)


def test_an_unknown_issuer_gets_the_generic_profile(http_server: HTTPServer) -> None:
    idp = LocalIssuer(issuer=http_server.url, algorithms=("ES256",), audience=API)
    http_server.json("/.well-known/openid-configuration", {"issuer": http_server.url,
                                                           "jwks_uri": http_server.url + "/jwks",
                                                           "id_token_signing_alg_values_supported": ["ES256"]})
    http_server.json("/jwks", idp.jwks())
    guard = Guard.from_issuer(http_server.url, audience=API)
    assert (guard.config.issuers[0].profile, guard.config.issuers[0].algorithms) == ("jwt", ("ES256",))
    assert outcome(guard, idp.app_token(alg="ES256")).policy == "app-only"  # type: ignore[union-attr]


def test_issuer_mismatch_is_refused(http_server: HTTPServer) -> None:
    """RFC 8414 §3.3, OIDC Discovery §4.3: a document naming another issuer never supplies our keys."""
    idp = keycloak_realm(http_server, issuer="https://sso.evil.example/realms/demo")
    with pytest.raises(ConfigurationError) as info:
        Guard.from_issuer(idp.issuer, audience=API)
    assert info.value.key == "issuers[0].issuer_uri"
    assert "names issuer 'https://sso.evil.example/realms/demo'" in str(info.value)
    assert http_server.hits[CERTS] == 0
    with pytest.raises(ConfigurationError) as top:
        load_config({"issuer_uri": idp.issuer, "audience": API})
    assert top.value.key == "issuer_uri"


def test_rfc8414_metadata_is_the_fallback(http_server: HTTPServer) -> None:
    """No OpenID document (404): RFC 8414 §3.1's ``/.well-known/oauth-authorization-server/<path>``."""
    rfc8414 = "/.well-known/oauth-authorization-server" + REALM
    idp = keycloak_realm(http_server, path=rfc8414)
    guard = Guard.from_issuer(idp.issuer, audience=API)
    assert guard.config.issuers[0].discovery == http_server.url + rfc8414
    assert http_server.hits[OIDC] == 1 and http_server.hits[rfc8414] == 1
    assert isinstance(outcome(guard, token(idp, "keycloak_user")), Principal)


def test_no_document_anywhere_names_each_location(http_server: HTTPServer) -> None:
    with pytest.raises(ConfigurationError) as info:
        Guard.from_issuer(http_server.url + REALM, audience=API)
    assert str(info.value).count("(HTTP 404)") == 3


def test_an_unreachable_issuer_is_a_clear_error(dead_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as info:
        Guard.from_issuer(dead_url + REALM, audience=API, issuer_options={"timeout": 2})
    assert time.monotonic() - started < 5
    assert info.value.key == "issuers[0].issuer_uri"
    assert f"cannot fetch {dead_url}{OIDC}" in str(info.value) and "reachable" in str(info.value)


def test_a_server_error_is_not_taken_for_a_missing_document(http_server: HTTPServer) -> None:
    """A 5xx stops at once: the RFC 8414 location is not tried on an outage."""
    http_server.json(OIDC, {"error": "unavailable"}, status=503)
    with pytest.raises(ConfigurationError, match="HTTP 503"):
        Guard.from_issuer(http_server.url + REALM, audience=API)
    assert http_server.hits["/.well-known/oauth-authorization-server" + REALM] == 0


def test_plain_http_is_refused_before_any_fetch() -> None:
    """RFC 8414 §3: metadata over TLS, except on loopback (or with allow_insecure_http)."""
    with pytest.raises(ConfigurationError) as info:
        Guard.from_issuer("http://sso.example.com/realms/demo", audience=API)
    assert info.value.key == "issuers[0].issuer_uri" and "https" in str(info.value)


def test_a_document_moving_keys_to_plain_http_is_refused(http_server: HTTPServer) -> None:
    idp = keycloak_realm(http_server)
    http_server.json(OIDC, {"issuer": idp.issuer, "jwks_uri": "http://keys.example.com/certs"})
    with pytest.raises(ConfigurationError, match="is not https"):
        Guard.from_issuer(idp.issuer, audience=API)


def test_cognito_needs_client_ids(http_server: HTTPServer) -> None:
    """Cognito access tokens carry no ``aud`` (here named explicitly: its hosts are not loopback)."""
    idp = keycloak_realm(http_server)
    with pytest.raises(ConfigurationError) as info:
        Guard.from_issuer(idp.issuer, audience=API, profile="cognito")
    assert info.value.key == "issuers[0].client_ids" and "client_ids=[" in str(info.value)
    guard = Guard.from_issuer(idp.issuer, audience=API, profile="cognito", client_ids=["1example23456789"])
    assert guard.config.issuers[0].client_ids == ("1example23456789",)


@pytest.mark.parametrize(("config", "key"), [
    ({"issuer_uri": "https://sso.example.com/realms/demo", "audience": API,
      "issuers": [{"issuer": "x", "algorithms": ["RS256"], "jwks_uri": "https://x/jwks"}]}, "issuer_uri"),
    ({"audience": API, "issuers": [{"issuer_uri": "https://sso.example.com", "issuer": "https://sso.example.com"}]},
     "issuers[0].issuer"),
    ({"audience": API, "issuers": [{"issuer_uri": "sso.example.com"}]}, "issuers[0].issuer_uri"),
])
def test_conflicting_keys_are_refused_without_fetching(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config(config)
    assert info.value.key == key


@pytest.mark.parametrize("options", [{}, {"allow_insecure_http": True}], ids=["refused", "fetched"])
def test_messages_and_logs_never_show_a_url_password(http_server: HTTPServer, caplog: pytest.LogCaptureFixture,
                                                     options: dict[str, Any]) -> None:
    """As the rest of the library's logs and reprs: a userinfo password in issuer_uri is masked."""
    secret_iss = http_server.url.replace("http://", "http://ops:hunter2@") + REALM
    with pytest.raises(ConfigurationError) as info, caplog.at_level(logging.INFO, logger="s2s_guard"):
        Guard.from_issuer(secret_iss, audience=API, issuer_options=options)
    assert ("HTTP 404" in str(info.value)) == bool(options)
    assert "hunter2" not in str(info.value) and "ops:***@" in str(info.value)
    assert not any("hunter2" in r.getMessage() for r in caplog.records)
