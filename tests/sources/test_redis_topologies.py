"""The shared layer on the Redis deployments people run, against real servers on 127.0.0.1: a
three-master Redis Cluster, a Sentinel-managed master that fails over to its replica, and a
TLS-only server with an ACL user. Two guards stand for two workers; each topology keeps the
single-server guarantees (signed records, best effort, never accepting because Redis failed)."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from redis_topologies import (Cluster, SentinelSet, TLSServer, running_cluster, running_sentinel, running_tls_redis,
                              wait_until)

from s2s_guard import AuthError, Guard, InvalidToken
from s2s_guard.config import load_config
from s2s_guard.errors import ConfigurationError
from s2s_guard.sources.redis_cache import RedisCache
from s2s_guard.sources.redis_clients import RedisClients
from s2s_guard.summary import startup_summary
from s2s_guard.testing import LocalIssuer

HTTPServer = Any  # tests/sources/conftest.py: the scriptable loopback server
AUD = "api://orders"
ISS = "https://as.example.test"
CACHE_SECRET = "a-redis-record-hmac-key-of-32-bytes-or-more"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with running_cluster() as topology:
        yield topology


@pytest.fixture
def sentinel_set() -> Iterator[SentinelSet]:
    with running_sentinel() as topology:
        yield topology


@pytest.fixture(scope="module")
def tls_redis() -> Iterator[TLSServer]:
    with running_tls_redis() as server:
        yield server


@pytest.fixture
def introspection(http_server: HTTPServer) -> HTTPServer:
    """Active for tokens starting with "good", each with its own jti ("j-" + token)."""
    def reply(r: Any) -> tuple[int, dict[str, str], bytes]:
        token = r.form["token"]
        doc = {"active": True, "iss": ISS, "aud": AUD, "client_id": "billing", "jti": "j-" + token,
               "exp": int(time.time()) + 600} if token.startswith("good") else {"active": False}
        return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()

    http_server.routes["/introspect"] = reply
    return http_server


def intro_guard(server: HTTPServer, **cache: Any) -> Guard:
    return Guard.from_config({
        "audience": [AUD], "issuers": [{"issuer": ISS, "validation": "introspect"}],
        "introspection": {"endpoint": server.url + "/introspect", "client_id": "api", "client_secret": "s"},
        "cache": {"revoked_refresh": 0, "secret": CACHE_SECRET, **cache}})


def outcome(guard: Guard, token: str) -> Any:
    try:
        return guard.authenticate_sync("Bearer " + token)
    except AuthError as exc:
        return exc


def revoked(result: Any) -> bool:
    return isinstance(result, InvalidToken) and result.detail == "token revoked"


# -- Redis Cluster ------------------------------------------------------------------------------

def test_cluster_workers_share_introspection_and_revocations(introspection: HTTPServer, cluster: Cluster) -> None:
    cache = {"backend": "redis-cluster", "url": cluster.url, "prefix": "share:"}
    one, two = intro_guard(introspection, **cache), intro_guard(introspection, **cache, verified=False)
    assert outcome(one, "good-1").policy == "app-only"
    assert outcome(two, "good-1").policy == "app-only"
    assert isinstance(outcome(one, "bad-1"), InvalidToken)
    assert isinstance(outcome(two, "bad-1"), InvalidToken)
    assert introspection.hits["/introspect"] == 2  # one call per token across both workers
    one.revoke(jti="j-good-1")
    assert revoked(outcome(two, "good-1"))
    client = cluster.client()
    keys = [k for k in client.keys(target_nodes=client.ALL_NODES) if k.startswith(b"share:")]
    slots = {client.keyslot(k) for k in keys}
    assert len(keys) >= 3 and len(slots) == len(keys)  # no hash tag: one key per slot, spread out
    assert len({client.get_node_from_key(k).name for k in keys}) > 1  # on several masters
    one.close()
    two.close()


def test_cluster_workers_share_verified_tokens_async(http_server: HTTPServer, cluster: Cluster) -> None:
    idp = LocalIssuer(issuer=ISS, audience=AUD, algorithms=("ES256",))
    http_server.json("/jwks", idp.jwks())
    config = {"audience": [AUD], "issuers": [{"issuer": ISS, "algorithms": ["ES256"],
                                              "jwks_uri": http_server.url + "/jwks"}],
              "cache": {"backend": "redis-cluster", "url": cluster.url, "prefix": "jwt:", "secret": CACHE_SECRET,
                        "nodes": [f"127.0.0.1:{n.port}" for n in cluster.nodes[1:]]}}
    token = "Bearer " + idp.app_token("daemon", alg="ES256")

    async def main() -> None:
        one, two = Guard.from_config(config), Guard.from_config(config)
        assert (await one.authenticate(token)).policy == "app-only"
        assert (await two.authenticate(token)).policy == "app-only"
        await one.aclose()
        await two.aclose()

    anyio.run(main)
    assert http_server.hits["/jwks"] == 1  # the second worker trusted the shared result


def test_cluster_commands_each_name_one_key(cluster: Cluster) -> None:
    """GET, SET, SET NX (DPoP replay), SADD and SMEMBERS (the revoked set), sync and async."""
    cache = RedisCache(cluster.url, prefix="cmd:", clients=RedisClients(backend="redis-cluster", url=cluster.url))
    cache.set_sync("a", b"1", 10)
    assert cache.get_sync("a") == b"1"
    assert cache.add_sync("proof-1", b"", 10) is True
    assert cache.add_sync("proof-1", b"", 10) is False  # a replayed DPoP proof
    cache.revoke_sync("jti-1")

    async def main() -> None:
        assert await cache.aget("a") == b"1"
        assert await cache.aadd("proof-2", b"", 10) is True
        assert await cache.aadd("proof-2", b"", 10) is False
        await cache.arevoke("jti-2")
        assert await cache.arevoked() == {"jti-1", "jti-2"}
        await cache.aclose()

    anyio.run(main)
    assert cache.revoked_sync() == {"jti-1", "jti-2"}
    cache.close()


def test_cluster_down_at_start_up_leaves_the_guard_working(introspection: HTTPServer, dead_url: str) -> None:
    """A cluster client reads the slot map as it is built: that must not fail the guard's construction."""
    seed = dead_url.replace("http://", "redis://")
    guard = intro_guard(introspection, backend="redis-cluster", url=seed, backoff=0)
    assert outcome(guard, "good-1").policy == "app-only"
    assert isinstance(outcome(guard, "bad-1"), InvalidToken)
    guard.revoke(jti="j-good-1")
    assert revoked(outcome(guard, "good-1"))

    async def main() -> None:
        assert (await guard.authenticate("Bearer good-2")).policy == "app-only"
        with pytest.raises(InvalidToken):
            await guard.authenticate("Bearer bad-2")
        await guard.aclose()

    anyio.run(main)


# -- Sentinel -------------------------------------------------------------------------------------

def test_sentinel_failover(introspection: HTTPServer, sentinel_set: SentinelSet) -> None:
    cache = {"backend": "redis-sentinel", "sentinels": sentinel_set.sentinels, "master": sentinel_set.master,
             "backoff": 0.1}
    one, two = intro_guard(introspection, **cache), intro_guard(introspection, **cache)
    assert outcome(one, "good-1").policy == "app-only"
    assert outcome(two, "good-1").policy == "app-only"
    one.revoke(jti="j-good-r")
    assert introspection.hits["/introspect"] == 1  # shared through the master
    assert outcome(two, "good-1").policy == "app-only"  # and two has read the revoked set since
    sentinel_set.primary.client().execute_command("WAIT", 1, 2000)  # the replica has every write so far

    sentinel_set.stop_master()  # during the switch: the memory layer serves, nothing is accepted on failure
    assert outcome(two, "good-1").policy == "app-only"
    assert isinstance(outcome(two, "bad-1"), InvalidToken)
    assert revoked(outcome(two, "good-r"))
    assert introspection.hits["/introspect"] == 3  # good-1 from memory; bad-1 and good-r asked the IdP

    sentinel_set.wait_for_promotion()
    time.sleep(0.3)  # past the 0.1 s backoff of the failures above (no timing is asserted)
    hits = introspection.hits["/introspect"]
    assert outcome(one, "good-2").policy == "app-only"
    assert outcome(two, "good-2").policy == "app-only"
    assert introspection.hits["/introspect"] == hits + 1  # shared again, through the new master
    one.revoke(jti="j-good-2")
    assert revoked(outcome(two, "good-2"))
    assert revoked(outcome(one, "good-r"))  # the revocation replicated before the failover survived it
    one.close()
    two.close()


def test_sentinel_failover_async(introspection: HTTPServer, sentinel_set: SentinelSet) -> None:
    cache = {"backend": "redis-sentinel", "sentinels": sentinel_set.sentinels, "master": sentinel_set.master,
             "backoff": 0.1}

    async def main() -> None:
        one, two = intro_guard(introspection, **cache), intro_guard(introspection, **cache)
        assert (await one.authenticate("Bearer good-1")).policy == "app-only"
        assert (await two.authenticate("Bearer good-1")).policy == "app-only"
        assert introspection.hits["/introspect"] == 1
        sentinel_set.stop_master()
        assert (await two.authenticate("Bearer good-1")).policy == "app-only"  # from memory
        with pytest.raises(InvalidToken):
            await two.authenticate("Bearer bad-1")
        sentinel_set.wait_for_promotion()
        await anyio.sleep(0.3)  # past the backoff
        await one.arevoke(jti="j-good-1")  # through the new master, on a fresh connection
        with pytest.raises(InvalidToken):
            await two.authenticate("Bearer good-1")
        await one.aclose()
        await two.aclose()

    anyio.run(main)


def test_sentinel_with_passwords(introspection: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The master's password in the url (its host is a placeholder), the sentinels' own password
    from the environment; a wrong sentinel password shares nothing and accepts nothing."""
    with running_sentinel(password="master-password-for-tests") as topology:
        monkeypatch.setenv("S2S_SENTINEL_PW", topology.sentinel_password)
        cache = {"backend": "redis-sentinel", "sentinels": topology.sentinels, "master": topology.master,
                 "url": f"redis://:{topology.password}@{topology.master}/0", "prefix": "pw:"}
        one, two = (intro_guard(introspection, **cache, sentinel_password_env="S2S_SENTINEL_PW")
                    for _ in range(2))
        assert outcome(one, "good-1").policy == "app-only"
        assert outcome(two, "good-1").policy == "app-only"
        assert introspection.hits["/introspect"] == 1
        assert topology.primary.client().keys("pw:*")
        wrong = intro_guard(introspection, **cache, sentinel_password="not-it")
        assert outcome(wrong, "good-2").policy == "app-only"
        assert isinstance(outcome(wrong, "bad-2"), InvalidToken)
        assert outcome(one, "good-2").policy == "app-only"
        assert introspection.hits["/introspect"] == 4  # the refused worker shared nothing
        for guard in (one, two, wrong):
            guard.close()


def test_close_releases_the_sentinel_connections(introspection: HTTPServer, sentinel_set: SentinelSet) -> None:
    """close() and aclose() also close the connections to the sentinels (master discovery)."""
    cache = {"backend": "redis-sentinel", "sentinels": sentinel_set.sentinels, "master": sentinel_set.master}

    def sentinel_clients() -> int:
        gc.collect()  # the helpers' own short-lived clients
        with sentinel_set.sentinel.client() as client:
            return int(client.info("clients")["connected_clients"])

    baseline = sentinel_clients()
    guard = intro_guard(introspection, **cache)
    assert outcome(guard, "good-1").policy == "app-only"
    assert sentinel_clients() > baseline
    guard.close()
    wait_until(lambda: sentinel_clients() == baseline, seconds=5, what="sync sentinel connections closed")

    async def main() -> None:
        guard = intro_guard(introspection, **cache)
        assert (await guard.authenticate("Bearer good-2")).policy == "app-only"
        await guard.aclose()

    anyio.run(main)
    wait_until(lambda: sentinel_clients() == baseline, seconds=5, what="async sentinel connections closed")


# -- TLS and an ACL user ----------------------------------------------------------------------------

def test_tls_with_acl_user_shares_results(introspection: HTTPServer, tls_redis: TLSServer) -> None:
    cache = {"backend": "redis", "url": tls_redis.url, "ca_bundle": tls_redis.ca_bundle, "prefix": "tls:"}
    one, two = intro_guard(introspection, **cache), intro_guard(introspection, **cache)
    assert outcome(one, "good-1").policy == "app-only"
    assert outcome(two, "good-1").policy == "app-only"
    assert introspection.hits["/introspect"] == 1
    assert tls_redis.client().keys("tls:*")
    one.close()
    two.close()


def test_tls_with_acl_user_async(introspection: HTTPServer, tls_redis: TLSServer) -> None:
    cache = {"backend": "redis", "url": tls_redis.url, "ca_bundle": tls_redis.ca_bundle, "prefix": "atls:"}

    async def main() -> None:
        one, two = intro_guard(introspection, **cache), intro_guard(introspection, **cache)
        assert (await one.authenticate("Bearer good-1")).policy == "app-only"
        assert (await two.authenticate("Bearer good-1")).policy == "app-only"
        await one.aclose()
        await two.aclose()

    anyio.run(main)
    assert introspection.hits["/introspect"] == 1
    assert tls_redis.client().keys("atls:*")


@pytest.mark.parametrize("change", ["no CA bundle", "wrong password"])
def test_tls_refused_is_best_effort(introspection: HTTPServer, tls_redis: TLSServer, change: str,
                                    caplog: pytest.LogCaptureFixture) -> None:
    url = tls_redis.url.replace(tls_redis.password, "not-the-password") if change == "wrong password" else tls_redis.url
    cache = {"backend": "redis", "url": url, "prefix": "refused:"}
    if change != "no CA bundle":
        cache["ca_bundle"] = tls_redis.ca_bundle
    one, two = intro_guard(introspection, **cache), intro_guard(introspection, **cache)
    assert outcome(one, "good-1").policy == "app-only"
    assert outcome(two, "good-1").policy == "app-only"
    assert isinstance(outcome(one, "bad-1"), InvalidToken)
    assert introspection.hits["/introspect"] == 3  # nothing shared, nothing accepted
    assert "redis unavailable" in caplog.text and "not-the-password" not in caplog.text
    assert not tls_redis.client().keys("refused:*")
    one.close()
    two.close()


# -- configuration ----------------------------------------------------------------------------------

BASE = {"audience": [AUD], "issuers": [{"issuer": ISS, "validation": "introspect"}],
        "introspection": {"endpoint": "https://as.example.test/introspect", "client_id": "api", "client_secret": "s"}}


@pytest.mark.parametrize(("cache", "key"), [
    ({"backend": "redis-sentinel", "sentinels": ["127.0.0.1:26379"]}, "cache.master"),
    ({"backend": "redis-sentinel", "master": "mymaster"}, "cache.sentinels"),
    ({"backend": "redis-sentinel", "master": "m", "sentinels": ["127.0.0.1"]}, "cache.sentinels"),
    ({"backend": "redis-sentinel", "master": "m", "sentinels": ["127.0.0.1:1"], "url": "redis://m/x"}, "cache.url"),
    ({"backend": "redis-sentinel", "master": "m", "sentinels": ["127.0.0.1:1"], "url": "unix:///r.sock"}, "cache.url"),
    ({"backend": "redis-cluster"}, "cache.url"),
    ({"backend": "redis-cluster", "url": "redis://127.0.0.1:7000/2"}, "cache.url"),
    ({"backend": "redis", "url": "redis://127.0.0.1:6379/0", "nodes": ["127.0.0.1:7001"]}, "cache.nodes"),
    ({"backend": "redis", "url": "redis://127.0.0.1:6379/0", "master": "m"}, "cache.master"),
    ({"backend": "redis", "url": "redis://127.0.0.1:6379/0", "ca_bundle": __file__}, "cache.ca_bundle"),
    ({"backend": "rediscluster", "url": "redis://127.0.0.1:6379"}, "cache.backend"),
])
def test_topology_configuration_errors(cache: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config({**BASE, "cache": {"secret": CACHE_SECRET, **cache}})
    assert caught.value.key == key


def test_sentinel_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SENTINEL_PW", "sentinel-secret")
    config = load_config({**BASE, "cache": {"backend": "redis-sentinel", "sentinels": ["127.0.0.1:26379"], "master": "m",
                                    "sentinel_password_env": "S2S_SENTINEL_PW", "secret": CACHE_SECRET}})
    assert config.cache.sentinel_password == "sentinel-secret"
    assert "sentinel-secret" not in repr(config.cache)


def test_the_summary_names_the_sentinel_master() -> None:
    config = load_config({**BASE, "cache": {"backend": "redis-sentinel", "master": "mymaster", "secret": CACHE_SECRET,
                                            "sentinels": ["10.0.0.1:26379", "10.0.0.2:26379"],
                                            "url": "redis://:hunter2@mymaster/0"}})
    text = "\n".join(startup_summary(config))
    assert "redis-sentinel redis://:***@mymaster/0 master mymaster via 10.0.0.1:26379, 10.0.0.2:26379" in text
    assert "hunter2" not in text
