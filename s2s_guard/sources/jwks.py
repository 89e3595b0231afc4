"""RFC 7517 §5 JWK Sets: static keys loaded at start-up and a cached remote JWKS fetcher.

The cache policy (:class:`JWKSState`) is pure and shared by the sync and async drivers:
cached keys are served without I/O, a refetch happens when the cache is older than
``max_age``, or for an unknown key identifier at most once per ``cooldown``; a failed fetch
keeps the last good keys; one fetch at a time (the drivers hold a lock).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx

from ..config import IssuerConfig
from ..core.keys import KeySet, VerificationKey, load_certificate
from ..errors import ConfigurationError, ServiceUnavailable

__all__ = ["JWKSState", "KeySource", "RemoteJWKS", "StaticKeys", "key_source_for"]

log = logging.getLogger("s2s_guard.jwks")
_MAX_JWKS_BYTES = 512 * 1024
_EMPTY_RETRY = 2.0


class KeySource(Protocol):
    """Where an issuer's verification keys come from."""

    def keys_sync(self, header: Mapping[str, Any], now: float) -> KeySet: ...

    async def akeys(self, header: Mapping[str, Any], now: float) -> KeySet: ...


class StaticKeys:
    """Keys fixed at start-up (inline JWKS, JWKS file, certificates, shared secret)."""

    def __init__(self, keys: KeySet) -> None:
        self.keys = keys

    def keys_sync(self, header: Mapping[str, Any], now: float) -> KeySet:
        return self.keys

    async def akeys(self, header: Mapping[str, Any], now: float) -> KeySet:
        return self.keys


class JWKSState:
    """Sans-I/O cache state of one remote JWKS: what to serve and when to refetch."""

    def __init__(self, *, max_age: float, cooldown: float) -> None:
        self.max_age = max_age
        self.cooldown = cooldown
        self.keys: KeySet | None = None
        self.fetched_at = float("-inf")
        self.attempted_at = float("-inf")
        self.failed = False

    def needs_fetch(self, header: Mapping[str, Any], now: float) -> bool:
        """Fetch when empty, stale, or (once per cooldown) when the header names an unknown key."""
        since = now - self.attempted_at
        if since < self.cooldown and self.keys is not None:
            return False
        if since < min(self.cooldown, _EMPTY_RETRY) and self.failed:
            return False  # no keys and the last try failed: do not hammer a dead server
        if self.keys is None or now - self.fetched_at >= self.max_age:
            return True
        return not self.keys.has_identifier(header)

    def begin(self, now: float) -> None:
        self.attempted_at = now

    def succeed(self, body: bytes, now: float) -> None:
        """Install a fetched document; garbage counts as a failure and keeps the old keys."""
        try:
            keys = KeySet.from_jwks(json.loads(body))
        except (ValueError, UnicodeDecodeError) as exc:
            self.fail(f"invalid JWKS document: {exc}")
            return
        self.keys, self.fetched_at, self.failed = keys, now, False

    def fail(self, why: str) -> None:
        self.failed = True
        log.warning("JWKS fetch failed, keeping %s cached keys: %s",
                    len(self.keys) if self.keys is not None else 0, why)

    def current(self, header: Mapping[str, Any]) -> KeySet:
        """The keys to verify with; 503 when there are none, or the needed key is missing after a failed fetch."""
        if self.keys is None or (self.failed and not self.keys.has_identifier(header)):
            raise ServiceUnavailable("JWKS unavailable")  # fail closed, never accept
        return self.keys


class RemoteJWKS:
    """A JWKS URI fetched with httpx, cached per :class:`JWKSState`; sync and async."""

    def __init__(self, uri: str, *, max_age: float = 600, cooldown: float = 30,
                 timeout: float = 5, static: KeySet | None = None) -> None:
        self.uri = uri
        self.timeout = timeout
        self.static = static or KeySet()
        self.state = JWKSState(max_age=max_age, cooldown=cooldown)
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None
        self.fetches = 0
        self._combined: tuple[KeySet | None, KeySet] = (None, self.static)

    def _apply(self, response: httpx.Response | None, error: Exception | None, now: float) -> None:
        self.fetches += 1
        if error is not None or response is None:
            self.state.fail(f"{type(error).__name__}: {error}")
        elif response.status_code != 200:
            self.state.fail(f"HTTP {response.status_code}")
        elif len(response.content) > _MAX_JWKS_BYTES:
            self.state.fail("document too large")
        else:
            self.state.succeed(response.content, now)

    def _result(self, header: Mapping[str, Any]) -> KeySet:
        if self.static and self.static.has_identifier(header):
            return self.static
        current = self.state.current(header)
        if not self.static:
            return current
        if self._combined[0] is not current:
            self._combined = (current, current + self.static)
        return self._combined[1]

    def keys_sync(self, header: Mapping[str, Any], now: float) -> KeySet:
        if self.state.needs_fetch(header, now):
            with self._lock:
                if self.state.needs_fetch(header, now):  # another thread may have fetched
                    self.state.begin(now)
                    try:
                        with httpx.Client(timeout=self.timeout) as client:
                            self._apply(client.get(self.uri), None, now)
                    except httpx.HTTPError as exc:
                        self._apply(None, exc, now)
        return self._result(header)

    async def akeys(self, header: Mapping[str, Any], now: float) -> KeySet:
        if self.state.needs_fetch(header, now):
            self._alock = self._alock or asyncio.Lock()
            async with self._alock:
                if self.state.needs_fetch(header, now):  # single flight: one fetch for N waiters
                    self.state.begin(now)
                    try:
                        async with httpx.AsyncClient(timeout=self.timeout) as client:
                            self._apply(await client.get(self.uri), None, now)
                    except httpx.HTTPError as exc:
                        self._apply(None, exc, now)
        return self._result(header)


def _static_keys(issuer: IssuerConfig, where: str) -> KeySet:
    keys: list[VerificationKey] = []
    if issuer.jwks is not None:
        keys += KeySet.from_jwks(issuer.jwks).keys
    if issuer.jwks_file is not None:
        try:
            keys += KeySet.from_jwks(json.loads(Path(issuer.jwks_file).read_bytes())).keys
        except (OSError, ValueError) as exc:
            raise ConfigurationError(where + "jwks_file", f"cannot load JWK Set: {exc}") from exc
    for i, path in enumerate(issuer.certificates):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"{where}certificates[{i}]", f"cannot read {path}: {exc.strerror}") from exc
        keys.append(load_certificate(data, f"{where}certificates[{i}]"))
    if issuer.secret is not None:
        keys.append(VerificationKey(key=issuer.secret))
    return KeySet(keys)


def key_source_for(issuer: IssuerConfig, where: str = "") -> KeySource:
    """The key source an issuer's configuration describes."""
    static = _static_keys(issuer, where)
    if issuer.jwks_uri is None:
        return StaticKeys(static)
    return RemoteJWKS(issuer.jwks_uri, max_age=issuer.jwks_max_age, cooldown=issuer.jwks_cooldown,
                      timeout=issuer.timeout, static=static)
