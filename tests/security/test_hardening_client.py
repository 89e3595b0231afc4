"""Issue 12 hardening: the client token cache, the audit hash, secret floors and secret-free reprs.

Each test names the rule it rests on. Token-endpoint tests run a real local issuer on
127.0.0.1 and count its ``/token`` hits; the audit test runs a real uvicorn server behind
:class:`GuardMiddleware`. Tests labelled "positive control" pass before and after the fix.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from jwt.algorithms import RSAAlgorithm
from loopback import serve_uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from s2s_guard import AuthError, ConfigurationError, Guard, GuardMiddleware
from s2s_guard.binding import Presented
from s2s_guard.client import (ClientCredentialsAuth, HighTrustAuth, TokenCache, TokenEndpointError,
                              TokenExchangeAuth)
from s2s_guard.config import CacheConfig, DPoPConfig, IntrospectionConfig, IssuerConfig, load_config
from s2s_guard.core.keys import KeySet, VerificationKey
from s2s_guard.sources.redis_cache import RedisCache
from s2s_guard.telemetry import AUDIT_LOGGER
from s2s_guard.testing import HighTrustIdentity, LocalIssuer

AUD = "api://orders"
CLIENT_ID = "billing"
GOOD_SECRET = "billing-secret-0123456789-abcdefghij"
WRONG_SECRET = "not-the-billing-secret-0123456789xyz"
HMAC_SECRET = "an-hmac-secret-of-at-least-32-bytes-long!"
REDIS_PASSWORD = "r3dis-Passw0rd-never-shown"
NONCE_SECRET = "a-dpop-nonce-secret-of-32-bytes-or-more"


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("ES256",)) as iss:
        iss.register_client(CLIENT_ID, secret=GOOD_SECRET, scopes=["orders.read"])
        yield iss


def _client_credentials(issuer: LocalIssuer, cache: TokenCache, **options: Any) -> ClientCredentialsAuth:
    params: dict[str, Any] = {"client_secret": GOOD_SECRET, "resource": AUD, "scope": "orders.read",
                              "cache": cache, **options}
    return ClientCredentialsAuth(issuer.token_url, CLIENT_ID, **params)


def _sent_bearer(issuer: LocalIssuer, auth: httpx.Auth) -> str:
    """Call the issuer's /jwks (any loopback URL will do) with ``auth``; the Bearer token it sent."""
    response = httpx.get(issuer.jwks_uri, auth=auth)
    assert response.status_code == 200
    return response.request.headers["Authorization"].removeprefix("Bearer ")


def _hidden(text: str, secret: str | bytes) -> None:
    """``secret`` is absent from ``text`` as itself, in base64, base64url and hex."""
    raw = secret.encode() if isinstance(secret, str) else secret
    forms = {raw.decode("latin-1"), base64.b64encode(raw).decode().rstrip("="),
             base64.urlsafe_b64encode(raw).decode().rstrip("="), raw.hex()}
    for form in forms:
        assert form not in text, f"secret shown as {form[:8]}..."


# -- item 12: the client token cache is keyed by the credential ----------------------------------

def test_same_credentials_share_one_token(issuer: LocalIssuer) -> None:
    """Positive control (RFC 6749 §4.4.3, §5.1): two auth objects with the same credential share one token."""
    cache = TokenCache()
    first, second = _client_credentials(issuer, cache), _client_credentials(issuer, cache)
    assert _sent_bearer(issuer, first) == _sent_bearer(issuer, second)
    assert issuer.hits["/token"] == 1


def test_wrong_secret_never_gets_a_cached_token(issuer: LocalIssuer) -> None:
    """RFC 6749 §2.3.1, §5.2 (invalid_client): a wrong secret asks the token endpoint and is refused,
    never handed the token a correctly authenticated auth object for the same client id cached."""
    cache = TokenCache()
    assert _sent_bearer(issuer, _client_credentials(issuer, cache))
    impostor = _client_credentials(issuer, cache, client_secret=WRONG_SECRET)
    with pytest.raises(TokenEndpointError) as refused:
        httpx.get(issuer.jwks_uri, auth=impostor)
    assert refused.value.status_code == 401 and refused.value.error == "invalid_client"
    assert issuer.hits["/token"] == 2 and impostor.token_requests == 1
    for key in cache._tokens:  # a keyed digest of the secret, never the secret
        _hidden(repr(key), GOOD_SECRET)
        _hidden(repr(key), hashlib.sha256(GOOD_SECRET.encode()).digest())


def test_wrong_secret_async_never_gets_a_cached_token(issuer: LocalIssuer) -> None:
    """RFC 6749 §2.3.1, §5.2: the async driver keys the shared cache by the credential too."""
    cache = TokenCache()
    honest, impostor = (_client_credentials(issuer, cache),
                        _client_credentials(issuer, cache, client_secret=WRONG_SECRET))

    async def main() -> tuple[int, type[BaseException] | None]:
        async with httpx.AsyncClient() as client:
            status = (await client.get(issuer.jwks_uri, auth=honest)).status_code
            try:
                await client.get(issuer.jwks_uri, auth=impostor)
            except TokenEndpointError as exc:
                return status, type(exc)
        return status, None

    assert anyio.run(main) == (200, TokenEndpointError)
    assert issuer.hits["/token"] == 2


def test_auth_method_is_part_of_the_key(issuer: LocalIssuer) -> None:
    """RFC 6749 §2.3.1: client_secret_basic and client_secret_post are distinct client authentications,
    so each auth object fetches its own token (and each token request carries its own credentials)."""
    cache = TokenCache()
    basic = _client_credentials(issuer, cache, auth_method="client_secret_basic")
    post = _client_credentials(issuer, cache, auth_method="client_secret_post")
    assert _sent_bearer(issuer, basic) != _sent_bearer(issuer, post)
    assert issuer.hits["/token"] == 2 and basic.token_requests == post.token_requests == 1


def test_private_key_jwt_with_another_key_is_refused(issuer: LocalIssuer) -> None:
    """RFC 7523 §3 / OpenID Connect Core §9 (private_key_jwt): an unregistered key never reuses the
    token a registered key obtained for the same client id; the endpoint refuses its assertion."""
    registered, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    issuer.register_client("signer", public_key=registered.public_key(), scopes=["orders.read"])
    cache = TokenCache()
    honest = ClientCredentialsAuth(issuer.token_url, "signer", private_key=registered, resource=AUD, cache=cache)
    impostor = ClientCredentialsAuth(issuer.token_url, "signer", private_key=other, resource=AUD, cache=cache)
    assert _sent_bearer(issuer, honest)
    with pytest.raises(TokenEndpointError):
        httpx.get(issuer.jwks_uri, auth=impostor)
    assert issuer.hits["/token"] == 2


def test_token_exchange_wrong_secret_never_gets_a_cached_token(issuer: LocalIssuer) -> None:
    """RFC 8693 §2.1 with RFC 6749 §2.3.1: the exchanged token of one credential is not another's."""
    issuer.register_client("middle", secret=GOOD_SECRET)
    subject = issuer.user_token("alice", "web-app", scopes="orders.read", alg="ES256")
    cache = TokenCache()

    def exchange(secret: str) -> TokenExchangeAuth:
        return TokenExchangeAuth(issuer.token_url, "middle", subject_token=subject, client_secret=secret,
                                 resource=AUD, cache=cache)

    assert _sent_bearer(issuer, exchange(GOOD_SECRET))
    with pytest.raises(TokenEndpointError):
        httpx.get(issuer.jwks_uri, auth=exchange(WRONG_SECRET))
    assert issuer.hits["/token"] == 2


def test_high_trust_tokens_are_per_key() -> None:
    """Positive control (SharePoint high-trust, [MS-SPS2SAUTH]): each HighTrustAuth signs with its own key
    into its own cache, so another key's object never reuses a token."""
    a, b = HighTrustIdentity(realm="realm-1"), HighTrustIdentity(realm="realm-1")

    def auth(identity: HighTrustIdentity) -> HighTrustAuth:
        return HighTrustAuth(client_id="app", issuer_id=a.issuer_id, realm="realm-1",
                             private_key=identity.key, certificate=identity.certificate)

    assert auth(a).token_for("sp.example") != auth(b).token_for("sp.example")


# -- item 13: the audit log hashes only Bearer and DPoP tokens ----------------------------------

def _audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]


def _digest_forms(credentials: str) -> set[str]:
    return {hashlib.sha256(credentials.encode()).hexdigest()[:12]}


@contextmanager
def _guarded_api(guard: Guard) -> Iterator[str]:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = GuardMiddleware(Starlette(routes=[Route("/hello", hello)]), guard=guard)
    with serve_uvicorn(app, http="h11") as port:
        yield f"http://127.0.0.1:{port}"


def test_basic_credentials_never_hashed_into_the_audit_line(issuer: LocalIssuer,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """RFC 6750 §2.1, RFC 9449 §7.1; OWASP Logging Cheat Sheet (never log passwords, even hashed):
    a Basic header reaching the middleware is refused with no token hash in the audit line."""
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    basic = base64.b64encode(b"alice:Summer2024!").decode()
    with _guarded_api(Guard.from_config(issuer.guard_config())) as url:
        response = httpx.get(url + "/hello", headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 401
    [line] = _audit_lines(caplog)
    assert line["outcome"] == "refused" and line["token_sha256"] is None
    assert not _digest_forms(basic) & {v for v in line.values() if isinstance(v, str)}


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNzd29yZA==", "basic dXNlcjpwYXNzd29yZA==",
                                    "Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg", "Digest username=\"u\", response=\"x\"",
                                    " Basic dXNlcjpwYXNzd29yZA=="])
def test_other_schemes_get_no_token_hash(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture,
                                         header: str) -> None:
    """RFC 9110 §11.1 (schemes are case-insensitive), RFC 6750 §2.1: only access tokens are hashed."""
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    with pytest.raises(AuthError):
        Guard.from_config(issuer.guard_config()).authenticate_sync(header, path="/x")
    [line] = _audit_lines(caplog)
    assert line["token_sha256"] is None


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "DPoP"])
def test_access_tokens_are_still_hashed(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture, scheme: str) -> None:
    """Positive control (RFC 6750 §2.1, RFC 9449 §7.1): a refused Bearer or DPoP token keeps its 12-digit hash."""
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    token = issuer.app_token("billing", ttl=-3600, alg="ES256")  # expired: refused after the token was read
    with pytest.raises(AuthError):
        Guard.from_config(issuer.guard_config()).authenticate_sync(f"{scheme} {token}", path="/x")
    [line] = _audit_lines(caplog)
    assert line["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()[:12]


# -- item 15: HMAC secrets have a floor wherever they come from --------------------------------

def _hs256_config(**issuer: Any) -> dict[str, Any]:
    return {"audience": [AUD], "issuers": [{"name": "hs", "issuer": "https://hs.example",
                                             "algorithms": ["HS256"], **issuer}]}


def test_short_secret_env_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 7518 §3.2: an HS256 key of at least 32 bytes, from the environment as inline."""
    monkeypatch.setenv("S2S_HARDENING_SHORT", "x" * 31)
    with pytest.raises(ConfigurationError) as refused:
        load_config(_hs256_config(secret_env="S2S_HARDENING_SHORT"))
    assert refused.value.key == "issuers[0].secret_env" and "x" * 31 not in str(refused.value)


def test_secret_env_of_32_bytes_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Positive control (RFC 7518 §3.2): a 32-byte secret from the environment is accepted."""
    monkeypatch.setenv("S2S_HARDENING_OK", "y" * 32)
    assert load_config(_hs256_config(secret_env="S2S_HARDENING_OK")).issuers[0].secret == b"y" * 32


def test_programmatic_short_issuer_secret_is_refused() -> None:
    """RFC 7518 §3.2: IssuerConfig built in Python (not through load_config) keeps the 32-byte floor."""
    with pytest.raises(ConfigurationError) as refused:
        IssuerConfig(name="hs", issuer="https://hs.example", algorithms=("HS256",), secret=b"short")
    assert refused.value.key == "IssuerConfig.secret"


def test_programmatic_short_dpop_nonce_secret_is_refused() -> None:
    """RFC 9449 §9 nonces are HMAC'd (RFC 2104 / RFC 7518 §3.2): DPoPConfig keeps the 32-byte floor too."""
    with pytest.raises(ConfigurationError) as refused:
        DPoPConfig(nonce_secret=b"short")
    assert refused.value.key == "DPoPConfig.nonce_secret"


# -- item 16: no secret in repr or str ---------------------------------------------------------

def test_redis_password_never_in_config_repr() -> None:
    """OWASP Secrets Management Cheat Sheet; CWE-532: a Redis URL's password (userinfo or query) is masked."""
    url = f"redis://cache-user:{REDIS_PASSWORD}@127.0.0.1:6379/0"
    cache_secret = "cache-record-mac-secret-of-32-bytes-" + "z" * 8
    config = load_config({**_hs256_config(secret=HMAC_SECRET),
                          "cache": {"backend": "redis", "url": url, "secret": cache_secret}})
    query_form = CacheConfig(backend="redis", url=f"redis://127.0.0.1:6379/0?password={REDIS_PASSWORD}")
    for text in (repr(config), str(config), repr(config.cache), str(config.cache), repr(query_form)):
        _hidden(text, REDIS_PASSWORD)
        _hidden(text, HMAC_SECRET)
        _hidden(text, cache_secret)
    assert "redis://cache-user:***@127.0.0.1:6379/0" in repr(config.cache)  # still says where


def test_url_passwords_never_in_issuer_or_introspection_repr() -> None:
    """RFC 3986 §3.2.1 (userinfo passwords are deprecated and must not be displayed); CWE-532."""
    issuer = IssuerConfig(name="x", issuer="https://x.example", algorithms=("RS256",),
                          jwks_uri=f"https://keys:{REDIS_PASSWORD}@x.example/jwks")
    introspection = IntrospectionConfig(client_id="api", endpoint=f"https://api:{REDIS_PASSWORD}@as.example/i")
    for text in (repr(issuer), str(issuer), repr(introspection), str(introspection)):
        _hidden(text, REDIS_PASSWORD)


def test_private_jwk_members_never_in_issuer_repr() -> None:
    """RFC 7518 §6.3.2 (RSA private members d, p, q, dp, dq, qi) and §6.4.1 (oct ``k``): an inline JWKS
    pasted with private members never shows them in the issuer's repr."""
    private = json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    oct_key = {"kty": "oct", "kid": "s", "k": base64.urlsafe_b64encode(HMAC_SECRET.encode()).decode()}
    issuer = IssuerConfig(name="x", issuer="https://x.example", algorithms=("RS256",),
                          jwks={"keys": [private, oct_key]})
    text = repr(issuer)
    for member in ("d", "p", "q", "dp", "dq", "qi"):
        assert private[member] not in text
    _hidden(text, HMAC_SECRET)
    assert private["n"] in text  # public members still show


def test_hmac_secret_never_in_key_repr() -> None:
    """RFC 7518 §3.2 shared secrets; CWE-532: a VerificationKey (and KeySet) holding an HMAC secret hides it."""
    key = VerificationKey(key=HMAC_SECRET.encode(), kid="hs")
    for text in (repr(key), str(key), repr(KeySet([key]).keys), str(KeySet([key]))):
        _hidden(text, HMAC_SECRET)


def test_raw_token_never_in_presented_repr(issuer: LocalIssuer) -> None:
    """RFC 6750 §5.3 (never log a bearer token): the guard's Presented record shows only the SHA-256."""
    token = issuer.app_token("billing", alg="ES256")
    text = repr(Presented(token, hashlib.sha256(token.encode()).hexdigest()))
    assert token not in text and token.split(".")[2] not in text


def test_secrets_never_in_repr_positive_controls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Positive control (CWE-532): reprs already free of secrets stay so: issuer secret, introspection
    client secret and private key, DPoP nonce secret, RedisCache, and the client auth objects."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    monkeypatch.setenv("S2S_HARDENING_NONCE", NONCE_SECRET)
    config = load_config({**_hs256_config(secret=HMAC_SECRET),
                          "introspection": {"endpoint": "https://as.example/introspect", "client_id": "api",
                                            "client_secret": GOOD_SECRET},
                          "dpop": {"nonce_secret_env": "S2S_HARDENING_NONCE"}})
    cache = RedisCache(f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0")
    secret_auth = ClientCredentialsAuth("https://as.example/token", CLIENT_ID, client_secret=GOOD_SECRET,
                                        cache=TokenCache())
    key_auth = ClientCredentialsAuth("https://as.example/token", CLIENT_ID, private_key=pem, cache=TokenCache())
    exchange = TokenExchangeAuth("https://as.example/token", CLIENT_ID, subject_token="s.u.b",
                                 client_secret=GOOD_SECRET, cache=TokenCache())
    objects: list[object] = [config, cache, secret_auth, secret_auth.credentials, key_auth,
                             key_auth.credentials, exchange, exchange.credentials]
    for obj in objects:
        for text in (repr(obj), str(obj)):
            for secret in (HMAC_SECRET, GOOD_SECRET, NONCE_SECRET, REDIS_PASSWORD):
                _hidden(text, secret)
            assert "PRIVATE KEY" not in text and str(key.private_numbers().d) not in text


def test_discovery_url_password_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    """OWASP Logging Cheat Sheet; CWE-532; RFC 3986 §3.2.1: a failed discovery names its URL
    without the userinfo password."""
    from s2s_guard.core.flow import HTTPResponse
    from s2s_guard.sources.discovery import Discovery

    url = f"https://keys:{REDIS_PASSWORD}@idp.example/.well-known/openid-configuration"
    flow = Discovery(url, issuer="https://idp.example").flow(now=1000.0)
    request = next(flow)
    assert request.url == url  # the password is still sent: only the log hides it
    with caplog.at_level("WARNING", logger="s2s_guard"), pytest.raises(StopIteration):
        flow.send(HTTPResponse(status=500))
    assert "discovery for issuer https://idp.example failed at https://keys:***@idp.example" in caplog.text
    _hidden(caplog.text, REDIS_PASSWORD)
