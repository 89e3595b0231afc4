"""The :class:`SharedCache` seam: a store shared by every worker (Redis), behind a protocol.

Its own module so that the backends (:mod:`.redis_cache`, :mod:`.signed`) and the layers that
use one (:mod:`.cache`, :mod:`.verified`, :mod:`.replay`) depend on the protocol, not on each other.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["SharedCache"]


class SharedCache(Protocol):
    """A store shared by every worker (bytes values with a TTL, and the revoked set); sync and async.

    Implementations never raise on an outage: reads answer ``None``, writes are dropped.
    """

    def get_sync(self, key: str) -> bytes | None: ...

    async def aget(self, key: str) -> bytes | None: ...

    def set_sync(self, key: str, value: bytes, ttl: float) -> None: ...

    async def aset(self, key: str, value: bytes, ttl: float) -> None: ...

    def add_sync(self, key: str, value: bytes, ttl: float) -> bool | None:
        """Set ``key`` only if absent (atomic): ``True`` if set, ``False`` if present, ``None`` on an outage."""

    async def aadd(self, key: str, value: bytes, ttl: float) -> bool | None: ...

    def lock_sync(self, key: str, owner: bytes, ttl: float) -> bool | None:
        """Take the lock ``key`` for ``ttl`` seconds (SET NX PX, one key): ``True`` if taken, ``False`` if
        another holder has it, ``None`` on an outage (then coordinate within the process only)."""

    async def alock(self, key: str, owner: bytes, ttl: float) -> bool | None: ...

    def unlock_sync(self, key: str, owner: bytes) -> None:
        """Release the lock ``key`` if ``owner`` still holds it (compare-and-delete, atomic)."""

    async def aunlock(self, key: str, owner: bytes) -> None: ...

    def revoke_sync(self, value: str) -> None: ...

    async def arevoke(self, value: str) -> None: ...

    def revoked_sync(self) -> set[str] | None: ...

    async def arevoked(self) -> set[str] | None: ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...
