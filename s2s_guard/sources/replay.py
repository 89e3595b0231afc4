"""RFC 9449 §11.1: the DPoP ``jti`` replay cache, in memory and shared by workers through Redis.

A proof is accepted only while its ``iat`` is within the window, so its ``jti`` need only be
remembered until then. Keys are SHA-256 digests of (key thumbprint, ``jti``): one client cannot
burn another's ``jti``, and nothing a client sent is stored as is. The memory layer always
answers; the shared layer adds "seen by another worker" when it is reachable (when Redis is
down, each worker still refuses the replays it saw itself). The memory layer is bounded
(``[dpop] replay_cache_size``, oldest out first): size it for the proofs a worker sees in twice
the ``iat_window``; the Redis layer has no such bound.
"""

from __future__ import annotations

import hashlib

from .cache import MemoryCache, SharedCache

__all__ = ["ReplayCache"]


class ReplayCache:
    """Remembers ``(jkt, jti)`` pairs until they expire; :meth:`first_use` says whether one is new."""

    def __init__(self, maxsize: int, shared: SharedCache | None) -> None:
        self.memory = MemoryCache(maxsize)
        self.shared = shared

    @staticmethod
    def key(jkt: str, jti: str) -> str:
        """The cache key of one proof: ``dpop:`` and a SHA-256 hex digest."""
        return "dpop:" + hashlib.sha256(f"{jkt}\x00{jti}".encode("utf-8", "replace")).hexdigest()

    def first_use_sync(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key``; ``False`` if this worker or (via Redis) another one already saw it."""
        if not self.memory.add(key, True, expires_at, now):
            return False
        if self.shared is None:
            return True
        return self.shared.add_sync(key, b"1", expires_at - now) is not False

    async def afirst_use(self, key: str, expires_at: float, now: float) -> bool:
        """Async twin of :meth:`first_use_sync`."""
        if not self.memory.add(key, True, expires_at, now):
            return False
        if self.shared is None:
            return True
        return await self.shared.aadd(key, b"1", expires_at - now) is not False
