"""RFC 7517 §5 JWK Set cache policy, sans-I/O: what to serve and when to refetch.

After panva/jose ``jwks/remote.ts``: cached keys are served without I/O; a refetch happens
when the keys are stale (``Cache-Control: max-age`` clamped to ``[min_age, max_age]``), or
for an unknown ``kid`` at most once per ``cooldown``; a sequence number stops an old slow
fetch from overwriting a newer one; a failed or garbage fetch keeps the last good keys for
at most ``stale_if_error`` more seconds. With no usable keys the answer is 503 with
``Retry-After``: fail closed. The drivers in :mod:`s2s_guard.sources.jwks` do the I/O.

Refetches are conditional (RFC 9110 §13.1.2 ``If-None-Match`` with the last ``ETag``); a 304
keeps the keys and renews their lifetime (RFC 9111 §4.3.4). Once ``refresh_ahead`` of the
lifetime has passed (``refresh_at``), :meth:`JWKSState.claim_ahead` grants one background
refresh per cooldown, so requests keep using the still-fresh keys and never wait for it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ServiceUnavailable
from .flow import HTTPRequest, HTTPResponse, cache_max_age, retry_after
from .keys import KeySet
from ..config import redact_url

__all__ = ["JWKSState", "lifetime_of", "parse_jwks"]

log = logging.getLogger("s2s_guard.jwks")
_MAX_JWKS_BYTES = 512 * 1024
_EMPTY_RETRY = 2.0  # with no keys at all, retry a failed fetch this often (at most)


def lifetime_of(headers: Mapping[str, str], min_age: float, max_age: float, default: float) -> float:
    """RFC 9111 §5.2.2.1: ``Cache-Control: max-age`` clamped to ``[min_age, max_age]``; ``default`` without one."""
    age = cache_max_age(headers)
    return default if age is None else min(max(age, min_age), max_age)


def parse_jwks(response: HTTPResponse, *, min_rsa_bits: int = 2048, issuer: str = "") -> KeySet:
    """A 200 response carrying a JWK Set with at least one usable key, or ``ValueError``.

    Unsafe keys are skipped by :meth:`KeySet.from_jwks` (``use: enc``, ``key_ops`` without
    ``verify``, RSA under ``min_rsa_bits`` or with ``e < 65537``, EC points off their curve,
    symmetric keys); a document left with none is a failure.
    """
    if response.status != 200:
        raise ValueError(response.describe())
    keys = KeySet.from_jwks(json.loads(response.content), min_rsa_bits=min_rsa_bits, issuer=issuer)
    if not keys:
        raise ValueError("JWK Set has no usable signing key")
    return keys


class JWKSState:
    """Sans-I/O cache state of one remote JWKS: what to serve and when to refetch."""

    def __init__(self, *, max_age: float = 600, cooldown: float = 30, min_age: float = 60,
                 stale_if_error: float = 86400,
                 parse: Callable[[HTTPResponse], KeySet] = parse_jwks,
                 refresh_ahead: float = 1.0) -> None:
        self.max_age, self.cooldown = max_age, cooldown
        self.refresh_ahead = refresh_ahead  # share of the lifetime after which to refresh ahead
        self.refresh_at = float("inf")  # when a request should start a background refresh
        self.etag: str | None = None  # RFC 9110 §8.8.3: the validator of ``document``
        self.parse = parse  # parse_jwks, or parse_metadata for a SharePoint metadata document
        self.min_age, self.stale_if_error = min(min_age, max_age), stale_if_error
        self.keys: KeySet | None = None
        self.fresh_until = float("-inf")
        self.attempted_at = float("-inf")
        self.failed = False
        self.document: bytes | None = None  # the last good JWK Set, as fetched
        self.fetched_at = float("-inf")
        self._issued = self._applied = 0
        self._lock = threading.Lock()
        #: Named in warnings: the configured issuer (set by its key source) and the last URL fetched.
        self.issuer = ""
        self.url = ""

    def needs_fetch(self, header: Mapping[str, Any], now: float) -> bool:
        """Fetch when empty or stale, or when the header names an unknown key; never twice per cooldown."""
        since = now - self.attempted_at
        if self.keys is None:
            return since >= min(self.cooldown, _EMPTY_RETRY)  # do not hammer a dead server
        if since < self.cooldown:
            return False  # jose jwks/remote.ts: at most one refetch per cooldown window
        return now >= self.fresh_until or not self.keys.has_identifier(header)

    def claim(self, header: Mapping[str, Any], now: float) -> int | None:
        """Atomically decide to fetch; returns the fetch's sequence number, or ``None``."""
        with self._lock:
            if not self.needs_fetch(header, now):
                return None
            self.attempted_at = now
            self._issued += 1
            return self._issued

    def claim_ahead(self, now: float) -> int | None:
        """Refresh-ahead: a fetch's sequence number once fresh keys pass ``refresh_at`` (one per cooldown)."""
        with self._lock:
            if (self.keys is None or not self.refresh_at <= now < self.fresh_until
                    or now - self.attempted_at < self.cooldown):
                return None  # none yet, not due, already stale (requests fetch), or just tried
            self.attempted_at = now
            self._issued += 1
            return self._issued

    def apply(self, seq: int, response: HTTPResponse, now: float) -> None:
        """Install a fetched document; a 304 renews the current one; a failure or garbage keeps the old keys."""
        # RFC 9110 §15.4.5: 304 answers our If-None-Match; the stored document is still current.
        not_modified = response.status == 304 and self.etag is not None and self.keys is not None
        try:
            keys: KeySet | None = self.keys if not_modified else self.parse(response)
        except (ValueError, UnicodeDecodeError) as exc:
            keys = None
            log.warning("JWKS fetch for issuer %r from %s failed, keeping %s cached keys: %s",
                        self.issuer, redact_url(self.url), len(self.keys) if self.keys is not None else 0, exc)
        with self._lock:
            if seq < self._applied:
                return  # an older, slower fetch must not overwrite a newer result
            self._applied = seq
            if keys is None:
                self.failed = True
                return
            # RFC 9111 §4.3.4: a 304 without Cache-Control keeps the stored lifetime
            stored = max(0.0, self.fresh_until - self.fetched_at) if not_modified else self.max_age
            lifetime = lifetime_of(response.headers, self.min_age, self.max_age, stored)
            self.keys, self.fresh_until, self.failed = keys, now + lifetime, False
            self.refresh_at = now + lifetime * self.refresh_ahead
            if not not_modified:
                self.document = response.content
            self.fetched_at = now
            self.etag = response.headers.get("etag") or (self.etag if not_modified else None)

    def adopt(self, document: bytes, fetched_at: float, fresh_until: float,
              etag: str | None = None) -> bool:
        """Install a document another worker fetched, if it is newer than ours and usable."""
        if fetched_at <= self.fetched_at:
            return False
        try:
            keys = self.parse(HTTPResponse(200, content=document))
        except (ValueError, UnicodeDecodeError):
            return False
        with self._lock:
            self.keys, self.fresh_until, self.failed = keys, fresh_until, False
            self.document, self.fetched_at, self.etag = document, fetched_at, etag
            self.refresh_at = fetched_at + max(0.0, fresh_until - fetched_at) * self.refresh_ahead
        return True

    def record(self, now: float) -> bytes | None:
        """The shared-cache record of a document fetched at ``now`` (``None`` if none was)."""
        if self.document is None or self.fetched_at != now:
            return None
        return json.dumps({"fetched_at": now, "fresh_until": self.fresh_until, "etag": self.etag,
                           "jwks": self.document.decode("utf-8", "replace")}).encode()

    def current(self, header: Mapping[str, Any], now: float) -> KeySet:
        """The keys to verify with, or 503: none, too stale, or the needed key missing after a failure."""
        keys = self.keys
        wait = retry_after(max(0.0, self.attempted_at + self.cooldown - now))
        if keys is None:
            raise ServiceUnavailable("JWKS unavailable", retry_after=retry_after(
                min(self.cooldown, _EMPTY_RETRY)))
        if now >= self.fresh_until + self.stale_if_error:
            raise ServiceUnavailable("JWKS keys too stale to trust", retry_after=wait)  # bounded stale-if-error
        if self.failed and not keys.has_identifier(header):
            raise ServiceUnavailable("JWKS refetch failed; key unknown", retry_after=wait)
        return keys

    def request(self, uri: str, timeout: float) -> HTTPRequest:
        """The GET for the document, conditional on the last ``ETag``, with the timeout every request must have."""
        headers = {"Accept": "application/jwk-set+json, application/json"}
        if self.etag is not None and self.keys is not None:
            headers["If-None-Match"] = self.etag  # RFC 9110 §13.1.2
        self.url = uri
        return HTTPRequest("GET", uri, headers, timeout=timeout, max_bytes=_MAX_JWKS_BYTES)
