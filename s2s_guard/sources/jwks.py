"""RFC 7517 §5 JWK Sets: static keys loaded at start-up and a robust remote JWKS fetcher.

The cache policy (:class:`~s2s_guard.core.jwks.JWKSState`, after panva/jose
``jwks/remote.ts``) is pure and shared by the sync and async drivers: cached keys are served
without I/O; a refetch happens when the keys are stale (``Cache-Control: max-age`` within
``[min_age, max_age]``), or for an unknown ``kid`` at most once per ``cooldown`` however many
requests carry it; one fetch in flight (single flight); a failed or garbage fetch keeps the
last good keys for at most ``stale_if_error`` more seconds. With no usable keys the answer is
503 with ``Retry-After``: fail closed, never 500. With Redis, workers share fetched documents.
Refetches send ``If-None-Match`` (a 304 renews the keys); once ``refresh_ahead`` of the keys'
lifetime has passed, the request that notices starts one background refresh (a task on its
event loop, or a daemon thread for the sync driver) and goes on with the still-fresh keys.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..config import IssuerConfig
from ..core.flow import Flow, HTTPResponse
from ..core.jwks import JWKSState, parse_jwks
from ..core.keys import KeySet, VerificationKey, load_certificate
from ..core.sharepoint import parse_metadata
from ..errors import ConfigurationError
from .cache import SharedCache
from .discovery import Discovery, PooledClients
from .flight import AsyncFlights, SyncFlights
from .http import Transport, adrive, drive_sync
from .shared_flight import alead, lead_sync

if TYPE_CHECKING:
    from ..telemetry.base import Telemetry

__all__ = ["JWKSState", "KeySource", "RemoteJWKS", "StaticKeys", "key_source_for", "parse_jwks"]

log = logging.getLogger("s2s_guard.jwks")


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


class RemoteJWKS(PooledClients):
    """A JWKS URI (given, or from discovery) cached per :class:`JWKSState`; sync and async."""

    def __init__(self, uri: str | None, *, max_age: float = 600, cooldown: float = 30,
                 timeout: float = 5, static: KeySet | None = None, min_age: float = 60,
                 stale_if_error: float = 86400, discovery: Discovery | None = None,
                 parse: Callable[[HTTPResponse], KeySet] = parse_jwks,
                 refresh_ahead: float = 0.8, ca_bundle: str | None = None) -> None:
        if uri is None and discovery is None:
            raise ConfigurationError("jwks_uri", "RemoteJWKS needs a jwks_uri or discovery")
        self.uri = uri
        self.discovery = discovery
        self.timeout = timeout
        self.static = static or KeySet()
        self.state = JWKSState(max_age=max_age, cooldown=cooldown, min_age=min_age,
                               stale_if_error=stale_if_error, parse=parse, refresh_ahead=refresh_ahead)
        self.fetches = 0
        self.transport = Transport(ca_bundle)
        self._flights: SyncFlights[None] = SyncFlights()
        self._aflights: AsyncFlights[None] = AsyncFlights()
        self._combined: tuple[KeySet | None, KeySet] = (None, self.static)
        self._shared: SharedCache | None = None
        #: Where fetch results and stale serves are reported, under ``issuer_name``; set by the guard.
        self.telemetry: Telemetry | None = None
        self.issuer_name = ""
        # Keyed by URL, so guards of any configuration share what the URL serves; a document found
        # through discovery also by the issuer that discovery checked (RFC 8414 §3.3).
        origin = uri or (f"{discovery.url} {discovery.issuer}" if discovery is not None else "")
        self._shared_key = "j:" + hashlib.sha256(origin.encode()).hexdigest()

    @property
    def shared(self) -> SharedCache | None:
        """The shared layer (Redis) where workers exchange fetched documents; set by the guard."""
        return self._shared

    @shared.setter
    def shared(self, shared: SharedCache | None) -> None:
        self._shared = shared
        if self.discovery is not None:
            self.discovery.shared = shared  # its document too: one fetch per deployment

    def flow(self, header: Mapping[str, Any], now: float, seq: int | None = None) -> Flow[None]:
        """Resolve the URI (discovery), claim the fetch (unless ``seq`` was claimed ahead), apply the response."""
        uri = self.uri
        if uri is None and self.discovery is not None:
            metadata = yield from self.discovery.flow(now)
            uri = metadata.jwks_uri if metadata is not None else None
        if seq is None and uri is not None:
            seq = self.state.claim(header, now)
        if uri is None or seq is None:
            return
        self.fetches += 1
        response = yield self.state.request(uri, self.timeout)
        self.state.apply(seq, response, now)
        if self.telemetry is not None:
            result = "error" if self.state.failed else "not_modified" if response.status == 304 else "ok"
            self.telemetry.jwks_refresh(self.issuer_name, result)

    def _result(self, header: Mapping[str, Any], now: float) -> KeySet:
        if self.static and self.static.has_identifier(header):
            return self.static
        current = self.state.current(header, now)
        if self.telemetry is not None and now >= self.state.fresh_until:
            self.telemetry.stale_keys(self.issuer_name)  # past max-age: the refresh failed or cools down
        if not self.static:
            return current
        if self._combined[0] is not current:
            self._combined = (current, current + self.static)
        return self._combined[1]

    def _must_wait(self, header: Mapping[str, Any], now: float, busy: bool) -> bool:
        """Fetch when due; also join a fetch in flight when the header's key is not known yet."""
        if self.static and self.static.has_identifier(header):
            return False  # pinned keys need no I/O
        keys = self.state.keys
        if busy and (keys is None or not keys.has_identifier(header)):
            return True
        return self.state.needs_fetch(header, now)

    def _adopt(self, raw: bytes | None) -> bool:
        """Install a shared document if it is newer than ours; whether it was."""
        try:
            doc = json.loads(raw) if raw is not None else None
            etag = doc.get("etag") if doc is not None else None
            return doc is not None and self.state.adopt(str(doc["jwks"]).encode(), float(doc["fetched_at"]),
                                                        float(doc["fresh_until"]),
                                                        etag if isinstance(etag, str) else None)
        except (ValueError, KeyError, TypeError):
            return False

    def _adopted(self, raw: bytes | None, header: Mapping[str, Any], now: float) -> bool:
        """Whether a newer shared document makes the HTTP fetch unnecessary."""
        if not self._adopt(raw):
            return False
        keys = self.state.keys
        return keys is not None and now < self.state.fresh_until and keys.has_identifier(header)

    @property
    def lock_ttl(self) -> float:
        """How long a worker's lock on this document lasts: discovery and JWKS requests, each timed out."""
        return 2 * self.timeout

    def _refresh_sync(self, header: Mapping[str, Any], now: float, seq: int | None = None) -> None:
        shared = self.shared
        if shared is None:
            self._fetch_sync(header, now, seq)
        elif not self._adopted(shared.get_sync(self._shared_key), header, now):
            # One fetch per deployment: the lock holder fetches, the others adopt what it publishes.
            lead_sync(shared, self._shared_key, self.lock_ttl, lambda: self._fetch_sync(header, now, seq),
                      lambda: self._adopt(shared.get_sync(self._shared_key)) or None)

    def _fetch_sync(self, header: Mapping[str, Any], now: float, seq: int | None) -> bool:
        if self.discovery is not None:
            self.discovery.ensure_sync(now)
        drive_sync(self.flow(header, now, seq), self.transport)
        record = self.state.record(now)
        if self.shared is not None and record is not None:
            self.shared.set_sync(self._shared_key, record, self.state.fresh_until - now)
        return True

    async def _arefresh(self, header: Mapping[str, Any], now: float, seq: int | None = None) -> None:
        shared = self.shared
        if shared is None:
            await self._afetch(header, now, seq)
        elif not self._adopted(await shared.aget(self._shared_key), header, now):
            async def adopt() -> bool | None:
                return self._adopt(await shared.aget(self._shared_key)) or None
            await alead(shared, self._shared_key, self.lock_ttl, lambda: self._afetch(header, now, seq), adopt)

    async def _afetch(self, header: Mapping[str, Any], now: float, seq: int | None) -> bool:
        if self.discovery is not None:
            await self.discovery.aensure(now)
        await adrive(self.flow(header, now, seq), self.transport)
        record = self.state.record(now)
        if self.shared is not None and record is not None:
            await self.shared.aset(self._shared_key, record, self.state.fresh_until - now)
        return True

    def keys_sync(self, header: Mapping[str, Any], now: float) -> KeySet:
        if self._must_wait(header, now, self._flights.busy("jwks")):
            self._flights.run("jwks", lambda: self._refresh_sync(header, now))
        elif now >= self.state.refresh_at:  # refresh ahead, in a daemon thread: nobody waits
            seq = self.state.claim_ahead(now)
            if seq is not None:
                self._flights.start("jwks", lambda: self._refresh_sync(header, now, seq))
        return self._result(header, now)

    async def akeys(self, header: Mapping[str, Any], now: float) -> KeySet:
        if self._must_wait(header, now, self._aflights.busy("jwks")):  # single flight: one fetch for N waiters
            await self._aflights.run("jwks", lambda: self._arefresh(header, now))
        elif now >= self.state.refresh_at:  # refresh ahead, as a task on this loop: nobody waits
            seq = self.state.claim_ahead(now)
            if seq is not None:
                self._aflights.start("jwks", lambda: self._arefresh(header, now, seq))
        return self._result(header, now)


def _static_keys(issuer: IssuerConfig, where: str) -> KeySet:
    keys: list[VerificationKey] = []
    bits = issuer.min_rsa_bits
    if issuer.jwks is not None:
        keys += KeySet.from_jwks(issuer.jwks, min_rsa_bits=bits, issuer=issuer.name).keys
    if issuer.jwks_file is not None:
        try:
            keys += KeySet.from_jwks(json.loads(Path(issuer.jwks_file).read_bytes()),
                                     min_rsa_bits=bits, issuer=issuer.name).keys
        except (OSError, ValueError) as exc:
            raise ConfigurationError(where + "jwks_file", f"cannot load JWK Set: {exc}") from exc
    for i, path in enumerate(issuer.certificates):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"{where}certificates[{i}]", f"cannot read {path}: {exc.strerror}") from exc
        keys.append(load_certificate(data, f"{where}certificates[{i}]", min_rsa_bits=bits))
    if issuer.secret is not None:
        keys.append(VerificationKey(key=issuer.secret))
    return KeySet(keys)


def discovery_for(issuer: IssuerConfig) -> Discovery | None:
    """The metadata fetcher an issuer's ``discovery`` URL describes, if any."""
    if issuer.discovery is None:
        return None
    return Discovery(issuer.discovery, issuer=issuer.issuer, timeout=issuer.timeout,
                     cooldown=issuer.jwks_cooldown, min_age=issuer.jwks_min_age,
                     allow_http=issuer.allow_insecure_http, ca_bundle=issuer.ca_bundle)


def key_source_for(issuer: IssuerConfig, where: str = "", *,
                   discovery: Discovery | None = None) -> KeySource:
    """The key source an issuer's configuration describes (``discovery`` may be shared)."""
    static = _static_keys(issuer, where)
    if issuer.metadata_url is not None:  # SharePoint JSON metadata document: x509 certificates
        return _named(issuer, RemoteJWKS(issuer.metadata_url, max_age=issuer.jwks_max_age, cooldown=issuer.jwks_cooldown,
                          timeout=issuer.timeout, static=static, min_age=issuer.jwks_min_age,
                          stale_if_error=issuer.jwks_stale_if_error, parse=parse_metadata,
                          refresh_ahead=issuer.jwks_refresh_ahead, ca_bundle=issuer.ca_bundle))
    discovery = discovery or discovery_for(issuer)
    if issuer.jwks_uri is None and discovery is None:
        return StaticKeys(static)
    return _named(issuer, RemoteJWKS(issuer.jwks_uri, max_age=issuer.jwks_max_age, cooldown=issuer.jwks_cooldown,
                      timeout=issuer.timeout, static=static, min_age=issuer.jwks_min_age,
                      stale_if_error=issuer.jwks_stale_if_error, discovery=discovery,
                      refresh_ahead=issuer.jwks_refresh_ahead, parse=_jwks_parser(issuer),
                      ca_bundle=issuer.ca_bundle))


def _named(issuer: IssuerConfig, source: RemoteJWKS) -> RemoteJWKS:
    """Name the issuer in the source's warnings (a failed fetch says whose keys, from where)."""
    source.state.issuer = issuer.name
    return source


def _jwks_parser(issuer: IssuerConfig) -> Callable[[HTTPResponse], KeySet]:
    """:func:`parse_jwks` with this issuer's RSA minimum, naming the issuer when it skips a key."""
    return functools.partial(parse_jwks, min_rsa_bits=issuer.min_rsa_bits, issuer=issuer.name)
