"""Result caches: a bounded in-process layer (cachetools) and the :class:`SharedCache` seam.

Keys are SHA-256 digests of tokens, never tokens. Every entry carries the time it expires
(the caller's ``now`` decides), so a verified token is served until its ``exp`` and an
introspection result until ``min(exp, cache_ttl)``. The shared layer (Redis) is optional and
best effort: when it fails, the memory layer keeps working and nothing is accepted that the
memory layer and a fresh validation would refuse.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from cachetools import FIFOCache

from ..config import CacheConfig
from ..config.cache import REDIS_BACKENDS
from ..errors import ConfigurationError
from .shared import SharedCache

__all__ = ["Cache", "MemoryCache", "SharedCache", "shared_cache_for"]


class Cache(Protocol):
    """A bounded key → value store whose entries expire at a given time."""

    def get(self, key: str, now: float) -> Any | None: ...

    def set(self, key: str, value: Any, expires_at: float) -> None: ...

    def delete(self, key: str) -> None: ...


class _Store(FIFOCache[str, tuple[float, Any]]):
    """A cachetools FIFO cache that also forgets evicted keys in the read index."""

    def __init__(self, maxsize: int, index: dict[str, tuple[float, Any]]) -> None:
        super().__init__(maxsize)
        self.index = index

    def popitem(self) -> tuple[str, tuple[float, Any]]:
        key, value = super().popitem()
        self.index.pop(key, None)
        return key, value


class MemoryCache:
    """A cache bounded by ``maxsize`` (cachetools; oldest entry out first) with per-entry expiry.

    Reads go to a plain dict kept in step with the cachetools store, so a hit costs one C-level
    lookup and no lock (the warm path of every request); writes hold a lock.
    """

    __slots__ = ("_index", "_store", "_lock", "maxsize")

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self._index: dict[str, tuple[float, Any]] = {}
        self._store = _Store(maxsize, self._index)
        self._lock = threading.Lock()

    @property
    def entries(self) -> dict[str, tuple[float, Any]]:
        """The read index, key → (expires_at, value), for lock-free lookups; do not modify it."""
        return self._index

    def get(self, key: str, now: float) -> Any | None:
        """The live value for ``key``; an expired entry is dropped and ``None`` returned."""
        entry = self._index.get(key)
        if entry is None:
            return None
        if entry[0] > now:
            return entry[1]
        self.delete(key)
        return None

    def set(self, key: str, value: Any, expires_at: float) -> None:
        entry = (expires_at, value)
        with self._lock:
            self._store[key] = entry
            self._index[key] = entry

    def delete(self, key: str) -> None:
        with self._lock:
            self._store.pop(key, None)
            self._index.pop(key, None)

    def add(self, key: str, value: Any, expires_at: float, now: float) -> bool:
        """Set ``key`` unless a live entry holds it (atomic); ``True`` when it was set."""
        entry = (expires_at, value)
        with self._lock:
            held = self._index.get(key)
            if held is not None and held[0] > now:
                return False
            self._store[key] = entry
            self._index[key] = entry
            return True

    def keys(self) -> list[str]:
        """The keys held (token hashes), for inspection."""
        return list(self._index)

    def __len__(self) -> int:
        return len(self._index)


def shared_cache_for(config: CacheConfig) -> SharedCache | None:
    """The shared layer a ``[cache]`` table describes (``None`` for the memory backend)."""
    if config.backend not in REDIS_BACKENDS or (config.backend != "redis-sentinel" and config.url is None):
        return None
    try:
        from .redis_cache import RedisCache  # local: redis is an optional extra
        from .redis_clients import RedisClients
    except ImportError as exc:
        raise ConfigurationError("cache.backend", 'backend "redis" needs: pip install "s2s_guard[redis]"') from exc
    if config.secret is None or len(config.secret) < 32:  # a CacheConfig built in Python, not by load_config
        raise ConfigurationError("cache.secret_env", 'backend "redis" needs a secret of at least 32 bytes')
    from .signed import SignedCache  # local: only the Redis backend signs

    return SignedCache(RedisCache(config.url or "", prefix=config.prefix, timeout=config.timeout,
                                  backoff=config.backoff, clients=RedisClients.from_config(config)), config.secret)
