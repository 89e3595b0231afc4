"""Issue 12 (security hardening), introspection and transport: named regressions, real servers on 127.0.0.1.

* An introspection endpoint speaks only for its own issuer (RFC 7662 §2.2, RFC 8725 §3.8).
* Its outage breaker trips only on outages: a 4xx to one junk token fails that token alone.
* An active answer for a refresh token never authorises an API call (RFC 6749 §1.5).
* Every fetched URL is https unless its host is loopback, in the configuration and in discovery
  documents (RFC 8414 §3, RFC 7662 §4); ``allow_insecure_http = true`` is the development opt-out.

``http://0.0.0.0:<port>`` stands for a non-loopback http host: on Linux it reaches the loopback
server, so a guard that fetched it would show up in the server's hit counts.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from s2s_guard import ConfigurationError, Guard, load_config
from settable_clock import Clock

from security_kit import (AUD, ISS, NOW, Forge, IntrospectionServer, bearer, call, expect_accepted,
                          expect_refused)

AS = "https://as.example"  # the authorization server whose tokens are introspected
SECRET = "orders-api-secret-0123456789abcdef"
OPAQUE = bearer("2YotnFZFEjr1zCsicMWpAA")  # RFC 6749 §1.4's example access token
JUNK = bearer("junk-token-the-server-refuses")
UNAVAILABLE = (503, "temporarily_unavailable")
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
ENTRA = "https://login.microsoftonline.com/{tenantid}/v2.0"


@pytest.fixture
def endpoint() -> Iterator[IntrospectionServer]:
    with IntrospectionServer() as server:
        yield server


class Site:
    """A loopback server for GET and POST routes (discovery, JWKS, introspection) that counts hits."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.hits: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.elsewhere = f"http://0.0.0.0:{self.port}"  # plain http, not a loopback name
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def json(self, path: str, doc: object) -> None:
        self.routes[path] = json.dumps(doc).encode()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                site.hits[path] += 1
                body = site.routes.get(path)
                self.send_response(404 if body is None else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            do_GET = do_POST = _answer  # noqa: N815 (http.server API)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.stop()


def active(**members: Any) -> dict[str, Any]:
    """An active response for an app-only token of ``AS`` meant for this API."""
    return {"active": True, "client_id": "daemon", "scope": "orders.read", "aud": AUD, "iss": AS,
            "exp": NOW + 300, "iat": NOW, "token_type": "Bearer", **members}


def two_issuer_guard(forge: Forge, url: str, clock: Clock | None = None, **introspection: Any) -> Guard:
    """``ISS`` validated locally (with a grant on /orders), ``AS`` introspected at ``url``."""
    config = {"audience": [AUD],
              "issuers": [{"issuer": ISS, "algorithms": ["RS256"], "jwks": forge.jwks()},
                          {"issuer": AS, "validation": "introspect"}],
              "introspection": {"endpoint": url, "issuer": AS, "client_id": "orders-api",
                                "client_secret": SECRET, "timeout": 2, **introspection},
              "grants": [{"app": "daemon", "resource": "/orders", "right": "Write", "issuer": ISS}]}
    return Guard.from_config(config, clock=clock or (lambda: NOW))


# -- item 4: an introspection endpoint speaks only for its own issuer --------------------------------

def test_introspected_iss_of_another_configured_issuer_is_refused(forge: Forge,
                                                                 endpoint: IntrospectionServer) -> None:
    """RFC 7662 §2.2, RFC 8725 §3.8: the endpoint of ``AS`` cannot vouch for a token of ``ISS`` (and so
    take the grants scoped to ``ISS``): an ``iss`` other than the introspection issuer is refused."""
    endpoint.answer(active(iss=ISS))
    expect_refused(two_issuer_guard(forge, endpoint.url), OPAQUE, 401, "invalid_token", "unknown_issuer")


def test_introspected_iss_of_its_own_issuer_or_none_is_accepted(forge: Forge,
                                                                endpoint: IntrospectionServer) -> None:
    """Positive control (RFC 7662 §2.2: ``iss`` is optional): the issuer's own ``iss``, or none, is accepted
    and the principal belongs to the introspection issuer."""
    guard = two_issuer_guard(forge, endpoint.url)
    endpoint.answer(active())
    assert expect_accepted(guard, OPAQUE).issuer == AS
    body = active()
    del body["iss"]
    endpoint.answer(body)
    assert expect_accepted(guard, bearer("another-opaque-token")).issuer == AS


def entra_guard(url: str) -> Guard:
    config = {"audience": [AUD],
              "issuers": [{"issuer": ENTRA, "profile": "entra", "validation": "introspect", "tenants": [TENANT]}],
              "introspection": {"endpoint": url, "client_id": "orders-api", "client_secret": SECRET}}
    return Guard.from_config(config, clock=lambda: NOW)


def entra_active(tid: str, **members: Any) -> dict[str, Any]:
    return {"active": True, "iss": ENTRA.replace("{tenantid}", tid), "tid": tid, "aud": AUD, "ver": "2.0",
            "azp": "daemon-app", "idtyp": "app", "roles": ["orders.read"], "exp": NOW + 300, **members}


def test_entra_template_introspection_issuer_accepts_its_allowed_tenant(endpoint: IntrospectionServer) -> None:
    """Microsoft identity platform (multi-tenant ``iss`` per ``tid``), RFC 7662 §2.2: an introspection
    issuer configured as a ``{tenantid}`` template accepts ``iss`` filled from the response's ``tid``
    (it used to be refused: the filled ``iss`` is no configured issuer string); no ``iss`` means it too."""
    endpoint.answer(entra_active(TENANT))
    principal = expect_accepted(entra_guard(endpoint.url), OPAQUE)
    assert principal.issuer == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    body = entra_active(TENANT)
    del body["iss"]
    endpoint.answer(body)
    assert expect_accepted(entra_guard(endpoint.url), OPAQUE).issuer == principal.issuer


@pytest.mark.parametrize("body", [entra_active(OTHER_TENANT),
                                  {**entra_active(TENANT), "tid": OTHER_TENANT},
                                  entra_active(TENANT, iss=ENTRA)],
                         ids=["tenant-not-allowed", "iss-tid-mismatch", "unfilled-template"])
def test_entra_template_introspection_stays_in_its_tenants(endpoint: IntrospectionServer,
                                                           body: dict[str, Any]) -> None:
    """RFC 8725 §3.8; Entra multi-tenant validation guidance: a tenant outside ``tenants``, an ``iss``
    that does not match ``tid`` or the literal template are refused. The first two are positive controls
    (refused before too); the literal ``{tenantid}`` iss used to be accepted as the configured string."""
    endpoint.answer(body)
    expect_refused(entra_guard(endpoint.url), OPAQUE, 401, "invalid_token", "unknown_issuer")


# -- item 5: the outage breaker trips only on outages ------------------------------------------------

@pytest.mark.parametrize("status", [400, 401, 403, 404])
@pytest.mark.parametrize("driver", ["sync", "async"])
def test_a_4xx_for_one_token_does_not_turn_every_token_away(forge: Forge, endpoint: IntrospectionServer,
                                                            status: int, driver: str) -> None:
    """RFC 7662 §2.3, CWE-400: a 4xx answer fails that request (503: it may be our client auth, so fail
    closed) but is no outage: the next token is introspected at once, not refused for seconds."""
    guard = two_issuer_guard(forge, endpoint.url)
    endpoint.answer({"error": "invalid_request"}, status=status)
    if driver == "sync":
        expect_refused(guard, JUNK, *UNAVAILABLE)
    else:
        assert call(guard, JUNK).status_code == 503
    endpoint.answer(active())
    if driver == "sync":
        assert guard.authenticate_sync(OPAQUE).issuer == AS
    else:
        assert call(guard, OPAQUE).status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_outages_still_rest_the_endpoint(forge: Forge, endpoint: IntrospectionServer, status: int) -> None:
    """Positive control (RFC 9110 §15.6, RFC 6585 §4): a 5xx or 429 is an outage: for ``outage`` seconds
    every opaque token is 503 without a call, so a struggling server is not hammered."""
    guard = two_issuer_guard(forge, endpoint.url)
    endpoint.answer({"error": "server_error"}, status=status)
    expect_refused(guard, JUNK, *UNAVAILABLE)
    endpoint.answer(active())
    expect_refused(guard, OPAQUE, *UNAVAILABLE)
    assert endpoint.calls == 1


def test_a_refused_token_is_not_sent_again_for_negative_ttl(forge: Forge, endpoint: IntrospectionServer) -> None:
    """CWE-400, RFC 7662 §4 (cache to spare the server): a token the server answered 4xx for is remembered
    by its hash for ``negative_ttl`` (503 without a call), while other tokens still reach the server."""
    clock = Clock(NOW)
    guard = two_issuer_guard(forge, endpoint.url, clock, negative_ttl=10)
    endpoint.answer({"error": "invalid_request"}, status=400)
    expect_refused(guard, JUNK, *UNAVAILABLE)
    clock.now += 3  # past the 2 s outage window, within negative_ttl
    expect_refused(guard, JUNK, *UNAVAILABLE)
    assert endpoint.calls == 1
    expect_refused(guard, bearer("another-junk-token"), *UNAVAILABLE)
    assert endpoint.calls == 2
    clock.now += 10  # negative_ttl over: asked again
    expect_refused(guard, JUNK, *UNAVAILABLE)
    assert endpoint.calls == 3


# -- strictness: a refresh token never authorises an API call ------------------------------------------

@pytest.mark.parametrize("members", [{"token_type": "refresh_token"}, {"token_type": "Refresh"},
                                     {"typ": "Refresh"}, {"typ": "Offline"}], ids=repr)
def test_active_refresh_token_is_refused(forge: Forge, endpoint: IntrospectionServer,
                                         members: dict[str, Any]) -> None:
    """RFC 6749 §1.5 and §10.4 (a refresh token is for the authorization server only), RFC 7009 §2.1
    ``refresh_token``; Keycloak introspection ``"typ": "Refresh"`` / ``"Offline"``: 401 invalid_token."""
    endpoint.answer(active(**members))
    expect_refused(two_issuer_guard(forge, endpoint.url), OPAQUE, 401, "invalid_token", "bad_type")


def test_active_bearer_token_type_is_accepted(forge: Forge, endpoint: IntrospectionServer) -> None:
    """Positive control (RFC 7662 §2.2 ``token_type``; Keycloak ``"typ": "Bearer"``): access tokens pass."""
    endpoint.answer(active(typ="Bearer"))
    expect_accepted(two_issuer_guard(forge, endpoint.url), OPAQUE)


# -- item 14: https for every fetched URL except loopback ---------------------------------------------

SP_REALM = "2b2c3a7f-33d1-4b5c-9f6a-2a1c2f0c4b2e"
SP_ISSUER_ID = "3f3c3e1d-1111-4222-8333-944444444444"
INSECURE = ["http://issuer.example/keys", "http://127.0.0.1@evil.example/keys", "http://0.0.0.0/keys",
            "http://localhost.evil.example/keys", "http://127.0.0.1.nip.io/keys", "http://192.0.2.2/keys"]
LOOPBACK = ["http://127.0.0.1:8080/keys", "http://127.8.9.10/keys", "http://[::1]:8443/keys",
            "http://localhost/keys", "https://issuer.example/keys"]


def config_with(key: str, url: str, **issuer: Any) -> dict[str, Any]:
    """A configuration whose ``key`` (an issuer URL key, or ``introspection.endpoint``) is ``url``."""
    if key == "metadata_url":
        entry = {"profile": "sharepoint-high-trust", "issuer_id": SP_ISSUER_ID, "realm": SP_REALM,
                 "hosts": ["orders.contoso.com"], "algorithms": ["RS256"], "metadata_url": url}
    elif key == "introspection.endpoint":
        entry = {"issuer": AS, "validation": "introspect"}
    else:
        entry = {"issuer": AS, "algorithms": ["RS256"], key: url}
    config: dict[str, Any] = {"audience": [AUD], "issuers": [{**entry, **issuer}]}
    if key == "introspection.endpoint":
        config["introspection"] = {"endpoint": url, "client_id": "orders-api", "client_secret": SECRET}
    return config


KEYS = ["jwks_uri", "discovery", "metadata_url", "introspection.endpoint"]


@pytest.mark.parametrize("url", INSECURE)
@pytest.mark.parametrize("key", KEYS)
def test_configured_plain_http_url_is_refused_at_load(key: str, url: str) -> None:
    """RFC 8414 §3 and RFC 7662 §4 (TLS for metadata, keys and introspection), RFC 3986 §3.2 (user info
    is not the host): a non-loopback http URL is a ConfigurationError naming the key and the fix."""
    with pytest.raises(ConfigurationError) as raised:
        load_config(config_with(key, url))
    assert raised.value.key == (key if key == "introspection.endpoint" else f"issuers[0].{key}")
    assert "allow_insecure_http" in str(raised.value)


@pytest.mark.parametrize("url", LOOPBACK)
@pytest.mark.parametrize("key", KEYS)
def test_configured_https_or_loopback_url_loads(key: str, url: str) -> None:
    """Positive control (RFC 8252 §7.3 and §8.3: loopback never leaves the host): https, and http on
    127.0.0.0/8, ::1 or ``localhost``, load as before."""
    load_config(config_with(key, url))


@pytest.mark.parametrize("key", KEYS)
def test_allow_insecure_http_is_the_development_opt_out(key: str) -> None:
    """RFC 8414 §3 (documented exception): ``allow_insecure_http = true`` on the issuer accepts plain http."""
    config = load_config(config_with(key, "http://keycloak:8080/keys", allow_insecure_http=True))
    assert config.issuers[0].allow_insecure_http is True


def test_discovery_cannot_move_the_jwks_to_plain_http(forge: Forge, site: Site) -> None:
    """RFC 8414 §3, OIDC Discovery §3 (``jwks_uri`` MUST use https): a discovery document naming an
    http ``jwks_uri`` off loopback is refused: 503, fail closed, and the keys are never fetched."""
    site.json("/.well-known/openid-configuration", {"issuer": ISS, "jwks_uri": site.elsewhere + "/jwks"})
    site.json("/jwks", forge.jwks())
    guard = Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": ISS, "algorithms": ["RS256"], "discovery": site.url + "/.well-known/openid-configuration"}]},
        clock=lambda: NOW)
    expect_refused(guard, bearer(forge.token()), *UNAVAILABLE)
    assert site.hits["/jwks"] == 0


def introspect_by_discovery(site: Site, **issuer: Any) -> Guard:
    site.json("/.well-known/oauth-authorization-server",
              {"issuer": AS, "introspection_endpoint": site.elsewhere + "/introspect"})
    site.json("/introspect", active())
    return Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": AS, "validation": "introspect",
         "discovery": site.url + "/.well-known/oauth-authorization-server", **issuer}],
        "introspection": {"client_id": "orders-api", "client_secret": SECRET}}, clock=lambda: NOW)


def test_discovery_cannot_move_introspection_to_plain_http(site: Site) -> None:
    """RFC 7662 §4 (the token and client secret only over TLS), RFC 8414 §3: an http
    ``introspection_endpoint`` off loopback is refused (503): the token is never sent in clear."""
    expect_refused(introspect_by_discovery(site), OPAQUE, *UNAVAILABLE)
    assert site.hits["/introspect"] == 0


def test_discovery_downgrade_allowed_only_with_the_opt_out(site: Site) -> None:
    """RFC 8414 §3 (documented exception): with ``allow_insecure_http = true`` the http endpoint is used."""
    expect_accepted(introspect_by_discovery(site, allow_insecure_http=True), OPAQUE)
    assert site.hits["/introspect"] >= 1


def test_loopback_discovery_naming_loopback_urls_still_works(forge: Forge, site: Site) -> None:
    """Positive control (RFC 8252 §8.3): a local identity provider on 127.0.0.1 keeps working over http."""
    site.json("/.well-known/openid-configuration", {"issuer": ISS, "jwks_uri": site.url + "/jwks"})
    site.json("/jwks", forge.jwks())
    guard = Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": ISS, "algorithms": ["RS256"], "discovery": site.url + "/.well-known/openid-configuration"}]},
        clock=lambda: NOW)
    expect_accepted(guard, bearer(forge.token()))


@pytest.mark.parametrize(("source", "learnt", "refused"), [
    ("https://as.example/.well-known/openid-configuration", "http://127.0.0.1/jwks", True),
    ("https://as.example/.well-known/openid-configuration", "http://as.example/jwks", True),
    ("http://127.0.0.1:9/.well-known/openid-configuration", "http://as.example/jwks", True),
    ("http://127.0.0.1:9/.well-known/openid-configuration", "http://127.0.0.1:9/jwks", False),
    ("https://as.example/.well-known/openid-configuration", "https://keys.as.example/jwks", False)])
def test_discovery_never_downgrades_an_https_document(source: str, learnt: str, refused: bool) -> None:
    """RFC 8414 §3: a document fetched over https names only https URLs (not even loopback http); a
    loopback document may name loopback http (sans-I/O check, ``s2s_guard.sources.discovery``)."""
    from s2s_guard.sources.discovery import Metadata, check_transport

    metadata = Metadata("https://as.example", learnt, None)
    if refused:
        with pytest.raises(ValueError, match="not https"):
            check_transport(metadata, source)
    else:
        assert check_transport(metadata, source) is metadata
