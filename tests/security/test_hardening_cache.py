"""Issue 12 item 1: a shared (Redis) cache never widens what a guard accepts.

Guards share one real redis-server on a loopback port, as the worker processes of several
services would. A record another guard wrote is read only by guards of the same validation
configuration, is re-checked against the reader's own configuration, and must carry a valid
HMAC-SHA256: write access to Redis alone plants no principal, introspection result or JWK Set.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import redis

from s2s_guard import AuthError, ConfigurationError, Guard, InvalidToken, Principal
from s2s_guard.config import CacheConfig, GuardConfig, IssuerConfig
from s2s_guard.errors import DelegationNotAllowed, InvalidAudience, InvalidClaim
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing.issuer import generate_key
from s2s_guard.testing.families import FAMILIES
from s2s_guard.testing.mint import mint_token, trust_config

from loopback import RedisServer, running_redis
from security_kit import CACHE_SECRET, IntrospectionServer, redis_cache

AUD_A, AUD_B = "api://orders", "api://billing"
PREFIX = b"s2s_guard:"
ENTRA_TEMPLATE = "https://login.microsoftonline.com/{tenantid}/v2.0"
TENANT_KEPT, TENANT_DROPPED = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A redis-py client on the emptied server: what an attacker with write access holds."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def idp() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD_A, algorithms=("RS256",)) as issuer:
        yield issuer


def url_of(store: redis.Redis) -> str:
    kwargs = store.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/0"


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_of(store: redis.Redis, kind: str, suffix: str = "") -> bytes:
    """The one key a guard wrote for ``kind`` ("v", "i", "j"), whatever its namespace."""
    keys = store.keys(f"s2s_guard:{kind}:*{suffix}")
    assert len(keys) == 1 and isinstance(keys[0], bytes), keys
    return keys[0]


def tampered(raw: bytes, start: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """``raw`` with its JSON document (from ``start``) edited and everything before it kept."""
    at = raw.index(start)
    doc = json.loads(raw[at:])
    edit(doc)
    return raw[:at] + json.dumps(doc).encode()


def refusal(guard: Guard, token: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        guard.authenticate_sync("Bearer " + token)
    return caught.value


def arefusal(guard: Guard, token: str) -> AuthError:
    """The async driver's refusal; closes the guard's clients of this (short-lived) event loop."""
    async def main() -> AuthError:
        with pytest.raises(AuthError) as caught:
            await guard.authenticate("Bearer " + token)
        await guard.aclose()
        return caught.value

    return anyio.run(main)


# -- another configuration's records are not this guard's ------------------------------------------

def test_a_guard_of_another_audience_never_accepts_through_the_shared_cache(
        idp: LocalIssuer, store: redis.Redis) -> None:
    """RFC 7519 §4.1.3 and RFC 8707 §2: service B must refuse a token for service A's audience, even
    when A verified it first and the two services share the Redis cache (sync and async drivers)."""
    one = Guard.from_config({**idp.guard_config(audience=AUD_A), "cache": redis_cache(url_of(store))})
    two = Guard.from_config({**idp.guard_config(audience=AUD_B), "cache": redis_cache(url_of(store))})
    token = idp.app_token("reader")  # aud = AUD_A
    assert one.authenticate_sync("Bearer " + token).app is not None  # service A: its own audience
    assert isinstance(refusal(two, token), InvalidAudience)
    assert isinstance(arefusal(two, token), InvalidAudience)
    one.close()
    two.close()


def test_a_restarted_guard_with_narrower_tenants_refuses_the_dropped_tenant(store: redis.Redis) -> None:
    """Microsoft identity platform, multi-tenant apps ("validate the tid against an allow-list"):
    a guard restarted with a tenant removed from ``tenants`` refuses that tenant's tokens at
    once, not when the records its previous configuration cached expire."""
    with LocalIssuer(audience=AUD_A, algorithms=("RS256",), tenant_id=TENANT_DROPPED) as entra:
        def guard(tenants: list[str]) -> Guard:
            issuer = {"name": "entra", "issuer": ENTRA_TEMPLATE, "profile": "entra", "algorithms": ["RS256"],
                      "jwks_uri": entra.jwks_uri, "tenants": tenants}
            return Guard.from_config({"audience": [AUD_A], "issuers": [issuer], "cache": redis_cache(url_of(store))})

        token = mint_token(entra, "entra-v2-app", client_id="daemon", scopes="Orders.Read")
        before = guard([TENANT_KEPT, TENANT_DROPPED])
        assert before.authenticate_sync("Bearer " + token).app is not None
        before.close()
        after = guard([TENANT_KEPT])  # the restart: same Redis, tenant dropped
        assert isinstance(refusal(after, token), InvalidClaim)
        assert isinstance(arefusal(after, token), InvalidClaim)
        after.close()


def test_revocations_still_reach_guards_of_every_configuration(idp: LocalIssuer, store: redis.Redis) -> None:
    """Positive control (passes before and after the fix): the revoked set stays deployment-wide,
    so a revocation made through one service reaches a differently configured one."""
    one = Guard.from_config({**idp.guard_config(audience=AUD_A), "cache": redis_cache(url_of(store))})
    two = Guard.from_config({**idp.guard_config(audience=[AUD_A, AUD_B]), "cache": redis_cache(url_of(store))})
    token = idp.app_token("reader")
    assert two.authenticate_sync("Bearer " + token).app is not None
    one.revoke(sha(token))
    assert refusal(two, token).detail == "token revoked"
    one.close()
    two.close()


# -- records re-checked against the reader's configuration -----------------------------------------

def _own_record(guard: Guard, store: redis.Redis, token: str, idp: LocalIssuer) -> None:
    """Write, through the guard's own (authenticated) shared layer and under its own namespace, the
    record a worker would write for ``token`` had its configuration accepted it."""
    layout = key_of(store, "v")  # the record of the genuine token validated before
    key = layout[len(PREFIX):].decode()[:-64] + sha(token)
    claims = idp._verify_jwt(token)
    record = {"issuer": idp.issuer, "issuer_name": "local", "claims": claims,
              "expires_at": time.time() + 300, "twin": None}
    guard._shared.set_sync(key, json.dumps(record).encode(), 300)  # type: ignore[union-attr]


@pytest.mark.parametrize("case", ["audience", "delegation"])
def test_a_record_this_configuration_would_refuse_is_a_miss(idp: LocalIssuer, store: redis.Redis, case: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """RFC 7519 §4.1.3 and RFC 8693 §4.1, defence in depth: even an authenticated record under this
    guard's own namespace goes through the claim checks a fresh validation makes; one they refuse
    is a miss, and the fresh validation then refuses the token for the precise reason."""
    config = {**idp.guard_config(), "cache": redis_cache(url_of(store)),
              "delegation": {"actors": ["trusted-app"]}}
    writer = Guard.from_config(config)
    assert writer.authenticate_sync("Bearer " + idp.app_token("reader")).app is not None
    if case == "audience":
        token = idp.mint({"client_id": "reader", "sub": "reader", "aud": AUD_B})
    else:  # a user+app token whose app [delegation] does not allow to act for users
        token = idp.user_token("alice", client_id="rogue-app")
    _own_record(writer, store, token, idp)
    reader = Guard.from_config(config)
    expected = InvalidAudience if case == "audience" else DelegationNotAllowed
    with caplog.at_level(logging.INFO, "s2s_guard"):
        assert isinstance(refusal(reader, token), expected)
    assert "record this configuration refuses" in caplog.text  # read, re-checked, ignored
    writer.close()
    reader.close()


def test_every_token_family_still_shares_its_record(store: redis.Redis) -> None:
    """Positive control (passes before and after the fix): the re-check accepts every record a guard
    of the same configuration wrote (JWT, Entra, SharePoint high-trust and ACS, introspected), so
    workers keep sharing verified tokens instead of each validating afresh."""
    with LocalIssuer(audience=AUD_A) as issuer:
        config = trust_config(issuer, cache=redis_cache(url_of(store)))
        writer = Guard.from_config(config)
        for family in FAMILIES:
            token = mint_token(issuer, family)
            writer.authenticate_sync("Bearer " + token)
            reader = Guard.from_config(config)
            assert reader._verified.get_sync(sha(token), reader.clock()) is not None, family
            reader.close()
        writer.close()


# -- records planted straight into Redis --------------------------------------------------------------

@pytest.mark.parametrize("plant", ["altered", "moved", "unsigned"])
def test_a_planted_verified_token_record_is_ignored(idp: LocalIssuer, store: redis.Redis, plant: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """RFC 2104 (HMAC) and OWASP ASVS 5.0 V11.3 (authenticated data at rest): write access to Redis
    must not plant a principal. A genuine record with its scope raised, a genuine record copied under
    another token's hash, and a record without a MAC are all misses."""
    config = {**idp.guard_config(), "cache": redis_cache(url_of(store))}
    writer = Guard.from_config(config)
    genuine = idp.app_token("reader", scopes="orders.read")
    writer.authenticate_sync("Bearer " + genuine)
    key = key_of(store, "v", sha(genuine))
    raw = store.get(key)
    assert isinstance(raw, bytes)
    forged = "opaque-" + secrets.token_urlsafe(16)  # no issuer ever saw it
    target = genuine if plant == "altered" else forged
    value = {"altered": tampered(raw, b'{"issuer"', lambda d: d["claims"].update(scope="orders.admin")),
             "moved": raw, "unsigned": raw[raw.index(b'{"issuer"'):]}[plant]
    store.set(key.replace(sha(genuine).encode(), sha(target).encode()), value, px=300_000)
    reader = Guard.from_config(config)
    if plant == "altered":  # a miss: validated afresh, with the scope the token really carries
        principal: Principal = reader.authenticate_sync("Bearer " + genuine)
        assert principal.scopes == frozenset({"orders.read"})
    else:
        assert isinstance(refusal(reader, forged), InvalidToken)
        assert isinstance(arefusal(reader, forged), InvalidToken)
    assert "MAC does not verify" in caplog.text  # the planted record was read, and refused
    writer.close()
    reader.close()


@pytest.mark.parametrize("plant", ["altered", "moved", "unsigned"])
def test_a_planted_introspection_result_is_ignored(store: redis.Redis, plant: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """RFC 7662 §4 (the resource server must not be fooled about a token's state) and RFC 2104: an
    active result planted in Redis, forged or altered, is a miss; the endpoint is asked and its
    "active": false stands."""
    iss = "https://as.example.test"
    with IntrospectionServer() as server:
        config = {"audience": [AUD_A], "issuers": [{"name": "as", "issuer": iss, "validation": "introspect"}],
                  "introspection": {"endpoint": server.url, "client_id": "api", "client_secret": "s"},
                  "cache": redis_cache(url_of(store), verified=False)}
        server.answer({"active": True, "iss": iss, "aud": AUD_A, "client_id": "billing",
                       "exp": int(time.time()) + 600})
        writer = Guard.from_config(config)
        writer.authenticate_sync("Bearer good-token")
        key = key_of(store, "i", sha("good-token"))
        raw = store.get(key)
        assert isinstance(raw, bytes)
        server.answer({"active": False})  # from now on the server says: inactive
        target = "good-token" if plant == "altered" else "planted-token"
        value = {"altered": tampered(raw, b'{"active"', lambda d: d["claims"].update(scope="admin")),
                 "moved": raw, "unsigned": raw[raw.index(b'{"active"'):]}[plant]
        store.set(key.replace(sha("good-token").encode(), sha(target).encode()), value, px=300_000)
        reader = Guard.from_config(config)
        calls = server.calls
        assert isinstance(refusal(reader, target), InvalidToken)
        assert server.calls == calls + 1  # the planted record was not taken for an answer
        assert "MAC does not verify" in caplog.text
        writer.close()
        reader.close()


@pytest.mark.parametrize("plant", ["altered", "unsigned"])
def test_a_planted_jwk_set_is_ignored(idp: LocalIssuer, store: redis.Redis, plant: str,
                                      caplog: pytest.LogCaptureFixture) -> None:
    """RFC 7517 §5 and RFC 8725 §3.10 (keys only from the trusted source) with RFC 2104: a JWK Set
    planted in Redis is a set of planted keys; without a valid MAC it is ignored, the real JWKS is
    fetched, and a token signed with the planted key is refused."""
    config = {**idp.guard_config(), "cache": redis_cache(url_of(store), verified=False)}
    writer = Guard.from_config(config)
    writer.authenticate_sync("Bearer " + idp.app_token("reader"))
    key = key_of(store, "j")
    raw = store.get(key)
    assert isinstance(raw, bytes)
    evil = generate_key("RS256", kid="planted-kid")
    planted_jwks = json.dumps({"keys": [evil.public_jwk()]})

    def plant_keys(doc: dict[str, Any]) -> None:
        doc.update(jwks=planted_jwks, fetched_at=time.time() + 1, fresh_until=time.time() + 600)

    value = tampered(raw, b'{"fetched_at"', plant_keys)
    store.set(key, value if plant == "altered" else value[value.index(b'{"fetched_at"'):], px=300_000)
    forged = idp.mint({"client_id": "reader", "sub": "reader"}, key=evil.key,
                      headers={"kid": "planted-kid"})
    reader = Guard.from_config(config)
    fetches = idp.hits["/jwks"]
    assert refusal(reader, forged).status_code == 401
    assert idp.hits["/jwks"] == fetches + 1  # the real JWK Set was fetched instead
    assert "MAC does not verify" in caplog.text
    writer.close()
    reader.close()


# -- configuration -------------------------------------------------------------------------------------

def test_redis_without_a_secret_is_a_configuration_error(idp: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 2104 §3 (a key at least as long as the hash output): ``backend = "redis"`` needs
    ``secret_env`` (or ``secret``) of at least 32 bytes, refused at start-up with the fix named."""
    url = "redis://127.0.0.1:1/0"
    with pytest.raises(ConfigurationError, match="cache.secret_env") as caught:
        Guard.from_config({**idp.guard_config(), "cache": {"backend": "redis", "url": url}})
    assert "32" in str(caught.value)
    with pytest.raises(ConfigurationError, match="cache.secret"):
        Guard.from_config({**idp.guard_config(), "cache": {"backend": "redis", "url": url, "secret": "short"}})
    monkeypatch.setenv("S2S_TEST_CACHE_SECRET", "x" * 16)
    with pytest.raises(ConfigurationError, match="cache.secret_env"):
        Guard.from_config({**idp.guard_config(), "cache": {"backend": "redis", "url": url,
                                                            "secret_env": "S2S_TEST_CACHE_SECRET"}})
    issuer = IssuerConfig(name="local", issuer=idp.issuer, algorithms=("RS256",), jwks_uri=idp.jwks_uri)
    with pytest.raises(ConfigurationError, match="cache.secret_env"):  # built in Python, not by load_config
        Guard(GuardConfig(audience=(AUD_A,), issuers=(issuer,), cache=CacheConfig(backend="redis", url=url)))
