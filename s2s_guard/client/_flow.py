"""RFC 6750 §2.1 outbound: attach a cached Bearer token, and on a 401 fetch one new token and retry once.

The flow (:meth:`TokenEndpointAuth._flow`) is a pure generator, as in httpx's ``auth_flow``:
it yields the API request, or a :class:`NeedToken` step. Two short drivers,
``sync_auth_flow`` and ``async_auth_flow``, answer the steps: cache, lock, token request.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from ._client_auth import ClientAuthentication
from ._response import parse_token_response
from ._token_cache import CacheKey, Token, TokenCache, default_cache
from .errors import TokenRequestFailed

__all__ = ["NeedToken", "TokenEndpointAuth"]

@dataclass(frozen=True, slots=True)
class NeedToken:
    """A step of the flow: supply a token, and not ``stale`` (the one the API just refused)."""

    stale: Token | None = None


Step = httpx.Request | NeedToken

def with_bearer(request: httpx.Request, token: Token) -> httpx.Request:
    """``request`` carrying ``Authorization: Bearer <token>`` (RFC 6750 §2.1)."""
    request.headers["Authorization"] = f"Bearer {token.access_token}"
    return request


class TokenEndpointAuth(httpx.Auth):
    """Base of the token-endpoint grants: subclasses say which form to post and the cache key."""

    def __init__(self, token_url: str, credentials: ClientAuthentication, *,
                 cache: TokenCache | None, timeout: float, http_client: httpx.Client | None,
                 async_http_client: httpx.AsyncClient | None, clock: Callable[[], float] | None) -> None:
        self.token_url = token_url
        self.credentials = credentials
        self.cache = default_cache if cache is None else cache
        self.timeout = timeout
        self.http_client = http_client
        self.async_http_client = async_http_client
        self.clock = clock or time.time
        self.token_requests = 0  # how many times this object asked the token endpoint

    # -- what a grant defines --------------------------------------------------------------

    def grant_form(self) -> dict[str, Any]:
        """The grant's form fields (RFC 6749 §4.4.2, RFC 8693 §2.1, ...)."""
        raise NotImplementedError

    def cache_key(self) -> CacheKey:
        raise NotImplementedError

    def _key(self) -> CacheKey:
        """:meth:`cache_key` plus who asks and how they prove it, so no two credentials share a token."""
        # RFC 6749 §2.3: a token is the credential's; a wrong secret, key or auth method never reuses it.
        credentials = self.credentials
        return (*self.cache_key(), self.token_url, credentials.client_id, credentials.method, credentials.digest)

    # -- the pure flow -----------------------------------------------------------------------

    def _flow(self, request: httpx.Request) -> Generator[Step, Any, None]:
        token = yield NeedToken()
        response = yield with_bearer(request, token)
        if response.status_code == 401:
            # RFC 6750 §3.1 invalid_token (revoked, keys rotated): one new token, one retry,
            # and the retry's answer is final, so a second 401 never loops.
            fresh = yield NeedToken(stale=token)
            yield with_bearer(request, fresh)

    def token_request(self, now: float) -> httpx.Request:
        """A fresh POST to the token endpoint (a new client assertion each time)."""
        form = self.grant_form()
        headers = {"Accept": "application/json", **self.credentials.apply(form, self.token_url, now)}
        data = {name: value for name, value in form.items() if value is not None}
        return httpx.Request("POST", self.token_url, data=data, headers=headers)

    def _accept(self, key: CacheKey, response: httpx.Response, now: float) -> Token:
        token = parse_token_response(response, self.token_url, now)
        self.cache.put(key, token)
        return token

    def _failed(self, exc: httpx.HTTPError) -> TokenRequestFailed:
        return TokenRequestFailed(f"token endpoint unreachable: {type(exc).__name__}",
                                  token_url=self.token_url)

    # -- the sync driver ---------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()  # a retry must be able to send the body again
        flow = self._flow(request)
        step = next(flow)
        while True:
            reply = self._sync_token(step.stale) if isinstance(step, NeedToken) else (yield step)
            try:
                step = flow.send(reply)
            except StopIteration:
                return

    def _sync_token(self, stale: Token | None) -> Token:
        key = self._key()
        token = self.cache.get(key, self.clock(), stale)
        if token is not None:
            return token
        with self.cache.lock(key):  # single flight: the others wait, then find it cached
            now = self.clock()
            token = self.cache.get(key, now, stale)
            if token is None:
                token = self._accept(key, self._sync_send(self.token_request(now)), now)
        return token

    def _sync_send(self, request: httpx.Request) -> httpx.Response:
        self.token_requests += 1
        try:
            if self.http_client is not None:
                return self.http_client.send(request)
            with httpx.Client(timeout=self.timeout) as client:
                return client.send(request)
        except httpx.HTTPError as exc:
            raise self._failed(exc) from exc

    # -- the async driver --------------------------------------------------------------------

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        flow = self._flow(request)
        step = next(flow)
        while True:
            reply = await self._async_token(step.stale) if isinstance(step, NeedToken) else (yield step)
            try:
                step = flow.send(reply)
            except StopIteration:
                return

    async def _async_token(self, stale: Token | None) -> Token:
        key = self._key()
        token = self.cache.get(key, self.clock(), stale)
        if token is not None:
            return token
        async with self.cache.alock(key):
            now = self.clock()
            token = self.cache.get(key, now, stale)
            if token is None:
                token = self._accept(key, await self._async_send(self.token_request(now)), now)
        return token

    async def _async_send(self, request: httpx.Request) -> httpx.Response:
        self.token_requests += 1
        try:
            if self.async_http_client is not None:
                return await self.async_http_client.send(request)
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                return await client.send(request)
        except httpx.HTTPError as exc:
            raise self._failed(exc) from exc
