"""A :class:`~s2s_guard.sources.cache.SharedCache` on Redis (redis-py, sync and asyncio clients).

Every worker process reads and writes the same introspection results, verified-token
results, JWKS documents and revoked set. Redis is best effort: any error is logged, the
layer is skipped for ``backoff`` seconds (no timeout paid per request while it is down),
reads answer ``None`` and writes are dropped, so the memory layer keeps the guard working
and nothing is accepted because Redis failed. A command that meets a pooled connection a
restarted Redis closed is retried once, at once, on a fresh one; timeouts are never retried.
The Redis server should still be private to the deployment: the guard wraps this class in
:class:`~s2s_guard.sources.signed.SignedCache`, so whoever can write to it cannot plant cached
results, but can delete them or add revocations (a denial of service, never an acceptance).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import redis

from .redis_clients import AsyncRedisClient, RedisClients, SyncRedisClient, aclose_client, close_client

__all__ = ["RedisCache"]

log = logging.getLogger("s2s_guard.cache")
# A cluster client raises RedisClusterException (not a RedisError) when no node answers.
_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException, OSError, asyncio.TimeoutError)
#: Compare-and-delete on one key (cluster-safe): only the holder whose random value is stored releases.
_UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisCache:
    """Keys under ``prefix``; one blocking client, and one asyncio client per event loop.

    ``clients`` picks the topology (one server, a cluster, a Sentinel-managed master); without it,
    the one server at ``url``. The blocking client is built on first use (a cluster client reads
    the slot map as it is built), so a Redis that is down at start-up costs a logged failure, not
    the guard's construction.
    """

    def __init__(self, url: str, *, prefix: str = "s2s_guard:", timeout: float = 0.5,
                 backoff: float = 5.0, clients: RedisClients | None = None) -> None:
        self.url, self.prefix, self.timeout, self.backoff = url, prefix, timeout, backoff
        self.clients = clients or RedisClients(url=url, timeout=timeout)
        self._sync_client: SyncRedisClient | None = None
        self._building = threading.Lock()
        self._aclients: dict[asyncio.AbstractEventLoop, AsyncRedisClient] = {}
        self._down_until = 0.0
        self._revoked_key = prefix + "revoked"

    @property
    def _sync(self) -> SyncRedisClient:
        with self._building:  # one blocking client however many threads start at once
            if self._sync_client is None:
                self._sync_client = self.clients.sync()
            return self._sync_client

    # -- health ---------------------------------------------------------------------------
    def _up(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        log.warning("redis unavailable, using the memory layer for %gs: %s: %s",
                    self.backoff, type(exc).__name__, exc)
        self._down_until = time.monotonic() + self.backoff

    def _aclient(self) -> AsyncRedisClient:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            client = self._aclients[loop] = self.clients.aio()
        return client

    # -- values ---------------------------------------------------------------------------
    def get_sync(self, key: str) -> bytes | None:
        if not self._up():
            return None
        try:
            value = self._sync.get(self.prefix + key)
        except _ERRORS as exc:
            self._failed(exc)
            return None
        return value if isinstance(value, bytes) else None

    async def aget(self, key: str) -> bytes | None:
        if not self._up():
            return None
        try:
            value = await self._aclient().get(self.prefix + key)
        except _ERRORS as exc:
            self._failed(exc)
            return None
        return value if isinstance(value, bytes) else None

    def set_sync(self, key: str, value: bytes, ttl: float) -> None:
        if ttl >= 0.001 and self._up():
            try:
                self._sync.set(self.prefix + key, value, px=int(ttl * 1000))
            except _ERRORS as exc:
                self._failed(exc)

    async def aset(self, key: str, value: bytes, ttl: float) -> None:
        if ttl >= 0.001 and self._up():
            try:
                await self._aclient().set(self.prefix + key, value, px=int(ttl * 1000))
            except _ERRORS as exc:
                self._failed(exc)

    def add_sync(self, key: str, value: bytes, ttl: float) -> bool | None:
        """SET NX: ``True`` if set, ``False`` if the key exists, ``None`` when Redis is unavailable."""
        if not self._up():
            return None
        try:
            return bool(self._sync.set(self.prefix + key, value, px=max(1, int(ttl * 1000)), nx=True))
        except _ERRORS as exc:
            self._failed(exc)
            return None

    async def aadd(self, key: str, value: bytes, ttl: float) -> bool | None:
        if not self._up():
            return None
        try:
            return bool(await self._aclient().set(self.prefix + key, value, px=max(1, int(ttl * 1000)), nx=True))
        except _ERRORS as exc:
            self._failed(exc)
            return None

    # -- locks (cluster-wide single flight) --------------------------------------------------
    def lock_sync(self, key: str, owner: bytes, ttl: float) -> bool | None:
        """SET NX PX with the holder's random ``owner``: ``True`` if taken, ``None`` when Redis is unavailable."""
        return self.add_sync(key, owner, ttl)

    async def alock(self, key: str, owner: bytes, ttl: float) -> bool | None:
        return await self.aadd(key, owner, ttl)

    def unlock_sync(self, key: str, owner: bytes) -> None:
        """Delete the lock only if ``owner`` still holds it (a Lua compare-and-delete on one key)."""
        try:
            self._sync.eval(_UNLOCK, 1, self.prefix + key, owner)
        except _ERRORS as exc:
            self._failed(exc)  # the lock then expires on its own

    async def aunlock(self, key: str, owner: bytes) -> None:
        try:
            await self._aclient().eval(_UNLOCK, 1, self.prefix + key, owner)
        except _ERRORS as exc:
            self._failed(exc)

    # -- the revoked set --------------------------------------------------------------------
    def revoke_sync(self, value: str) -> None:
        try:
            self._sync.sadd(self._revoked_key, value)
        except _ERRORS as exc:
            self._failed(exc)

    async def arevoke(self, value: str) -> None:
        try:
            await self._aclient().sadd(self._revoked_key, value)
        except _ERRORS as exc:
            self._failed(exc)

    def revoked_sync(self) -> set[str] | None:
        """Every revoked ``jti`` / token hash, or ``None`` when Redis cannot be read."""
        if not self._up():
            return None
        try:
            members = self._sync.smembers(self._revoked_key)
        except _ERRORS as exc:
            self._failed(exc)
            return None
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    async def arevoked(self) -> set[str] | None:
        if not self._up():
            return None
        try:
            members = await self._aclient().smembers(self._revoked_key)
        except _ERRORS as exc:
            self._failed(exc)
            return None
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the blocking client's connections."""
        if self._sync_client is not None:
            close_client(self._sync_client)

    async def aclose(self) -> None:
        """Close this event loop's asyncio client (call it from the loop that used it)."""
        client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await aclose_client(client)
