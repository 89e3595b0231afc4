"""The redis-py clients a ``[cache]`` table describes: one server, a Redis Cluster, or the master a
set of Sentinels names (redis-py's own ``RedisCluster`` and ``Sentinel.master_for``), sync and asyncio.

Every command :class:`~s2s_guard.sources.redis_cache.RedisCache` sends names one key (``GET``,
``SET``, ``SET NX``, ``SADD``, ``SMEMBERS``), so no command needs several keys in one cluster slot
and no key carries a hash tag: records spread over the slots, and the revoked set is one key.
Failover is redis-py's: a cluster client re-reads the slot map when a node fails or answers
``MOVED``; a Sentinel-managed pool asks the sentinels for the master on every new connection and
drops the old master's connections, so the one retry on a fresh connection finds the new master.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union, cast
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aredis
import redis.asyncio.cluster as acluster
import redis.asyncio.retry as aretry
import redis.asyncio.sentinel as asentinel
import redis.cluster as cluster
import redis.sentinel as sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..config import CacheConfig

__all__ = ["AsyncRedisClient", "RedisClients", "SyncRedisClient", "aclose_client", "close_client"]

SyncRedisClient = Union[redis.Redis, cluster.RedisCluster]
AsyncRedisClient = Union[aredis.Redis, acluster.RedisCluster]
# One immediate retry, on ConnectionError only (a dead pooled socket, a refused connect): a
# TimeoutError is final, so a silent Redis still costs one ``timeout``, never two. (A cluster
# client also retries a timeout once, on a re-read slot map: redis-py's cluster policy.)
_RETRY_ON = (redis.ConnectionError,)


def _sentinel_manager(client: object) -> Any:
    """The ``Sentinel`` behind a ``master_for`` client (it owns the connections to the sentinels)."""
    return getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)


def close_client(client: SyncRedisClient) -> None:
    """Close a blocking client's connections, and its sentinels' when Sentinel manages it."""
    client.close()
    manager = _sentinel_manager(client)
    if manager is not None:
        manager.close()


async def aclose_client(client: AsyncRedisClient) -> None:
    """Close an asyncio client's connections, and its sentinels' when Sentinel manages it."""
    await client.aclose()
    manager = _sentinel_manager(client)
    if manager is not None:
        await manager.aclose()


def _host_port(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition(":")
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisClients:
    """Builds the blocking client and, per event loop, the asyncio client for one topology."""

    backend: str = "redis"
    url: str | None = None
    timeout: float = 0.5
    nodes: tuple[str, ...] = ()
    sentinels: tuple[str, ...] = ()
    master: str | None = None
    sentinel_password: str | None = None
    ca_bundle: str | None = None

    @classmethod
    def from_config(cls, config: CacheConfig) -> RedisClients:
        """The clients of a ``[cache]`` table with a Redis backend."""
        return cls(backend=config.backend, url=config.url, timeout=config.timeout, nodes=config.nodes,
                   sentinels=config.sentinels, master=config.master,
                   sentinel_password=config.sentinel_password, ca_bundle=config.ca_bundle)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"socket_timeout": self.timeout, "socket_connect_timeout": self.timeout}
        if self.ca_bundle is not None:
            options["ssl_ca_certs"] = self.ca_bundle
        return options

    def _master_options(self) -> dict[str, Any]:
        """The master's credentials, db and TLS from the optional url (its host is the sentinels' to name)."""
        if self.url is None:
            return {}
        parts = urlsplit(self.url)
        options: dict[str, Any] = {"db": int(parts.path.strip("/") or 0)}
        if parts.username:
            options["username"] = unquote(parts.username)
        if parts.password is not None:
            options["password"] = unquote(parts.password)
        return {**options, "ssl": True} if parts.scheme == "rediss" else options

    def _sentinel_options(self) -> dict[str, Any]:
        options = {"socket_timeout": self.timeout, "socket_connect_timeout": self.timeout}
        return options if self.sentinel_password is None else {**options, "password": self.sentinel_password}

    def sync(self) -> SyncRedisClient:
        """A blocking client; it connects lazily, so building it never fails on a down Redis."""
        retry = Retry(NoBackoff(), 1, _RETRY_ON)
        if self.backend == "redis-cluster":
            seeds = [cluster.ClusterNode(*_host_port(n)) for n in self.nodes]  # type: ignore[no-untyped-call]
            return cluster.RedisCluster.from_url(self.url or "", startup_nodes=seeds or None, retry=retry,
                                                 **self._options())
        if self.backend == "redis-sentinel":
            manager = sentinel.Sentinel([_host_port(n) for n in self.sentinels],
                                        sentinel_kwargs=self._sentinel_options(), **self._options())
            return cast(redis.Redis, manager.master_for(self.master or "", retry=retry, **self._master_options()))
        return redis.Redis.from_url(self.url or "", retry=retry, **self._options())

    def aio(self) -> AsyncRedisClient:
        """An asyncio client, bound to the running event loop by its first command."""
        retry = aretry.Retry(NoBackoff(), 1, _RETRY_ON)
        if self.backend == "redis-cluster":
            seeds = [acluster.ClusterNode(*_host_port(n)) for n in self.nodes]
            return acluster.RedisCluster.from_url(self.url or "", startup_nodes=seeds or None, retry=retry,
                                                  **self._options())
        if self.backend == "redis-sentinel":
            manager = asentinel.Sentinel([_host_port(n) for n in self.sentinels],
                                         sentinel_kwargs=self._sentinel_options(), **self._options())
            return cast(aredis.Redis, manager.master_for(self.master or "", retry=retry, **self._master_options()))
        return aredis.Redis.from_url(self.url or "", retry=retry, **self._options())
