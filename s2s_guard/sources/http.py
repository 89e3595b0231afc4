"""RFC 9110 transport for sans-I/O flows: the only place that calls httpx.

:func:`drive_sync` and :func:`adrive` run a :data:`~s2s_guard.core.flow.Flow` to its result
(httpx's ``sync_auth_flow`` / ``async_auth_flow`` pattern). Every request has a timeout and a
body size limit; a transport error becomes a ``status == 0`` response, never an exception.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import AsyncGenerator
from typing import Any, TypeVar

import httpx

from ..core.flow import Flow, HTTPRequest, HTTPResponse
from ..errors import ConfigurationError

__all__ = ["Transport", "adrive", "drive_sync", "trust_only"]

T = TypeVar("T")
_SSL: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for all clients (building one per client is slow)."""
    global _SSL
    if _SSL is None:
        _SSL = httpx.create_ssl_context()
    return _SSL


def trust_only(ca_bundle: str, key: str = "ca_bundle") -> ssl.SSLContext:
    """A verifying TLS context trusting only the CA certificates in the PEM file ``ca_bundle``."""
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(key, f"cannot load {ca_bundle!r} as PEM CA certificates ({exc}): give the "
                                 "path of a PEM file holding the CA certificate that signs the server's") from exc


def _response(raw: httpx.Response, body: bytes) -> HTTPResponse:
    headers = {name.lower(): value for name, value in raw.headers.items()}
    return HTTPResponse(raw.status_code, headers, body)


def _too_large(request: HTTPRequest) -> HTTPResponse:
    return HTTPResponse(0, error=f"response body over {request.max_bytes} bytes")


class _Body:
    """A response body read chunk by chunk, refused past ``limit`` bytes (never read whole first)."""

    def __init__(self, limit: int) -> None:
        self.data, self.limit = bytearray(), limit

    def add(self, chunk: bytes) -> bool:
        self.data += chunk
        return len(self.data) <= self.limit


def _stream_args(request: HTTPRequest) -> dict[str, Any]:
    return {"method": request.method, "url": request.url, "headers": dict(request.headers),
            "content": request.body or None, "timeout": request.timeout}


def _failed(exc: httpx.HTTPError) -> HTTPResponse:
    return HTTPResponse(0, error=f"{type(exc).__name__}: {exc}")


def send_sync(client: httpx.Client, request: HTTPRequest) -> HTTPResponse:
    """Send one request; read at most ``max_bytes``; transport errors become ``status == 0``."""
    try:
        with client.stream(**_stream_args(request)) as raw:
            body = _Body(request.max_bytes)
            complete = all(body.add(chunk) for chunk in raw.iter_bytes())  # stops at the first over the limit
            return _response(raw, bytes(body.data)) if complete else _too_large(request)
    except httpx.HTTPError as exc:
        return _failed(exc)


async def asend(client: httpx.AsyncClient, request: HTTPRequest) -> HTTPResponse:
    """Async twin of :func:`send_sync`."""
    try:
        async with client.stream(**_stream_args(request)) as raw:
            body = _Body(request.max_bytes)
            async for chunk in raw.aiter_bytes():
                if not body.add(chunk):
                    return _too_large(request)
            return _response(raw, bytes(body.data))
    except httpx.HTTPError as exc:
        return _failed(exc)


def drive_sync(flow: Flow[T], transport: Transport) -> T:
    """Run a flow to its result with the blocking client."""
    client = transport.client()
    try:
        request = next(flow)
        while True:
            request = flow.send(send_sync(client, request))
    except StopIteration as stop:
        result: T = stop.value
        return result


async def adrive(flow: Flow[T], transport: Transport) -> T:
    """Run a flow to its result with the transport's pooled async client for this event loop."""
    client = await transport.aclient()
    try:
        request = next(flow)
        while True:
            request = flow.send(await asend(client, request))
    except StopIteration as stop:
        result: T = stop.value
        return result


async def _closed_with_the_loop(client: httpx.AsyncClient) -> AsyncGenerator[None]:
    """An async generator the loop tracks once started: ``loop.shutdown_asyncgens()`` (which
    ``asyncio.run`` calls before closing the loop) closes it, and so the client, on that loop."""
    try:
        yield
    finally:
        await client.aclose()


class Transport:
    """The HTTP clients of one source: a pooled blocking client and a pooled async client per
    event loop, each keeping its connections to the identity provider alive between calls.

    An ``httpx.AsyncClient`` belongs to the event loop that opened its connections, and a
    guard may serve several loops (tests, ``asyncio.run`` per call), so each loop gets its own.
    :meth:`aclose` closes the running loop's; a loop that ends without it (``asyncio.run``,
    ``anyio.run``, uvicorn) closes its client in ``shutdown_asyncgens``, so no socket outlives
    its loop. All share the TLS context, which is the expensive part to build.
    """

    def __init__(self, ca_bundle: str | None = None) -> None:
        self._client: httpx.Client | None = None
        self._aclients: dict[asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, AsyncGenerator[None]]] = {}
        self._lock = threading.Lock()
        #: An issuer's ``ca_bundle``: verify its servers with these CA certificates only, not the system's.
        self._ssl = trust_only(ca_bundle) if ca_bundle is not None else None

    def _verify(self) -> ssl.SSLContext:
        return self._ssl or _ssl_context()

    def client(self) -> httpx.Client:
        """The pooled blocking client (thread-safe), created on first use."""
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(verify=self._verify(), follow_redirects=False)
            return self._client

    async def aclient(self) -> httpx.AsyncClient:
        """The running event loop's pooled async client, created on first use."""
        loop = asyncio.get_running_loop()
        entry = self._aclients.get(loop)
        if entry is None:
            client = httpx.AsyncClient(verify=self._verify(), follow_redirects=False)
            closer = _closed_with_the_loop(client)
            await closer.__anext__()  # now tracked by the loop (no suspension: nothing can race us here)
            with self._lock:
                for gone in [other for other in self._aclients if other.is_closed()]:
                    del self._aclients[gone]  # closed by its loop's shutdown_asyncgens
                entry = self._aclients[loop] = (client, closer)
        return entry[0]

    def close(self) -> None:
        """Close the pooled blocking client (idempotent); async clients close with :meth:`aclose`."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    async def aclose(self) -> None:
        """Close the blocking client and this event loop's async client (idempotent)."""
        self.close()
        with self._lock:
            entry = self._aclients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()  # runs its ``finally``: the client's aclose()
