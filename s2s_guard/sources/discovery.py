"""OpenID Connect Discovery 1.0 §4 and RFC 8414 §3: authorization server metadata.

The metadata yields ``jwks_uri`` and ``introspection_endpoint``; its ``issuer`` must equal the
configured one exactly (RFC 8414 §3.3, OIDC Discovery §4.3), or the document is refused: a
metadata document for another issuer must never supply our keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass

from ..config import redact_url
from ..core.flow import Flow, HTTPRequest, HTTPResponse
from ..core.jwks import lifetime_of
from ..core.urls import INSECURE_HTTP_FIX, downgrades
from .flight import AsyncFlights, SyncFlights
from .http import Transport, adrive, drive_sync
from .shared import SharedCache
from .shared_flight import alead, lead_sync

__all__ = ["Discovery", "Metadata", "PooledClients", "check_transport", "parse_metadata"]

log = logging.getLogger("s2s_guard.discovery")
_MAX_METADATA_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Metadata:
    """The parts of the metadata s2s_guard uses."""

    issuer: str
    jwks_uri: str | None
    introspection_endpoint: str | None


def _url(doc: dict[str, object], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ValueError(f"{name} is not an http(s) URL")
    return value


def parse_metadata(response: HTTPResponse, expected_issuer: str) -> Metadata:
    """Validate a metadata response; ``ValueError`` says why it is refused."""
    if response.status != 200:
        raise ValueError(response.describe())
    doc = json.loads(response.content)
    if not isinstance(doc, dict):
        raise ValueError("metadata is not a JSON object")
    if doc.get("issuer") != expected_issuer:  # RFC 8414 §3.3: exact match, or refuse
        raise ValueError("metadata issuer does not match the configured issuer")
    return Metadata(expected_issuer, _url(doc, "jwks_uri"), _url(doc, "introspection_endpoint"))


def check_transport(metadata: Metadata, source: str) -> Metadata:
    """RFC 8414 §3, RFC 7662 §4: the URLs a document at ``source`` names stay on TLS (or loopback);
    ``ValueError`` for a downgrade, so metadata never moves keys or verdicts to plain http."""
    for name in ("jwks_uri", "introspection_endpoint"):
        url = getattr(metadata, name)
        if url is not None and downgrades(source, url):
            raise ValueError(f"{name} {url!r} is not https: {INSECURE_HTTP_FIX}")
    return metadata


class Discovery:
    """An issuer's metadata: fetched when first needed, then revalidated when its lifetime ends.

    The lifetime is the response's ``Cache-Control: max-age`` clamped to ``[min_age, max_age]``
    (``max_age`` without one). Revalidation is conditional (``If-None-Match`` with the last
    ``ETag``; a 304 renews the lifetime, the stored one if it carries no ``max-age``) and runs inside key refreshes, so with refresh-ahead it
    stays off the request path. A failed or refused refetch keeps the last good metadata; at
    most one attempt per ``cooldown``.
    """

    def __init__(self, url: str, *, issuer: str, timeout: float = 5.0, cooldown: float = 30.0,
                 min_age: float = 60.0, max_age: float = 86400.0, allow_http: bool = False,
                 ca_bundle: str | None = None) -> None:
        self.url = url
        #: ``allow_insecure_http``: the document may name plain http URLs (development only).
        self.allow_http = allow_http
        self.issuer = issuer
        self.timeout = timeout
        self.cooldown = cooldown
        self.min_age, self.max_age = min(min_age, max_age), max_age
        self.metadata: Metadata | None = None
        self.etag: str | None = None  # RFC 9110 §8.8.3: the validator of ``metadata``
        self.fresh_until = float("-inf")
        self.fetched_at = float("-inf")  # when ``metadata`` was last fetched or revalidated
        self._attempted_at = float("-inf")
        self._claim = threading.Lock()
        self.transport = Transport(ca_bundle)
        #: One fetch at a time per process: concurrent first requests wait for it, not fail.
        self._flights: SyncFlights[bool] = SyncFlights()
        self._aflights: AsyncFlights[bool] = AsyncFlights()
        #: The shared layer (Redis) through which one worker of the deployment fetches the document
        #: and the others adopt it; set by the key source or introspector that uses this discovery.
        self.shared: SharedCache | None = None
        self._shared_key = "d:" + hashlib.sha256(f"{url} {issuer}".encode()).hexdigest()

    def _should_fetch(self, now: float) -> bool:
        with self._claim:  # one attempt per cooldown, across threads and event loops
            if now < self.fresh_until or now - self._attempted_at < self.cooldown:
                return False
            self._attempted_at = now
            return True

    def _renew(self, response: HTTPResponse, now: float, stored: float) -> None:
        """Fresh for the response's clamped ``max-age``, or ``stored`` seconds without one."""
        self.fresh_until = now + lifetime_of(response.headers, self.min_age, self.max_age, stored)
        self.fetched_at = now

    def flow(self, now: float) -> Flow[Metadata | None]:
        """The metadata, fetched when missing or revalidated when stale; ``None`` while it cannot be had."""
        if now < self.fresh_until or not self._should_fetch(now):
            return self.metadata
        headers = {"Accept": "application/json"}
        if self.etag is not None and self.metadata is not None:
            headers["If-None-Match"] = self.etag  # RFC 9110 §13.1.2
        response = yield HTTPRequest("GET", self.url, headers, timeout=self.timeout,
                                     max_bytes=_MAX_METADATA_BYTES)
        if response.status == 304 and self.metadata is not None:  # RFC 9111 §4.3.4: still valid
            self.etag = response.headers.get("etag") or self.etag
            self._renew(response, now, max(0.0, self.fresh_until - self.fetched_at))  # stored lifetime
            return self.metadata
        try:
            metadata = parse_metadata(response, self.issuer)
            if not self.allow_http:
                check_transport(metadata, self.url)
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("discovery for issuer %s failed at %s: %s%s", redact_url(self.issuer), redact_url(self.url), exc,
                        " (keeping the last good metadata)" if self.metadata is not None else "")
            return self.metadata
        if self.metadata is not None and metadata != self.metadata:
            log.info("discovery metadata of %s changed", redact_url(self.url))
        self.metadata, self.etag = metadata, response.headers.get("etag")
        self._renew(response, now, self.max_age)
        return self.metadata

    # -- one fetch per deployment (the shared layer) ----------------------------------------------
    def _record(self, metadata: Metadata) -> bytes:
        return json.dumps({"jwks_uri": metadata.jwks_uri, "introspection_endpoint": metadata.introspection_endpoint,
                           "etag": self.etag, "fetched_at": self.fetched_at,
                           "fresh_until": self.fresh_until}).encode()

    def _adopt(self, raw: bytes | None) -> bool:
        """Install metadata another worker fetched (a signed record) if it is newer than ours."""
        try:
            doc = json.loads(raw) if raw is not None else None
            if doc is None or float(doc["fetched_at"]) <= self.fetched_at:
                return False
            metadata = Metadata(self.issuer, doc["jwks_uri"], doc["introspection_endpoint"])
            if not self.allow_http:
                check_transport(metadata, self.url)  # as for a fetched document
        except (ValueError, KeyError, TypeError):
            return False
        etag = doc.get("etag")
        self.metadata, self.etag = metadata, etag if isinstance(etag, str) else None
        self.fetched_at, self.fresh_until = float(doc["fetched_at"]), float(doc["fresh_until"])
        return True

    def _published(self, now: float) -> bytes | None:
        """The record to share if this worker fetched (or revalidated) the document at ``now``."""
        fresh = self.metadata is not None and self.fetched_at == now and now < self.fresh_until
        return self._record(self.metadata) if fresh and self.metadata is not None else None

    def _fetch_sync(self, now: float) -> bool:
        drive_sync(self.flow(now), self.transport)
        record = self._published(now)
        if self.shared is not None and record is not None:
            self.shared.set_sync(self._shared_key, record, self.fresh_until - now)
        return True

    async def _afetch(self, now: float) -> bool:
        await adrive(self.flow(now), self.transport)
        record = self._published(now)
        if self.shared is not None and record is not None:
            await self.shared.aset(self._shared_key, record, self.fresh_until - now)
        return True

    def _ready(self, now: float) -> bool:
        """Whether a flow can go on without waiting: the document is fresh, or (no shared layer)
        there is one to serve while it is revalidated."""
        return now < self.fresh_until or (self.shared is None and self.metadata is not None)

    def ensure_sync(self, now: float) -> None:
        """Before a flow that may need the document: fetch it once per process (concurrent
        callers wait for that fetch instead of finding no document) and, with a shared layer,
        once per deployment (the lock holder fetches and publishes, the others adopt)."""
        if not self._ready(now):
            self._flights.run("discovery", lambda: self._ensure_sync(now))

    def _ensure_sync(self, now: float) -> bool:
        shared = self.shared
        if shared is None:
            return self._fetch_sync(now)
        if now < self.fresh_until or self._adopt(shared.get_sync(self._shared_key)):
            return True
        return bool(lead_sync(shared, self._shared_key, self.timeout, lambda: self._fetch_sync(now),
                              lambda: (now < self.fresh_until or self._adopt(shared.get_sync(self._shared_key)))
                              or None))

    async def aensure(self, now: float) -> None:
        """Async twin of :meth:`ensure_sync`."""
        if not self._ready(now):
            await self._aflights.run("discovery", lambda: self._aensure(now))

    async def _aensure(self, now: float) -> bool:
        shared = self.shared
        if shared is None:
            return await self._afetch(now)
        if now < self.fresh_until or self._adopt(await shared.aget(self._shared_key)):
            return True

        async def adopt() -> bool | None:  # another worker's record, or this process already has it
            return (now < self.fresh_until or self._adopt(await shared.aget(self._shared_key))) or None
        return bool(await alead(shared, self._shared_key, self.timeout, lambda: self._afetch(now), adopt))

    def get_sync(self, now: float) -> Metadata | None:
        """Blocking: the metadata, or ``None`` if it could not be fetched."""
        self.ensure_sync(now)
        return drive_sync(self.flow(now), self.transport)

    async def aget(self, now: float) -> Metadata | None:
        """Async twin of :meth:`get_sync`."""
        await self.aensure(now)
        return await adrive(self.flow(now), self.transport)

    def close(self) -> None:
        self.transport.close()

    async def aclose(self) -> None:
        await self.transport.aclose()


class PooledClients:
    """``close()`` / ``aclose()`` for a source that holds a :class:`Transport` and maybe a
    :class:`Discovery` (possibly shared with another source: closing twice is harmless)."""

    transport: Transport
    discovery: Discovery | None

    def close(self) -> None:
        """Close the pooled blocking HTTP clients (see :meth:`aclose` for the async ones)."""
        self.transport.close()
        if self.discovery is not None:
            self.discovery.close()

    async def aclose(self) -> None:
        """Close the pooled HTTP clients, this event loop's async ones included."""
        await self.transport.aclose()
        if self.discovery is not None:
            await self.discovery.aclose()
