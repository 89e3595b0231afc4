"""RFC 7662 introspection client: the I/O around :mod:`s2s_guard.core.introspection`, sync and async.

Results are cached by the token's SHA-256 (never the token): active until
``min(exp, cache_ttl)``, inactive for ``negative_ttl``, in memory and in the shared layer when
there is one. Concurrent requests with the same cold token share one call (single flight). An
endpoint that is down, slow or answers garbage yields an ``error`` result, which the guard
turns into 503 with ``Retry-After``. Only an outage (no answer, 5xx, 429) rests the endpoint:
for ``outage`` seconds after one no call is attempted. A refusal of one call (another 4xx)
fails that token alone, remembered for ``negative_ttl`` so it is not sent again at once.
At most ``max_in_flight`` calls run at once (per process and event loop): the others wait for a
slot no longer than the timeout, so a slow endpoint never draws a pile-up of calls.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ..config import IntrospectionConfig, IssuerConfig, redact_url
from ..core.flow import Flow, HTTPResponse
from ..core.introspection import (IntrospectionResult, build_request, client_assertion, is_outage,
                                  parse_response, response_jws, verify_jwt_response)
from ..core.jws import CompactJWS
from ..core.keys import KeySet
from ..errors import AuthError, ConfigurationError
from .cache import MemoryCache, SharedCache
from .discovery import Discovery, PooledClients
from .flight import AsyncFlights, SyncFlights
from .http import Transport, adrive, drive_sync
from .jwks import KeySource
from .shared_flight import alead, lead_sync

if TYPE_CHECKING:
    from ..telemetry.base import Telemetry

__all__ = ["Introspector"]

log = logging.getLogger("s2s_guard.introspection")


def _load_key(config: IntrospectionConfig) -> Any:
    if config.private_key is None:
        return None
    try:
        return load_pem_private_key(config.private_key, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError("introspection.private_key_file", "not an unencrypted PEM private key") from exc


class Introspector(PooledClients):
    """Asks one authorization server whether tokens are active; caches the answers."""

    #: Default bound on the calls in flight at once (per process and event loop).
    MAX_IN_FLIGHT = 64

    def __init__(self, config: IntrospectionConfig, issuer: IssuerConfig, keys: KeySource, *,
                 discovery: Discovery | None = None, shared: SharedCache | None = None,
                 maxsize: int = 10_000, leeway: float = 60.0, outage: float = 2.0,
                 max_in_flight: int = MAX_IN_FLIGHT, namespace: str = "") -> None:
        self.config, self.issuer, self.keys = config, issuer, keys
        self.discovery, self.shared, self.leeway, self.outage = discovery, shared, leeway, outage
        if discovery is not None and shared is not None:
            discovery.shared = shared  # one discovery fetch per deployment
        self.memory = MemoryCache(maxsize)
        #: Shared keys are "i:<namespace>:<sha>": guards configured differently never share results.
        self._shared_prefix = f"i:{namespace}:" if namespace else "i:"
        self.transport = Transport(issuer.ca_bundle)  # the introspected issuer's server
        self.calls = 0
        #: The endpoint last called (configured, or found by discovery), named in warnings.
        self.url = config.endpoint or ""
        #: Where calls and cache lookups are reported; set by the guard.
        self.telemetry: Telemetry | None = None
        self._key = _load_key(config)
        self._down_until = float("-inf")
        self._flights: SyncFlights[IntrospectionResult] = SyncFlights()
        self._aflights: AsyncFlights[IntrospectionResult] = AsyncFlights()
        self.max_in_flight = max_in_flight
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._aslots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()

    # -- sans-I/O pieces ----------------------------------------------------------------------
    def flow(self, token: str, now: float) -> Flow[HTTPResponse]:
        """Find the endpoint (config or discovery) and POST the token to it."""
        endpoint = self.config.endpoint
        if endpoint is None and self.discovery is not None:
            metadata = yield from self.discovery.flow(now)
            endpoint = metadata.introspection_endpoint if metadata is not None else None
        if endpoint is None:
            return HTTPResponse(0, error="no introspection endpoint (discovery failed)")
        self.url = endpoint  # named in warnings
        self.calls += 1
        config = self.config
        assertion = None if self._key is None else client_assertion(
            client_id=config.client_id, audience=self.issuer.issuer, key=self._key,
            alg=config.private_key_alg, kid=config.private_key_kid, now=now, jti=secrets.token_urlsafe(16))
        response = yield build_request(token, endpoint=endpoint, client_id=config.client_id,
                                       auth_method=config.auth_method, client_secret=config.client_secret,
                                       assertion=assertion, timeout=config.timeout,
                                       accept_jwt=config.jwt_response)
        return response

    def _verdict(self, response: HTTPResponse, jws: CompactJWS | None, keys: KeySet | None,
                 now: float) -> IntrospectionResult:
        if jws is None or keys is None:
            if self.config.jwt_response:
                raise ValueError("expected a signed (RFC 9701) introspection response")
            return parse_response(response)
        return verify_jwt_response(jws, keys, algorithms=self.issuer.algorithms, issuer=self.issuer.issuer,
                                   client_id=self.config.client_id, leeway=self.leeway, now=now)

    def _failure(self, exc: Exception, sha: str, now: float, status: int | None) -> IntrospectionResult:
        """A failed call: an outage (no answer, 5xx, 429) rests the endpoint (see :meth:`_settled`);
        a refusal (3xx, other 4xx) fails this token alone and is not asked again for ``negative_ttl``."""
        outage = status is not None and is_outage(status)
        log.warning("introspection for issuer %r at %s failed for token sha256 %s: %s", self.issuer.name,
                    redact_url(self.url) if self.url else "(no endpoint)", sha[:16], exc)
        if status in (401, 403):  # RFC 7662 §2.3: the server refused this API's own client authentication
            log.error("introspection endpoint refused client %r (HTTP %s): check [introspection] "
                      "client_id and its credentials", self.config.client_id, status)
        result = IntrospectionResult(active=False, error=str(exc) or type(exc).__name__, outage=outage)
        if status is not None and not outage and status != 200 and self.config.negative_ttl > 0:
            # CWE-400: a token the server refuses is not sent again at once (memory only, never shared).
            self.memory.set(sha, result, now + self.config.negative_ttl)
        return self._observed(result)

    def _observed(self, result: IntrospectionResult) -> IntrospectionResult:
        """Report one call's result (active, inactive or error) to the guard's telemetry."""
        if self.telemetry is not None:
            outcome = "error" if result.error else "active" if result.active else "inactive"
            self.telemetry.introspection_call(self.issuer.name, outcome)
        return result

    def _remember(self, sha: str, result: IntrospectionResult, now: float) -> float:
        config = self.config
        expires = result.expires_at(now, cache_ttl=config.cache_ttl, negative_ttl=config.negative_ttl)
        if expires > now:
            self.memory.set(sha, result, expires)
        return expires - now

    def _cached(self, sha: str, raw: bytes | None, now: float) -> IntrospectionResult | None:
        if raw is None:
            return None
        try:
            result = IntrospectionResult.from_json(raw)
        except ValueError:
            return None
        self._remember(sha, result, now)
        return result

    def _unavailable(self, now: float) -> IntrospectionResult | None:
        if now < self._down_until:
            return IntrospectionResult(active=False, error="introspection endpoint recently failed")
        return None

    def _settled(self, result: IntrospectionResult, now: float, started: float) -> IntrospectionResult:
        """After a failed call, rest the endpoint for ``outage`` seconds from when the failure was
        seen: a timeout longer than ``outage`` must not use the window up before it opens."""
        if result.outage:  # only outages: a 4xx for one junk token must not turn every token away
            self._down_until = now + (time.monotonic() - started) + self.outage
        return result

    @property
    def lock_ttl(self) -> float:
        """How long a worker's lock on one token lasts: a wait for a slot and a call, each timed out."""
        return 2 * self.config.timeout

    def _busy(self) -> IntrospectionResult:
        return IntrospectionResult(active=False, error=f"{self.max_in_flight} introspection calls in flight")

    def _loop_slots(self) -> asyncio.Semaphore:
        """This event loop's slots (an asyncio semaphore belongs to one loop)."""
        loop = asyncio.get_running_loop()
        slots = self._aslots.get(loop)
        if slots is None:
            slots = self._aslots[loop] = asyncio.Semaphore(self.max_in_flight)
        return slots

    # -- blocking driver -----------------------------------------------------------------------
    def introspect(self, token: str, sha: str, now: float) -> IntrospectionResult:
        """The (cached) verdict on ``token`` whose SHA-256 hex is ``sha``."""
        result = self.memory.get(sha, now)
        if result is None and self.shared is not None:
            result = self._cached(sha, self.shared.get_sync(self._shared_prefix + sha), now)
        if self.telemetry is not None:
            self.telemetry.cache_lookup("introspection", result is not None)
        return result or self._unavailable(now) or self._flights.run(
            sha, lambda: self._deployment_sync(token, sha, now))

    def _deployment_sync(self, token: str, sha: str, now: float) -> IntrospectionResult:
        """One call per token across the deployment: the lock holder calls, the others read its result."""
        shared, key = self.shared, self._shared_prefix + sha
        if shared is None:
            return self._bounded_sync(token, sha, now)
        return lead_sync(shared, key, self.lock_ttl, lambda: self._bounded_sync(token, sha, now),
                         lambda: self._cached(sha, shared.get_sync(key), now))

    def _bounded_sync(self, token: str, sha: str, now: float) -> IntrospectionResult:
        """:meth:`_call_sync` in one of ``max_in_flight`` slots, waited for up to the timeout."""
        started = time.monotonic()
        if not self._slots.acquire(timeout=self.config.timeout):
            return self._busy()
        try:  # a slot freed by a failed call finds the endpoint resting: no second wave
            return self._unavailable(now + time.monotonic() - started) or self._settled(
                self._call_sync(token, sha, now), now, started)
        finally:
            self._slots.release()

    def _call_sync(self, token: str, sha: str, now: float) -> IntrospectionResult:
        response = None
        if self.discovery is not None:
            self.discovery.ensure_sync(now)
        try:
            response = drive_sync(self.flow(token, now), self.transport)
            jws = response_jws(response)
            keys = None if jws is None else self.keys.keys_sync(jws.header, now)
            result = self._verdict(response, jws, keys, now)
        except (ValueError, AuthError) as exc:
            return self._failure(exc, sha, now, None if response is None else response.status)
        ttl = self._remember(sha, self._observed(result), now)
        if self.shared is not None:
            self.shared.set_sync(self._shared_prefix + sha, result.to_json(), ttl)
        return result

    # -- async driver --------------------------------------------------------------------------
    async def aintrospect(self, token: str, sha: str, now: float) -> IntrospectionResult:
        """Async twin of :meth:`introspect`."""
        result = self.memory.get(sha, now)
        if result is None and self.shared is not None:
            result = self._cached(sha, await self.shared.aget(self._shared_prefix + sha), now)
        if self.telemetry is not None:
            self.telemetry.cache_lookup("introspection", result is not None)
        return result or self._unavailable(now) or await self._aflights.run(
            sha, lambda: self._adeployment(token, sha, now))

    async def _adeployment(self, token: str, sha: str, now: float) -> IntrospectionResult:
        """Async twin of :meth:`_deployment_sync`."""
        shared, key = self.shared, self._shared_prefix + sha
        if shared is None:
            return await self._abounded(token, sha, now)

        async def adopt() -> IntrospectionResult | None:
            return self._cached(sha, await shared.aget(key), now)
        return await alead(shared, key, self.lock_ttl, lambda: self._abounded(token, sha, now), adopt)

    async def _abounded(self, token: str, sha: str, now: float) -> IntrospectionResult:
        """Async twin of :meth:`_bounded_sync`."""
        started, slots = time.monotonic(), self._loop_slots()
        try:
            await (asyncio.wait_for(slots.acquire(), self.config.timeout) if slots.locked() else slots.acquire())
        except asyncio.TimeoutError:
            return self._busy()
        try:
            return self._unavailable(now + time.monotonic() - started) or self._settled(
                await self._acall(token, sha, now), now, started)
        finally:
            slots.release()

    async def _acall(self, token: str, sha: str, now: float) -> IntrospectionResult:
        response = None
        if self.discovery is not None:
            await self.discovery.aensure(now)
        try:
            response = await adrive(self.flow(token, now), self.transport)
            jws = response_jws(response)
            keys = None if jws is None else await self.keys.akeys(jws.header, now)
            result = self._verdict(response, jws, keys, now)
        except (ValueError, AuthError) as exc:
            return self._failure(exc, sha, now, None if response is None else response.status)
        ttl = self._remember(sha, self._observed(result), now)
        if self.shared is not None:
            await self.shared.aset(self._shared_prefix + sha, result.to_json(), ttl)
        return result
