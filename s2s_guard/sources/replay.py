"""RFC 9449 §11.1: the DPoP ``jti`` replay cache, in memory and shared by workers through Redis.

A proof is accepted only while its ``iat`` is within the window, so its ``jti`` need only be
remembered until then. Keys are SHA-256 digests of (key thumbprint, ``jti``): one client cannot
burn another's ``jti``, and nothing a client sent is stored as is. The memory layer always
answers; the shared layer adds "seen by another worker" when it is reachable (when Redis is
down, each worker still refuses the replays it saw itself). The memory layer is bounded
(``[dpop] replay_cache_size``) and never forgets a proof whose window is still open: only
expired entries make room, and while it is full of live ones new proofs are refused with a 503
(fail closed; evicting a live ``jti`` would let that proof be replayed). Size it for the proofs
a worker sees in twice the ``iat_window``; the Redis layer has no such bound.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import threading

from ..errors import ServiceUnavailable
from .cache import SharedCache

__all__ = ["ReplayCache", "SeenProofs"]


class SeenProofs:
    """The memory layer: at most ``maxsize`` live keys, dropped only once expired (never evicted)."""

    __slots__ = ("_expiries", "_keys", "_lock", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._keys: set[str] = set()
        self._expiries: list[tuple[float, str]] = []  # a heap: the next key to expire first
        self._lock = threading.Lock()

    def add(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key``; ``False`` if it is live already; :class:`ServiceUnavailable` when full."""
        with self._lock:
            self._forget_expired(now)
            if key in self._keys:
                return False
            if len(self._keys) >= self.maxsize:
                # RFC 9449 §11.1: a live jti is never forgotten to make room; fail closed instead.
                wait = math.ceil(self._expiries[0][0] - now)
                raise ServiceUnavailable(f"DPoP replay cache full ({self.maxsize} live proofs)",
                                         retry_after=max(1, wait))
            self._keys.add(key)
            heapq.heappush(self._expiries, (expires_at, key))
            return True

    def _forget_expired(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            self._keys.discard(heapq.heappop(expiries)[1])

    def __len__(self) -> int:
        return len(self._keys)


class ReplayCache:
    """Remembers ``(jkt, jti)`` pairs until they expire; :meth:`first_use` says whether one is new."""

    def __init__(self, maxsize: int, shared: SharedCache | None) -> None:
        self.memory = SeenProofs(maxsize)
        self.shared = shared

    @staticmethod
    def key(jkt: str, jti: str) -> str:
        """The cache key of one proof: ``dpop:`` and a SHA-256 hex digest."""
        return "dpop:" + hashlib.sha256(f"{jkt}\x00{jti}".encode("utf-8", "replace")).hexdigest()

    def first_use_sync(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key``; ``False`` if this worker or (via Redis) another one already saw it."""
        if not self.memory.add(key, expires_at, now):
            return False
        if self.shared is None:
            return True
        return self.shared.add_sync(key, b"1", expires_at - now) is not False

    async def afirst_use(self, key: str, expires_at: float, now: float) -> bool:
        """Async twin of :meth:`first_use_sync`."""
        if not self.memory.add(key, expires_at, now):
            return False
        if self.shared is None:
            return True
        return await self.shared.aadd(key, b"1", expires_at - now) is not False
