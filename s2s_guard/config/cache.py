"""``[cache]``: where validation results are cached, in process memory or in Redis shared by all
workers, whose records are authenticated with an HMAC key (RFC 2104).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from .issuers import _ca_bundle
from .secret import _redacted_repr, _secret
from .values import _integer, _number, _optional_str, _strings, _table


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheConfig:
    """Where validation results are cached: process memory, or Redis shared by all workers."""

    #: "memory", "redis" (one server), "redis-cluster" (RedisCluster) or "redis-sentinel" (a named master).
    backend: str = "memory"
    #: redis:// or rediss:// URL; with "redis-cluster" one seed node whose credentials and TLS apply to
    #: every node; with "redis-sentinel" (optional) the master's credentials, db and TLS (host ignored).
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
    #: "redis-cluster": more seed nodes ("host:port") besides the url's, tried when it is down at start.
    nodes: tuple[str, ...] = ()
    #: "redis-sentinel": the sentinels ("host:port") that name the current master.
    sentinels: tuple[str, ...] = ()
    #: "redis-sentinel": the name the sentinels monitor the master under (``sentinel monitor <name>``).
    master: str | None = None
    #: "redis-sentinel": the sentinels' own password (``requirepass`` in sentinel.conf), or from
    #: ``sentinel_password_env``; the master's password is in the url.
    sentinel_password: str | None = field(default=None, repr=False)
    #: Seconds the Redis layer is skipped after an error (the memory layer answers meanwhile).
    backoff: float = 5.0
    #: PEM CA certificates that sign the Redis servers' certificates (rediss:// only); else the system's.
    ca_bundle: str | None = None

    __repr__ = _redacted_repr  # no secret in a repr: redis://user:password@host


_CACHE_KEYS = {"backend", "url", "maxsize", "verified", "prefix", "timeout", "revoked",
               "revoked_refresh", "secret", "secret_env", "nodes", "sentinels", "master", "sentinel_password",
               "sentinel_password_env", "ca_bundle", "backoff"}
REDIS_BACKENDS = ("redis", "redis-cluster", "redis-sentinel")
_URL_SCHEMES = {"redis": ("redis://", "rediss://", "unix://"), "redis-cluster": ("redis://", "rediss://"),
                "redis-sentinel": ("redis://", "rediss://")}


def _cache_from(block: Any) -> CacheConfig:
    where = "cache."
    block = _table(block, _CACHE_KEYS, where)
    backend = block.get("backend", "memory")
    if backend != "memory" and backend not in REDIS_BACKENDS:
        raise ConfigurationError(where + "backend", 'expected "memory", "redis", "redis-cluster" or "redis-sentinel"')
    url = _optional_str(block, "url", where)
    if backend in ("redis", "redis-cluster") and (url is None or not url.startswith(_URL_SCHEMES[backend])):
        raise ConfigurationError(where + "url", f'backend "{backend}" needs url = "redis://host:port/0"')
    if backend == "redis-cluster" and urlsplit(url or "").path not in ("", "/", "/0"):
        raise ConfigurationError(where + "url", "a cluster has only db 0: drop the /<db> from the url")
    if backend == "redis-sentinel" and url is not None and (
            not url.startswith(_URL_SCHEMES[backend]) or not (urlsplit(url).path.strip("/") or "0").isdigit()):
        raise ConfigurationError(where + "url", 'expected "redis://user:password@<master>/<db>" or rediss://')
    maxsize = _integer(block.get("maxsize", 10_000), where + "maxsize", minimum=1)
    if not isinstance(block.get("verified", True), bool):
        raise ConfigurationError(where + "verified", "expected true or false")
    return CacheConfig(
        backend=backend, url=url, maxsize=maxsize, verified=block.get("verified", True),
        prefix=_optional_str(block, "prefix", where) or "s2s_guard:",
        timeout=_number(block.get("timeout", 0.5), where + "timeout", minimum=0.001),
        revoked=_strings(block.get("revoked", []), where + "revoked", allow_empty=True),
        revoked_refresh=_number(block.get("revoked_refresh", 1), where + "revoked_refresh"),
        backoff=_number(block.get("backoff", 5.0), where + "backoff"),
        secret=_cache_secret(block, backend), **_topology(block, backend, url))


def _topology(block: Mapping[str, Any], backend: str, url: str | None) -> dict[str, Any]:
    """The cluster seed nodes, the sentinels and master name, and the CA bundle, checked for ``backend``."""
    where = "cache."
    for key, wanted in (("nodes", "redis-cluster"), ("sentinels", "redis-sentinel"), ("master", "redis-sentinel"),
                        ("sentinel_password", "redis-sentinel"), ("sentinel_password_env", "redis-sentinel")):
        if key in block and backend != wanted:
            raise ConfigurationError(where + key, f'only for backend = "{wanted}"')
    nodes = tuple(_host_port(n, where + "nodes") for n in _strings(block.get("nodes", []), where + "nodes",
                                                                   allow_empty=True))
    sentinels = tuple(_host_port(n, where + "sentinels") for n in _strings(
        block.get("sentinels", []), where + "sentinels", allow_empty=backend != "redis-sentinel"))
    master = _optional_str(block, "master", where)
    if backend == "redis-sentinel" and master is None:
        raise ConfigurationError(where + "master", 'backend "redis-sentinel" needs master = "mymaster"')
    ca_bundle = _ca_bundle(block, where)
    if ca_bundle is not None and not (url or "").startswith("rediss://"):
        raise ConfigurationError(where + "ca_bundle", 'a CA bundle needs TLS: url = "rediss://..."')
    return {"nodes": nodes, "sentinels": sentinels, "master": master, "ca_bundle": ca_bundle,
            "sentinel_password": _sentinel_password(block)}


def _host_port(value: str, key: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(key, f'expected "host:port", got {value!r}')
    return value


def _sentinel_password(block: Mapping[str, Any]) -> str | None:
    if "sentinel_password_env" in block:
        name = block["sentinel_password_env"]
        value = os.environ.get(name) if isinstance(name, str) else None
        if not value:
            raise ConfigurationError("cache.sentinel_password_env", f"environment variable {name!r} is not set")
        return value
    return _optional_str(block, "sentinel_password", "cache.")


_CACHE_SECRET_FIX = ('backend "redis" needs secret_env = "S2S_GUARD_CACHE_SECRET" naming a variable that holds '
                     'at least 32 random bytes (python -c "import secrets; print(secrets.token_urlsafe(32))"), '
                     "the same for every worker: records planted in Redis are then refused")


def _cache_secret(block: Mapping[str, Any], backend: str) -> bytes | None:
    """The shared layer's HMAC key, like an issuer's ``secret``/``secret_env``; required with Redis."""
    if "secret_env" not in block and "secret" not in block:
        if backend in REDIS_BACKENDS:  # whoever can write to Redis could otherwise plant principals and keys
            raise ConfigurationError("cache.secret_env", _CACHE_SECRET_FIX)
        return None
    secret = _secret(block, "cache.")
    if secret is None or len(secret) < 32:
        # RFC 2104 §3: a key at least as long as the hash output (HMAC-SHA256: 32 bytes).
        raise ConfigurationError("cache.secret_env" if "secret_env" in block else "cache.secret",
                                 "expected a secret of at least 32 bytes")
    return secret
