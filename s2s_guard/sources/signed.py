"""Authenticated shared-cache records (RFC 2104 HMAC-SHA256) and the configuration namespace.

Whoever can write to Redis must not be able to plant a principal, an introspection result or
a JWK Set: every value the guard reads back through :class:`SignedCache` carries an
HMAC-SHA256, keyed with ``[cache] secret``, over its key, its deadline and its bytes. A record
whose MAC does not verify (compared in constant time), or whose deadline has passed (a record
replayed after its TTL), reads as a miss. The revoked set and DPoP replay markers are not
signed: they can only make the guard refuse more, never accept more.

:func:`namespace_for` digests the validation-relevant configuration, so guards configured
differently (another audience, a narrower ``tenants`` list...) never read each other's
verified-token and introspection records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import struct
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .shared import SharedCache

if TYPE_CHECKING:
    from ..config import GuardConfig

__all__ = ["SignedCache", "namespace_for"]

log = logging.getLogger("s2s_guard.cache")
_MAC = 32  # HMAC-SHA256 output
_DEADLINE = struct.Struct(">d")  # wall-clock seconds after which the record is refused
#: GuardConfig fields that decide what a token is accepted as (the rest: routing, authz, telemetry).
_VALIDATION_FIELDS = ("audience", "issuers", "leeway", "max_token_bytes", "introspection", "delegation")
#: Credentials this API presents to the introspection endpoint: they do not change its answers.
_CREDENTIALS = ("client_secret", "private_key")


class SignedCache:
    """A :class:`~s2s_guard.sources.cache.SharedCache` whose values are MAC'd on write and checked on read."""

    def __init__(self, inner: SharedCache, secret: bytes) -> None:
        self.inner = inner
        self._secret = secret

    def _mac(self, key: str, body: bytes) -> bytes:
        return hmac.new(self._secret, key.encode() + b"\0" + body, hashlib.sha256).digest()

    def _seal(self, key: str, value: bytes, ttl: float) -> bytes:
        body = _DEADLINE.pack(time.time() + ttl) + value
        return self._mac(key, body) + body

    def _open(self, key: str, raw: bytes | None) -> bytes | None:
        if raw is None:
            return None
        mac, body = raw[:_MAC], raw[_MAC:]
        # RFC 2104 with a constant-time comparison: a planted or altered record is a miss.
        if len(body) < _DEADLINE.size or not hmac.compare_digest(mac, self._mac(key, body)):
            log.warning("ignoring a shared cache record whose MAC does not verify (%s)", key[:2])
            return None
        if time.time() >= _DEADLINE.unpack_from(body)[0]:
            return None  # a genuine record replayed after its TTL
        return body[_DEADLINE.size:]

    def get_sync(self, key: str) -> bytes | None:
        return self._open(key, self.inner.get_sync(key))

    async def aget(self, key: str) -> bytes | None:
        return self._open(key, await self.inner.aget(key))

    def set_sync(self, key: str, value: bytes, ttl: float) -> None:
        self.inner.set_sync(key, self._seal(key, value, ttl), ttl)

    async def aset(self, key: str, value: bytes, ttl: float) -> None:
        await self.inner.aset(key, self._seal(key, value, ttl), ttl)

    # Replay markers and the revoked set only narrow acceptance: passed through unsigned.
    def add_sync(self, key: str, value: bytes, ttl: float) -> bool | None:
        return self.inner.add_sync(key, value, ttl)

    async def aadd(self, key: str, value: bytes, ttl: float) -> bool | None:
        return await self.inner.aadd(key, value, ttl)

    # Locks only decide which worker fetches: a planted lock delays others by its TTL, never accepts.
    def lock_sync(self, key: str, owner: bytes, ttl: float) -> bool | None:
        return self.inner.lock_sync(key, owner, ttl)

    async def alock(self, key: str, owner: bytes, ttl: float) -> bool | None:
        return await self.inner.alock(key, owner, ttl)

    def unlock_sync(self, key: str, owner: bytes) -> None:
        self.inner.unlock_sync(key, owner)

    async def aunlock(self, key: str, owner: bytes) -> None:
        await self.inner.aunlock(key, owner)

    def revoke_sync(self, value: str) -> None:
        self.inner.revoke_sync(value)

    async def arevoke(self, value: str) -> None:
        await self.inner.arevoke(value)

    def revoked_sync(self) -> set[str] | None:
        return self.inner.revoked_sync()

    async def arevoked(self) -> set[str] | None:
        return await self.inner.arevoked()

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.inner.aclose()


def _canonical(value: object) -> object:
    """JSON for what ``json`` cannot write: sets sorted, secrets as digests (never the secret)."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(b"s2s_guard namespace\0" + value).hexdigest()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot digest {type(value).__name__}")


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return [_plain(item) for item in value] if isinstance(value, tuple) else value


def namespace_for(config: GuardConfig) -> str:
    """A digest of what decides acceptance: issuers and their options (tenants, audiences,
    binding modes, actors...), audiences, leeway, introspection and delegation."""
    relevant = {name: _plain(getattr(config, name)) for name in _VALIDATION_FIELDS}
    introspection = relevant["introspection"]
    if isinstance(introspection, dict):
        relevant["introspection"] = {k: v for k, v in introspection.items() if k not in _CREDENTIALS}
    doc = json.dumps(relevant, sort_keys=True, default=_canonical, separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()[:32]
