"""Issue 12 hardening: SharePoint actor-token revocation, revocations that never store a token,
no key-locating header on an unsigned outer token, and a JSON null ``act``.

A SharePoint high-trust user+app token is an unsigned outer token around a signed actor token
([MS-SPS2SAUTH]): whoever holds the actor token can wrap it for any user, so revocation must
reach the actor token. Revocation stores ``jti`` values and token SHA-256 digests only: a
token handed to ``revoke()`` is hashed (RFC 6750 §5.3: bearer tokens are credentials to keep
out of stores and logs). The Redis tests run a private redis-server on a loopback port.
"""

from __future__ import annotations

import hashlib
from base64 import b64decode
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis
from cryptography.hazmat.primitives.serialization import Encoding

from s2s_guard import Guard, InvalidToken
from s2s_guard.core.keys import b64url

from loopback import running_redis
from security_kit import (AUD, ISS, NOW, P256_ORDER, Forge, IntrospectionServer, bearer, expect_accepted,
                          expect_refused, make_guard, redis_cache)
from test_sharepoint_forgeries import (AUDIENCE, CLIENT, HOST, ISSUER_ID, REALM, HighTrust, certificate,
                                       thumbprint)
from test_sharepoint_forgeries import cert_file, sp_guard, trust  # noqa: F401 (the farm's fixtures)

INVALID = (401, "invalid_token")
OTHER_USER = "s-1-5-21-2127521184-1604012920-1887927527-2002"
OPAQUE = "2YotnFZFEjr1zCsicMWpAA"  # RFC 6749 §1.4's example access token


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(scope="module")
def redis_server_url() -> Iterator[str]:
    with running_redis() as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """An empty database on the module's redis-server."""
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    yield redis_server_url


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def redis_values(url: str) -> list[bytes]:
    """Every string value and set member in the database (to prove what was stored)."""
    client = redis.Redis.from_url(url)
    values: list[bytes] = []
    for key in client.keys("*"):
        kind = client.type(key)
        if kind == b"set":
            values.extend(_bytes(member) for member in client.smembers(key))
        elif kind == b"string":
            values.append(_bytes(client.get(key) or b""))
    client.close()
    return values


# -- item 3: revoking a high-trust user+app token reaches its actor token ---------------------------

def test_principal_names_the_actor_token_and_its_hash_revokes_every_wrapper(
        sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: the outer token is unsigned, so revoking ``principal.actor_token_sha256``
    refuses every outer token around that actor token, for any user, including unseen ones."""
    guard = sp_guard()
    actor = trust.actor(delegation=True)
    principal = expect_accepted(guard, bearer(trust.outer(actor)))
    assert principal.actor_token_sha256 == sha(actor)
    assert principal.to_dict()["actor_token_sha256"] == sha(actor)
    guard.revoke(principal.actor_token_sha256)
    for outer in (trust.outer(actor), trust.outer(actor, nameid=OTHER_USER), trust.outer(actor, jti="new")):
        expect_refused(guard, bearer(outer), *INVALID)


def test_revoking_an_outer_token_hash_refuses_it_rebuilt_for_another_user(
        sp_guard: Callable[..., Guard], trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: the operator revokes the outer token's SHA-256 (the principal's
    ``token_sha256``); an outer token rebuilt around the same actor token for another user, or
    with another ``exp``, must be refused too (the verified principal names the actor token)."""
    guard = sp_guard()
    actor = trust.actor(delegation=True)
    principal = expect_accepted(guard, bearer(trust.outer(actor)))
    guard.revoke(principal.token_sha256)
    expect_refused(guard, bearer(trust.outer(actor, nameid=OTHER_USER)), *INVALID)
    expect_refused(guard, bearer(trust.outer(actor, exp=NOW + 1700)), *INVALID)
    expect_accepted(guard, bearer(trust.outer(trust.actor(delegation=True, jti="actor-jti-2"))))


def test_revoking_an_outer_token_itself_revokes_its_actor_token(sp_guard: Callable[..., Guard],
                                                                 trust: HighTrust) -> None:
    """[MS-SPS2SAUTH]: ``revoke(token=outer)`` on a guard that never saw the token (nothing cached)
    still reaches the actor token: the outer token carries it."""
    guard = sp_guard(cache={"verified": False})
    actor = trust.actor(delegation=True)
    guard.revoke(token=trust.outer(actor))
    assert sha(actor) in guard._verified.revoked and trust.outer(actor) not in guard._verified.revoked
    expect_refused(guard, bearer(trust.outer(actor, nameid=OTHER_USER)), *INVALID)


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_actor_token_revocation_reaches_every_worker_through_redis(
        sp_guard: Callable[..., Guard], trust: HighTrust, redis_url: str, driver: str) -> None:
    """[MS-SPS2SAUTH]: worker two revokes an outer token hash it never validated; the shared
    record worker one wrote names the actor token, so worker one refuses a rebuilt outer token."""
    cache = redis_cache(redis_url)
    one, two = sp_guard(cache=cache), sp_guard(cache=cache)
    actor = trust.actor(delegation=True)
    principal = one.authenticate_sync(bearer(trust.outer(actor)))  # sync: no asyncio Redis client to leak
    if driver == "sync":
        two.revoke(principal.token_sha256)
    else:
        async def arevoke() -> None:
            await two.arevoke(principal.token_sha256)
            await two.aclose()  # this event loop's asyncio Redis client

        anyio.run(arevoke)
    with pytest.raises(InvalidToken, match="token revoked"):
        one.authenticate_sync(bearer(trust.outer(actor, nameid=OTHER_USER)))
    assert sha(actor).encode() in redis_values(redis_url)
    one.close()
    two.close()


def ecdsa_twin(token: str) -> str:
    """The same ES256 token signed ``(r, n - s)``: the second signature that verifies (SEC 1 §4.1.4)."""
    head, body, sig = token.split(".")
    raw = b64decode(sig + "=" * (-len(sig) % 4), altchars=b"-_")
    s = int.from_bytes(raw[32:], "big")
    return f"{head}.{body}.{b64url(raw[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"


def test_revoked_ecdsa_actor_token_rewrapped_in_its_twin_spelling(
        trust: HighTrust, forge: Forge, tmp_path: Path) -> None:
    """SEC 1 §4.1.4 / CVE-2022-21449 family (ECDSA malleability), [MS-SPS2SAUTH]: the holder of a
    revoked ES256 actor token can respell its signature ``(r, n - s)`` and wrap that twin; the
    revoked actor hash must still refuse it."""
    cert = certificate(forge.ec, "high-trust ec issuer")  # type: ignore[arg-type]
    path = tmp_path / "ec.cer"
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    issuer = {"name": "high-trust", "profile": "sharepoint-high-trust", "issuer_id": ISSUER_ID,
              "realm": REALM, "certificates": [str(path)], "hosts": [HOST], "algorithms": ["ES256"],
              "client_ids": [CLIENT]}
    guard = Guard.from_config({"audience": [AUDIENCE], "issuers": [issuer]}, clock=lambda: NOW)
    actor = trust.actor(delegation=True, key=forge.ec,  # type: ignore[arg-type]
                        header={"typ": "JWT", "alg": "ES256", "x5t": thumbprint(cert)})
    principal = expect_accepted(guard, bearer(trust.outer(actor)))
    expect_accepted(guard, bearer(trust.outer(ecdsa_twin(actor), nameid=OTHER_USER)))  # the twin verifies
    guard.revoke(principal.actor_token_sha256)
    expect_refused(guard, bearer(trust.outer(ecdsa_twin(actor), nameid="s-1-5-21-3")), *INVALID)


# -- item 17: revoke() never stores a raw token --------------------------------------------------------

def test_revoking_a_whole_jwt_stores_its_hash_and_refuses_it(forge: Forge,
                                                              redis_url: str) -> None:
    """RFC 6750 §5.3 (bearer tokens are credentials): a JWT handed to ``revoke()`` by mistake is
    stored as its SHA-256, never verbatim, in memory and in Redis, and the revocation works."""
    guard = make_guard(forge, top={"cache": redis_cache(redis_url)})
    token = forge.token()
    guard.authenticate_sync(bearer(token))  # sync: no asyncio Redis client to leak
    guard.revoke(token)
    with pytest.raises(InvalidToken, match="token revoked"):
        guard.authenticate_sync(bearer(token))
    assert token not in guard._verified.revoked and sha(token) in guard._verified.revoked
    stored = redis_values(redis_url)
    assert sha(token).encode() in stored and not any(token.encode() in value for value in stored)
    guard.close()


def test_configured_revoked_jwt_is_hashed(forge: Forge) -> None:
    """RFC 6750 §5.3: a whole JWT in ``[cache] revoked`` revokes that token, stored as its hash."""
    token = forge.token()
    guard = make_guard(forge, top={"cache": {"revoked": [token]}})
    assert token not in guard._verified.revoked
    expect_refused(guard, bearer(token), *INVALID)


def test_revoke_token_keyword_hashes_an_opaque_token(forge: Forge) -> None:
    """RFC 7662 + RFC 6750 §5.3: ``revoke(token=...)`` stores an opaque token's SHA-256 and
    refuses it, though its introspection result is cached as active."""
    with IntrospectionServer() as endpoint:
        endpoint.answer({"active": True, "client_id": "daemon", "scope": "orders.read", "aud": AUD,
                         "iss": ISS, "exp": NOW + 300, "iat": NOW, "jti": "intro-1"})
        guard = make_guard(forge, top={"introspection": {
            "endpoint": endpoint.url, "client_id": "orders-api", "timeout": 2,
            "client_secret": "orders-api-secret-0123456789abcdef"}})
        expect_accepted(guard, bearer(OPAQUE))
        guard.revoke(token=OPAQUE)
        assert guard._verified.revoked == {sha(OPAQUE)}
        expect_refused(guard, bearer(OPAQUE), *INVALID)
        with pytest.raises(ValueError, match="jti="):  # an opaque token and a jti look alike here
            guard.revoke(OPAQUE)
        assert OPAQUE not in guard._verified.revoked
        guard.revoke(jti="intro-1")
        assert "intro-1" in guard._verified.revoked
        guard.close()


def test_positional_jti_and_hash_still_revoke(guard: Guard, forge: Forge) -> None:
    """Positive control (RFC 7519 §4.1.7): without introspection, a positional value that is not a
    JWT is a ``jti``, and 64 hex digits a token SHA-256, as before (passes on the base commit too)."""
    by_jti, by_hash = forge.token(forge.claims(jti="gone-1")), forge.token(forge.claims(jti="other"))
    guard.revoke("gone-1")
    guard.revoke(sha(by_hash))
    expect_refused(guard, bearer(by_jti), *INVALID)
    expect_refused(guard, bearer(by_hash), *INVALID)


# -- strictness: the unsigned outer token, and act ------------------------------------------------------

@pytest.mark.parametrize("member", ["jku", "x5u", "jwk", "x5c"])
def test_unsigned_outer_token_with_a_key_locating_header(sp_guard: Callable[..., Guard], trust: HighTrust,
                                                         forge: Forge, member: str) -> None:
    """RFC 8725 §3.10 (never trust a header's key location): an ``alg: none`` outer token has no
    key, so ``jku``, ``x5u``, ``jwk`` or ``x5c`` on it is refused."""
    value: object = {"jku": "https://evil.example/jwks", "x5u": "https://evil.example/cert.pem",
                     "jwk": {"kty": "oct", "k": b64url(b"k" * 32)},
                     "x5c": [b64url(trust.cert.public_bytes(Encoding.DER))]}[member]
    token = trust.outer(trust.actor(delegation=True), header={"typ": "JWT", "alg": "none", member: value})
    expect_refused(sp_guard(), bearer(token), *INVALID, "malformed")


@pytest.mark.parametrize("claims", [{"act": None}, {"act": {"sub": "gateway", "act": None}}],
                         ids=["act-null", "nested-act-null"])
def test_act_null_is_not_absent(guard: Guard, forge: Forge, claims: dict[str, Any]) -> None:
    """RFC 8693 §4.1: ``act`` is a JSON object; a JSON ``null``, at any depth, is refused like the
    other non-object values instead of reading as "no actor"."""
    token = forge.token(forge.claims(sub="alice", **claims))
    expect_refused(guard, bearer(token), *INVALID, "invalid_claim")
