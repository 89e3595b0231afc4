"""The verified-token cache (token SHA-256 → principal until ``exp``) and the revoked set.

A client that reuses its token for an hour costs one signature check, not thousands: later
requests with the same token are answered from memory, then from the shared layer (where
another worker may have verified it), before any cryptography. The requirement is still
checked on every request by the guard. The revoked set (``jti`` values or token SHA-256
digests) is honoured on every request, cached or not; with Redis it is shared by all workers
and re-read every ``revoked_refresh`` seconds; entries are only ever added locally, so an
unreachable Redis never un-revokes anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..config import CacheConfig
from ..core.revocation import revocation_entries
from ..principal import Principal
from .cache import MemoryCache, SharedCache

__all__ = ["VerifiedTokens"]

log = logging.getLogger("s2s_guard.cache")
#: Rebuilds a principal from a shared-layer record ({"issuer", "issuer_name", "claims", "introspected"}),
#: the token hash and ``now``, re-checking it against this guard's configuration (``None``: refused).
Rebuild = Callable[[Mapping[str, Any], str, float], "Principal | None"]


class VerifiedTokens:
    """Principals by token hash, in memory (bounded) and optionally in the shared layer."""

    def __init__(self, config: CacheConfig, shared: SharedCache | None, rebuild: Rebuild, *,
                 namespace: str = "") -> None:
        self.enabled = config.verified
        self.memory = MemoryCache(config.maxsize)
        self.shared = shared
        self.revoked: set[str] = {e for value in config.revoked for e in revocation_entries(value)}
        self.refresh_every = config.revoked_refresh
        self._rebuild = rebuild
        #: Shared keys are "v:<namespace>:<sha>": guards configured differently never share records.
        self._key = f"v:{namespace}:" if namespace else "v:"
        self._next_refresh = float("-inf")

    # -- lookups ---------------------------------------------------------------------------
    def get(self, sha: str, now: float) -> Principal | None:
        """The cached principal for this token hash, from memory (no I/O; empty when disabled)."""
        principal: Principal | None = self.memory.get(sha, now) if self.enabled else None
        return principal

    def _from_shared(self, sha: str, raw: bytes | None, now: float) -> Principal | None:
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            principal = self._rebuild(doc, sha, now)
            expires = float(doc["expires_at"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring an unreadable shared cache entry: %s", exc)
            return None
        if principal is not None and expires > now:
            self.memory.set(sha, principal, expires)
            return principal
        return None

    def get_sync(self, sha: str, now: float) -> Principal | None:
        """Memory, then the shared layer."""
        if not self.enabled or self.shared is None:
            return None
        return self._from_shared(sha, self.shared.get_sync(self._key + sha), now)

    async def aget(self, sha: str, now: float) -> Principal | None:
        if not self.enabled or self.shared is None:
            return None
        return self._from_shared(sha, await self.shared.aget(self._key + sha), now)

    # -- stores ----------------------------------------------------------------------------
    def _record(self, principal: Principal, expires_at: float, introspected: bool) -> bytes:
        return json.dumps({"issuer": principal.issuer, "issuer_name": principal.issuer_name,
                           "claims": dict(principal.claims), "expires_at": expires_at,
                           "twin": principal.token_twin_sha256, "actor": principal.actor_token_sha256,
                           "introspected": introspected}).encode()

    def put_sync(self, principal: Principal, expires_at: float, now: float, *, introspected: bool = False) -> None:
        """Remember a principal until ``expires_at`` (memory, then the shared layer); ``introspected``
        says which checks re-examine its claims when another worker reads it back."""
        if self.enabled and expires_at > now:
            self.memory.set(principal.token_sha256, principal, expires_at)
            if self.shared is not None:
                self.shared.set_sync(self._key + principal.token_sha256,
                                     self._record(principal, expires_at, introspected), expires_at - now)

    async def aput(self, principal: Principal, expires_at: float, now: float, *, introspected: bool = False) -> None:
        if self.enabled and expires_at > now:
            self.memory.set(principal.token_sha256, principal, expires_at)
            if self.shared is not None:
                await self.shared.aset(self._key + principal.token_sha256,
                                       self._record(principal, expires_at, introspected), expires_at - now)

    # -- the revoked set -------------------------------------------------------------------
    def is_revoked(self, principal: Principal) -> bool:
        """Whether the token's hash, its ``jti`` or an actor token's ``jti`` is in the revoked set.

        A SharePoint outer token is unsigned, so its ``jti`` is the caller's choice: the signed
        actor token's ``jti`` (kept in ``principal.actors``) must be checked too.
        """
        revoked = self.revoked
        if not revoked:
            return False
        twin = principal.token_twin_sha256
        if principal.token_sha256 in revoked or twin and twin in revoked:
            return True  # an ECDSA token has two valid spellings: a hash revocation names either
        actor = principal.actor_token_sha256
        if actor and actor in revoked:
            return True  # [MS-SPS2SAUTH]: any outer token rebuilt around a revoked actor token
        jtis = (claims.get("jti") for claims in (principal.claims, *principal.actors))
        return any(isinstance(jti, str) and jti in revoked for jti in jtis)  # a list jti is unhashable

    def refresh_due(self, now: float) -> bool:
        """Whether the shared revoked set is due for a re-read (no I/O here)."""
        return self.shared is not None and now >= self._next_refresh

    def _due(self, now: float) -> bool:
        if self.shared is None or now < self._next_refresh:
            return False
        self._next_refresh = now + self.refresh_every
        return True

    def refresh_sync(self, now: float) -> None:
        """Merge the shared revoked set in, at most every ``revoked_refresh`` seconds."""
        if self._due(now) and self.shared is not None:
            self.revoked |= self.shared.revoked_sync() or set()

    async def arefresh(self, now: float) -> None:
        if self._due(now) and self.shared is not None:
            self.revoked |= await self.shared.arevoked() or set()

    def revoke_sync(self, *values: str) -> None:
        """Revoke ``jti`` values or token SHA-256 hex digests here and, with a shared layer, for
        every worker. A JWT given by mistake is stored as its SHA-256, never verbatim."""
        for entry in {e for value in values for e in revocation_entries(value)}:
            self.revoked.add(entry)
            if self.shared is not None:
                self.shared.revoke_sync(entry)

    async def arevoke(self, *values: str) -> None:
        for entry in {e for value in values for e in revocation_entries(value)}:
            self.revoked.add(entry)
            if self.shared is not None:
                await self.shared.arevoke(entry)
