"""``[cache]``: where validation results are cached, in process memory or in Redis shared by all
workers, whose records are authenticated with an HMAC key (RFC 2104).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from .secret import _redacted_repr, _secret
from .values import _integer, _number, _optional_str, _strings, _table


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheConfig:
    """Where validation results are cached: process memory, or Redis shared by all workers."""

    #: "memory" (per process) or "redis" (shared by every worker).
    backend: str = "memory"
    #: The Redis URL (``redis://``, ``rediss://``, ``unix://``): required with ``backend = "redis"``.
    url: str | None = None
    #: Entries kept in process memory (least recently used go first).
    maxsize: int = 10_000
    #: Cache verified tokens (their principal) until they expire.
    verified: bool = True
    #: Prefix of every Redis key: one per application sharing a Redis.
    prefix: str = "s2s_guard:"
    #: Seconds allowed per Redis command; past it the shared layer is skipped for a while.
    timeout: float = 0.5
    #: Revoked ``jti`` values and token SHA-256 digests, from start-up in every worker.
    revoked: tuple[str, ...] = ()
    #: Seconds between re-reads of the shared revoked set: how late other workers learn a revocation.
    revoked_refresh: float = 1.0
    #: HMAC-SHA256 key (>= 32 bytes) authenticating every record read back from the shared layer.
    secret: bytes | None = field(default=None, repr=False)

    __repr__ = _redacted_repr  # no secret in a repr: redis://user:password@host


_CACHE_KEYS = {"backend", "url", "maxsize", "verified", "prefix", "timeout", "revoked",
               "revoked_refresh", "secret", "secret_env"}


def _cache_from(block: Any) -> CacheConfig:
    where = "cache."
    block = _table(block, _CACHE_KEYS, where)
    backend = block.get("backend", "memory")
    if backend not in ("memory", "redis"):
        raise ConfigurationError(where + "backend", 'expected "memory" or "redis"')
    url = _optional_str(block, "url", where)
    if backend == "redis" and (url is None or not url.startswith(("redis://", "rediss://", "unix://"))):
        raise ConfigurationError(where + "url", 'backend "redis" needs url = "redis://host:port/db"')
    maxsize = _integer(block.get("maxsize", 10_000), where + "maxsize", minimum=1)
    if not isinstance(block.get("verified", True), bool):
        raise ConfigurationError(where + "verified", "expected true or false")
    return CacheConfig(
        backend=backend, url=url, maxsize=maxsize, verified=block.get("verified", True),
        prefix=_optional_str(block, "prefix", where) or "s2s_guard:",
        timeout=_number(block.get("timeout", 0.5), where + "timeout", minimum=0.001),
        revoked=_strings(block.get("revoked", []), where + "revoked", allow_empty=True),
        revoked_refresh=_number(block.get("revoked_refresh", 1), where + "revoked_refresh"),
        secret=_cache_secret(block, backend))


_CACHE_SECRET_FIX = ('backend "redis" needs secret_env = "S2S_GUARD_CACHE_SECRET" naming a variable that holds '
                     'at least 32 random bytes (python -c "import secrets; print(secrets.token_urlsafe(32))"), '
                     "the same for every worker: records planted in Redis are then refused")


def _cache_secret(block: Mapping[str, Any], backend: str) -> bytes | None:
    """The shared layer's HMAC key, like an issuer's ``secret``/``secret_env``; required with Redis."""
    if "secret_env" not in block and "secret" not in block:
        if backend == "redis":  # whoever can write to Redis could otherwise plant principals and keys
            raise ConfigurationError("cache.secret_env", _CACHE_SECRET_FIX)
        return None
    secret = _secret(block, "cache.")
    if secret is None or len(secret) < 32:
        # RFC 2104 §3: a key at least as long as the hash output (HMAC-SHA256: 32 bytes).
        raise ConfigurationError("cache.secret_env" if "secret_env" in block else "cache.secret",
                                 "expected a secret of at least 32 bytes")
    return secret
