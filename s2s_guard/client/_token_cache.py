"""RFC 6749 §5.1 access tokens kept for reuse until shortly before they expire.

One :class:`TokenCache` holds tokens by key, e.g. ``(token_url, client_id, resource, scope)``
plus the auth method and a keyed digest of the client's credential (never the secret itself),
and the locks that make a fetch single-flight: a ``threading.Lock`` per key for sync
callers and an ``asyncio.Lock`` per key and event loop for async ones (an asyncio lock
belongs to one loop, and a process may run several).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from dataclasses import dataclass, field

__all__ = ["CacheKey", "Token", "TokenCache", "default_cache"]

CacheKey = tuple[str, ...]
#: Refresh this many seconds before ``exp`` at most (less for short-lived tokens).
REFRESH_MARGIN = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """An access token with the instants it expires and it should be replaced."""

    access_token: str = field(repr=False)
    expires_at: float
    refresh_at: float
    scope: str | None = None
    issued_token_type: str | None = None

    @classmethod
    def issued(cls, access_token: str, *, now: float, expires_in: float,
               scope: str | None = None, issued_token_type: str | None = None) -> Token:
        """A token valid for ``expires_in`` seconds from ``now``, refreshed a little early."""
        margin = min(REFRESH_MARGIN, expires_in / 10)  # 30 s early for 5 min, 60 s for 1 h
        return cls(access_token=access_token, expires_at=now + expires_in,
                   refresh_at=now + expires_in - margin, scope=scope,
                   issued_token_type=issued_token_type)

    def usable(self, now: float) -> bool:
        """Whether to send it rather than fetch a new one."""
        return now < self.refresh_at


class TokenCache:
    """Tokens and fetch locks by key; safe to share between threads, loops and auth objects."""

    def __init__(self) -> None:
        self._tokens: dict[CacheKey, Token] = {}
        self._locks: dict[CacheKey, threading.Lock] = {}
        self._guard = threading.Lock()
        self._alocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                dict[CacheKey, asyncio.Lock]] = weakref.WeakKeyDictionary()

    def __len__(self) -> int:
        return len(self._tokens)

    def get(self, key: CacheKey, now: float, stale: Token | None = None) -> Token | None:
        """The cached token unless it is missing, about to expire, or the ``stale`` one."""
        token = self._tokens.get(key)
        if token is None or token is stale or not token.usable(now):
            return None
        return token

    def put(self, key: CacheKey, token: Token) -> None:
        self._tokens[key] = token

    def discard(self, key: CacheKey) -> None:
        self._tokens.pop(key, None)

    def clear(self) -> None:
        self._tokens.clear()

    def lock(self, key: CacheKey) -> threading.Lock:
        """The lock sync callers hold while one of them fetches ``key``."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def alock(self, key: CacheKey) -> asyncio.Lock:
        """The lock async callers on the running loop hold while one of them fetches ``key``."""
        loop = asyncio.get_running_loop()
        with self._guard:
            return self._alocks.setdefault(loop, {}).setdefault(key, asyncio.Lock())


#: The process-wide cache every auth object uses unless given its own ``cache=``.
default_cache = TokenCache()
