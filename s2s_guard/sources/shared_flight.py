"""Cluster-wide single flight over the shared cache: one worker in the deployment fetches a key at a time.

:mod:`.flight` makes concurrent callers in one process share one call; this module does the
same across processes and hosts that share Redis. The process's leader takes a short lock
(SET NX PX on one key, holding a random value of its own); the holder fetches and publishes
the result through the shared (HMAC-signed) cache, then releases the lock by compare-and-delete,
so only its holder ever releases it. The other workers poll the shared result with short
sleeps. When the lock comes free without a result (the holder failed) a waiter takes it over;
a holder that dies leaves the lock to expire after its TTL, so nobody waits longer than that
before fetching. With Redis unavailable (``lock`` answers ``None``) the process fetches at once,
as it would without a shared layer: the per-process single flight still holds.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from .shared import SharedCache

__all__ = ["LOCK_PREFIX", "alead", "lead_sync"]

T = TypeVar("T")
#: Lock keys are this prefix and the key of the result they guard (one key: cluster-safe).
LOCK_PREFIX = "lock:"
_FIRST_POLL, _MAX_POLL = 0.002, 0.025  # seconds: a waiter sees a result within ~25 ms of its publication
#: A waiter polls the result every time and tries the lock every few polls only (a holder that fails
#: or dies is rare; each poll costs a Redis round trip in every waiting worker).
_LOCK_EVERY = 4


def _polls(ttl: float) -> Iterator[float]:
    """Sleeps, growing from 2 ms to 25 ms, until ``ttl`` seconds have passed."""
    deadline, delay = time.monotonic() + ttl, _FIRST_POLL
    while (left := deadline - time.monotonic()) > 0:
        yield min(delay, left)
        delay = min(delay * 2, _MAX_POLL)


def lead_sync(shared: SharedCache, key: str, ttl: float, fetch: Callable[[], T],
              adopt: Callable[[], T | None]) -> T:
    """``fetch()`` (which publishes its result) under the deployment-wide lock on ``key``, or the
    result another worker published (``adopt()``, ``None`` while there is none); waits ``ttl`` at most."""
    owner, lock = secrets.token_hex(16).encode(), LOCK_PREFIX + key
    for i, delay in enumerate(_polls(ttl)):
        taken = shared.lock_sync(lock, owner, ttl) if i % _LOCK_EVERY == 0 else False
        if taken is None:
            break  # Redis unavailable: this process fetches alone
        if taken:
            try:  # a holder that released just before our SET NX may have published
                return _first(adopt(), fetch)
            finally:
                shared.unlock_sync(lock, owner)
        time.sleep(delay)
        result = adopt()
        if result is not None:
            return result
    return fetch()  # no lock (outage) or waited the lock's lifetime: fetch ourselves


async def alead(shared: SharedCache, key: str, ttl: float, fetch: Callable[[], Awaitable[T]],
                adopt: Callable[[], Awaitable[T | None]]) -> T:
    """Async twin of :func:`lead_sync`."""
    owner, lock = secrets.token_hex(16).encode(), LOCK_PREFIX + key
    for i, delay in enumerate(_polls(ttl)):
        taken = await shared.alock(lock, owner, ttl) if i % _LOCK_EVERY == 0 else False
        if taken is None:
            break
        if taken:
            try:
                result = await adopt()
                return result if result is not None else await fetch()
            finally:
                await shared.aunlock(lock, owner)
        await asyncio.sleep(delay)
        result = await adopt()
        if result is not None:
            return result
    return await fetch()


def _first(result: T | None, fetch: Callable[[], T]) -> T:
    return result if result is not None else fetch()
