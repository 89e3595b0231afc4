"""RFC 7662 introspection end to end: a counting introspection server on 127.0.0.1 that can be
slowed or stopped, routing, claim checks, caching, single flight, client auth and RFC 9701."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any
from urllib.parse import unquote

import anyio
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from s2s_guard import (AuthError, ConfigurationError, Guard, InsufficientScope, InvalidAudience,
                       InvalidToken, MalformedToken, Requirement, ServiceUnavailable, TokenExpired,
                       UnknownIssuer)
from s2s_guard.testing import LocalIssuer

HTTPServer = Any  # tests/sources/conftest.py: the scriptable loopback server
AUD = "api://orders"
ISS = "https://as.example.test"
SECRET = "s3cret:with/odd chars"


class Endpoint:
    """An introspection endpoint: ``tokens`` maps a token to its response; checks client auth."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.tokens: dict[str, dict[str, Any]] = {}
        self.reply: Any = None  # (status, headers, body) overriding everything when set
        server.routes["/introspect"] = self._answer
        self.url = server.url + "/introspect"

    @property
    def calls(self) -> int:
        return int(self.server.hits["/introspect"])

    def _authenticated(self, request: Any) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            return unquote(cid) == "orders-api" and unquote(secret) == SECRET
        if "client_secret" in request.form:
            return bool(request.form == {**request.form, "client_id": "orders-api", "client_secret": SECRET})
        return bool("client_assertion" in request.form)

    def _answer(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        if self.reply is not None:
            status, headers, body = self.reply
            return int(status), dict(headers), bytes(body)
        if not self._authenticated(request):
            return 401, {"Content-Type": "application/json"}, b'{"error": "invalid_client"}'
        doc = self.tokens.get(request.form.get("token", ""), {"active": False})
        return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()


@pytest.fixture
def endpoint(http_server: HTTPServer) -> Endpoint:
    return Endpoint(http_server)


def active(**claims: Any) -> dict[str, Any]:
    return {"active": True, "iss": ISS, "aud": AUD, "client_id": "billing", "scope": "orders.read",
            "exp": int(time.time()) + 600, "token_type": "Bearer", **claims}


def make_guard(url: str, *, introspection: dict[str, Any] | None = None, issuers: list[dict[str, Any]] | None = None,
               **top: Any) -> Guard:
    block = {"endpoint": url, "client_id": "orders-api", "client_secret": SECRET, **(introspection or {})}
    issuers = issuers or [{"issuer": ISS, "validation": "introspect"}]
    return Guard.from_config({"audience": [AUD], "issuers": issuers, "introspection": block, **top})


def outcome(guard: Guard, token: str, requirement: Requirement | None = None) -> Any:
    try:
        return guard.authenticate_sync("Bearer " + token, requirement)
    except AuthError as exc:
        return exc


def aoutcome(guard: Guard, token: str) -> Any:
    async def run() -> Any:
        try:
            return await guard.authenticate("Bearer " + token)
        except AuthError as exc:
            return exc
    return anyio.run(run)


def test_active_opaque_token_becomes_a_principal(endpoint: Endpoint) -> None:
    endpoint.tokens["opaque-1"] = active()
    endpoint.tokens["opaque-2"] = active(sub="alice", client_id="web", username="alice@x")
    guard = make_guard(endpoint.url)
    app = outcome(guard, "opaque-1")
    assert app.policy == "app-only" and app.app.client_id == "billing" and app.scopes == {"orders.read"}
    user = aoutcome(guard, "opaque-2")
    assert user.policy == "user+app" and user.user.id == "alice" and user.app.client_id == "web"


@pytest.mark.parametrize("doc", [
    {"active": False}, {"active": "true"}, {"active": 1}, {"iss": ISS, "aud": AUD, "client_id": "x"},
    {"active": None}])
def test_only_json_true_is_active(endpoint: Endpoint, doc: dict[str, Any]) -> None:
    endpoint.tokens["t"] = doc
    err = outcome(make_guard(endpoint.url), "t")
    assert isinstance(err, InvalidToken) and err.status_code == 401


@pytest.mark.parametrize(("claims", "error"), [
    ({"aud": "api://other"}, InvalidAudience),
    ({"aud": ["api://other", "api://more"]}, InvalidAudience),
    ({"exp": int(time.time()) - 3600}, TokenExpired),
    ({"iss": "https://evil.example"}, UnknownIssuer),
    ({"scope": 42}, InvalidToken),
])
def test_claims_go_through_the_jwt_checks(endpoint: Endpoint, claims: dict[str, Any], error: type) -> None:
    endpoint.tokens["t"] = active(**claims)
    assert isinstance(outcome(make_guard(endpoint.url), "t"), error)


def test_missing_aud_is_refused(endpoint: Endpoint) -> None:
    doc = active()
    del doc["aud"]
    endpoint.tokens["t"] = doc
    assert isinstance(outcome(make_guard(endpoint.url), "t"), InvalidAudience)


def test_requirement_checked_on_every_request_even_cached(endpoint: Endpoint) -> None:
    endpoint.tokens["t"] = active()
    guard = make_guard(endpoint.url)
    assert outcome(guard, "t", Requirement(scopes=["orders.read"])).policy == "app-only"
    err = outcome(guard, "t", Requirement(scopes=["orders.write"]))
    assert isinstance(err, InsufficientScope) and err.status_code == 403
    assert endpoint.calls == 1


def test_positive_and_negative_results_are_cached(endpoint: Endpoint) -> None:
    endpoint.tokens["good"] = active()
    guard = make_guard(endpoint.url, cache={"verified": False})
    for _ in range(5):
        assert outcome(guard, "good").policy == "app-only"
        assert isinstance(outcome(guard, "bad"), InvalidToken)
    assert endpoint.calls == 2


def test_positive_cache_ends_at_cache_ttl_and_negative_at_negative_ttl(endpoint: Endpoint) -> None:
    now = [time.time()]
    endpoint.tokens["good"] = active(exp=int(now[0]) + 3600)
    guard = Guard.from_config({"audience": [AUD], "issuers": [{"issuer": ISS, "validation": "introspect"}],
                               "introspection": {"endpoint": endpoint.url, "client_id": "orders-api",
                                                 "client_secret": SECRET, "cache_ttl": 100, "negative_ttl": 5}},
                              clock=lambda: now[0])
    outcome(guard, "good"), outcome(guard, "bad")
    now[0] += 6
    outcome(guard, "good"), outcome(guard, "bad")
    assert endpoint.calls == 3  # "bad" asked again after negative_ttl
    now[0] += 95
    outcome(guard, "good")
    assert endpoint.calls == 4  # "good" asked again after cache_ttl


def test_positive_cache_never_outlives_exp(endpoint: Endpoint) -> None:
    now = [time.time()]
    endpoint.tokens["short"] = active(exp=int(now[0]) + 30)
    guard = Guard.from_config({"audience": [AUD], "leeway": 0,
                               "issuers": [{"issuer": ISS, "validation": "introspect"}],
                               "introspection": {"endpoint": endpoint.url, "client_id": "orders-api",
                                                 "client_secret": SECRET}}, clock=lambda: now[0])
    assert outcome(guard, "short").policy == "app-only"
    now[0] += 31
    assert isinstance(outcome(guard, "short"), TokenExpired)
    assert endpoint.calls == 2


def test_200_concurrent_requests_with_one_cold_token_make_one_call(endpoint: Endpoint) -> None:
    endpoint.tokens["cold"] = active()
    endpoint.server.delay = 0.2
    guard = make_guard(endpoint.url)
    results: list[Any] = []

    async def one() -> None:
        results.append(await guard.authenticate("Bearer cold"))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(200):
                tg.start_soon(one)

    anyio.run(main)
    assert endpoint.calls == 1 and len(results) == 200
    assert all(p.app.client_id == "billing" for p in results)


def test_concurrent_threads_with_one_cold_token_make_one_call(endpoint: Endpoint) -> None:
    endpoint.tokens["cold"] = active()
    endpoint.server.delay = 0.2
    guard = make_guard(endpoint.url)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(outcome(guard, "cold"))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert endpoint.calls == 1 and all(p.policy == "app-only" for p in results)


def test_endpoint_down_is_503_with_retry_after(dead_url: str) -> None:
    guard = make_guard(dead_url + "/introspect")
    for err in (outcome(guard, "t"), aoutcome(guard, "t2")):
        assert isinstance(err, ServiceUnavailable) and err.status_code == 503
        assert int(err.headers["Retry-After"]) >= 1


def test_endpoint_slow_is_503(endpoint: Endpoint) -> None:
    endpoint.tokens["t"] = active()
    endpoint.server.delay = 1.0
    guard = make_guard(endpoint.url, introspection={"timeout": 0.2})
    err = outcome(guard, "t")  # the 0.2 s timeout, not the slow server, ends the wait
    assert isinstance(err, ServiceUnavailable) and "Retry-After" in err.headers


def test_endpoint_stopped_then_back(endpoint: Endpoint) -> None:
    now = [time.time()]
    endpoint.tokens["t"] = active()
    endpoint.reply = (500, {}, b"down")
    guard = Guard.from_config({"audience": [AUD], "issuers": [{"issuer": ISS, "validation": "introspect"}],
                               "introspection": {"endpoint": endpoint.url, "client_id": "orders-api",
                                                 "client_secret": SECRET}}, clock=lambda: now[0])
    assert isinstance(outcome(guard, "t"), ServiceUnavailable)
    assert isinstance(outcome(guard, "t"), ServiceUnavailable)
    assert endpoint.calls == 1  # failures are not cached, but the endpoint is rested a moment
    endpoint.reply = None
    now[0] += 3
    assert outcome(guard, "t").policy == "app-only"


@pytest.mark.parametrize("reply", [
    (200, {"Content-Type": "application/json"}, b"not json"),
    (200, {"Content-Type": "application/json"}, b"[true]"),
    (200, {"Content-Type": "application/json"}, b'{"active": true, "active": false}'),
    (401, {"Content-Type": "application/json"}, b'{"error": "invalid_client"}'),
])
def test_garbage_answers_are_503_never_acceptance(endpoint: Endpoint, reply: Any) -> None:
    endpoint.reply = reply
    assert isinstance(outcome(make_guard(endpoint.url), "t"), ServiceUnavailable)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_secret_auth_methods(endpoint: Endpoint, method: str) -> None:
    endpoint.tokens["t"] = active()
    assert outcome(make_guard(endpoint.url, introspection={"auth_method": method}), "t").policy == "app-only"
    request = endpoint.server.requests[-1]
    assert request.form["token"] == "t" and request.form["token_type_hint"] == "access_token"
    assert ("authorization" in request.headers) == (method == "client_secret_basic")


def test_client_secret_from_environment(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint.tokens["t"] = active()
    monkeypatch.setenv("ORDERS_INTROSPECTION_SECRET", SECRET)
    guard = make_guard(endpoint.url, introspection={"client_secret": None,
                                                    "client_secret_env": "ORDERS_INTROSPECTION_SECRET"})
    assert outcome(guard, "t").policy == "app-only"


def test_private_key_jwt_assertion(endpoint: Endpoint, tmp_path: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "client.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    endpoint.tokens["t"] = active()
    guard = make_guard(endpoint.url, introspection={
        "client_secret": None, "auth_method": "private_key_jwt", "private_key_file": str(pem),
        "private_key_alg": "ES256", "private_key_kid": "k1"})
    assert outcome(guard, "t").policy == "app-only"
    form = endpoint.server.requests[-1].form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    claims = jwt.decode(form["client_assertion"], key.public_key(), algorithms=["ES256"], audience=ISS)
    assert claims["iss"] == claims["sub"] == "orders-api" and claims["exp"] - claims["iat"] <= 60
    assert jwt.get_unverified_header(form["client_assertion"])["kid"] == "k1"


def _signed_response(idp: LocalIssuer, body: dict[str, Any], **overrides: Any) -> bytes:
    claims = {"iss": ISS, "aud": "orders-api", "iat": int(time.time()), "token_introspection": body,
              **overrides}
    key = idp.key_for("RS256")
    return jwt.encode(claims, key.key, algorithm="RS256",
                      headers={"kid": key.kid, "typ": "token-introspection+jwt"}).encode()


@pytest.fixture
def as_with_keys(http_server: HTTPServer) -> tuple[Endpoint, LocalIssuer, dict[str, Any]]:
    idp = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("RS256",))
    http_server.json("/jwks", idp.jwks())
    issuer = {"issuer": ISS, "validation": "introspect", "algorithms": ["RS256"],
              "jwks_uri": http_server.url + "/jwks"}
    return Endpoint(http_server), idp, issuer


def test_rfc9701_jwt_response_is_verified(as_with_keys: Any) -> None:
    endpoint, idp, issuer = as_with_keys
    endpoint.reply = (200, {"Content-Type": "application/token-introspection+jwt"},
                      _signed_response(idp, active()))
    guard = make_guard(endpoint.url, issuers=[issuer], introspection={"jwt_response": True})
    assert outcome(guard, "t").app.client_id == "billing"
    posted = [r for r in endpoint.server.requests if r.path == "/introspect"]
    assert posted[0].headers["accept"] == "application/token-introspection+jwt"


@pytest.mark.parametrize("overrides", [{"aud": "someone-else"}, {"iss": "https://other"},
                                       {"iat": int(time.time()) + 3600}])
def test_rfc9701_jwt_response_for_another_party_is_refused(as_with_keys: Any, overrides: dict[str, Any]) -> None:
    endpoint, idp, issuer = as_with_keys
    endpoint.reply = (200, {"Content-Type": "application/token-introspection+jwt"},
                      _signed_response(idp, active(), **overrides))
    assert isinstance(outcome(make_guard(endpoint.url, issuers=[issuer]), "t"), ServiceUnavailable)


def test_rfc9701_forged_signature_is_refused(as_with_keys: Any) -> None:
    endpoint, _idp, issuer = as_with_keys
    forger = LocalIssuer(issuer=ISS, algorithms=("RS256",))
    forged = _signed_response(forger, active())
    endpoint.reply = (200, {"Content-Type": "application/token-introspection+jwt"}, forged)
    assert isinstance(outcome(make_guard(endpoint.url, issuers=[issuer]), "t"), ServiceUnavailable)


def test_plain_json_refused_when_jwt_response_required(as_with_keys: Any) -> None:
    endpoint, _idp, issuer = as_with_keys
    endpoint.tokens["t"] = active()
    guard = make_guard(endpoint.url, issuers=[issuer], introspection={"jwt_response": True})
    assert isinstance(outcome(guard, "t"), ServiceUnavailable)


def test_routing_local_jwt_vs_introspection(endpoint: Endpoint, http_server: HTTPServer) -> None:
    local = LocalIssuer(issuer="https://local.example", audience=AUD, algorithms=("RS256",))
    http_server.json("/jwks", local.jwks())
    remote = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("RS256",))
    issuers = [{"issuer": local.issuer, "algorithms": ["RS256"], "jwks_uri": http_server.url + "/jwks"},
               {"issuer": ISS, "validation": "introspect"}]
    guard = make_guard(endpoint.url, issuers=issuers, introspection={"issuer": ISS})
    assert outcome(guard, local.app_token()).policy == "app-only"
    assert endpoint.calls == 0  # a JWT from a configured issuer is validated locally
    forged = local.mint({"sub": "x"}, key=remote.keys[0].key, headers={"kid": local.keys[0].kid})
    assert outcome(guard, forged).reason == "bad_signature" and endpoint.calls == 0  # never introspected
    remote_jwt = remote.app_token()
    endpoint.tokens[remote_jwt] = active()
    assert outcome(guard, remote_jwt).policy == "app-only" and endpoint.calls == 1  # validation="introspect"
    unknown = LocalIssuer(issuer="https://unknown.example", algorithms=("RS256",)).app_token()
    # Not configured: refused locally as unknown issuer, never sent to the introspection server.
    assert outcome(guard, unknown).reason == "unknown_issuer" and endpoint.calls == 1


def test_without_introspection_opaque_tokens_stay_malformed(http_server: HTTPServer) -> None:
    http_server.json("/jwks", {"keys": []})
    guard = Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": ISS, "algorithms": ["RS256"], "jwks_uri": http_server.url + "/jwks"}]})
    assert isinstance(outcome(guard, "opaque"), MalformedToken)


def test_tokens_are_never_cache_keys(endpoint: Endpoint) -> None:
    endpoint.tokens["secret-token-value"] = active()
    guard = make_guard(endpoint.url)
    outcome(guard, "secret-token-value")
    introspector = guard._introspector
    assert introspector is not None
    keys = introspector.memory.keys() + guard._verified.memory.keys()
    assert keys and all("secret-token-value" not in k and len(k) == 64 for k in keys)


def test_configuration_errors_name_the_key() -> None:
    with pytest.raises(ConfigurationError, match="introspection.client_id"):
        make_guard("https://as/i", introspection={"client_id": None})
    with pytest.raises(ConfigurationError, match="issuers.0..validation"):
        Guard.from_config({"audience": [AUD], "issuers": [{"issuer": ISS, "validation": "introspect"}]})
    with pytest.raises(ConfigurationError, match="introspection.auth_method"):
        make_guard("https://as/i", introspection={"auth_method": "none"})
    with pytest.raises(ConfigurationError, match="introspection.client_secret_env"):
        make_guard("https://as/i", introspection={"client_secret": None, "client_secret_env": "NOPE_NOT_SET"})
    with pytest.raises(ConfigurationError, match="cache.backend"):
        make_guard("https://as/i", cache={"backend": "memcached"})
    with pytest.raises(ConfigurationError, match="cache.url"):
        make_guard("https://as/i", cache={"backend": "redis"})
