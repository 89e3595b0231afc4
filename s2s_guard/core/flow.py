"""RFC 9110 exchanges as plain data, so JWKS, discovery and introspection flows stay sans-I/O.

A flow is a generator that yields an :class:`HTTPRequest`, receives the :class:`HTTPResponse`
and finally returns its result, the way httpx's ``Auth.auth_flow`` works; the sync and async
drivers in :mod:`s2s_guard.sources.http` perform the I/O. A transport failure (refused,
timeout, oversize body) arrives as a response with ``status == 0`` and an ``error`` for logs.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["Flow", "HTTPRequest", "HTTPResponse", "cache_max_age", "retry_after"]

T = TypeVar("T")
#: A flow yields requests, is sent responses, and returns ``T``.
Flow = Generator["HTTPRequest", "HTTPResponse", T]

_MAX_AGE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(no-store|no-cache)\s*(?:,|=|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    """One request to send: the driver applies ``timeout`` and refuses bodies over ``max_bytes``."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    timeout: float = 5.0
    max_bytes: int = 512 * 1024


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """What came back; ``status == 0`` means no usable response (see ``error``)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    content: bytes = b""
    error: str = ""

    @property
    def media_type(self) -> str:
        """The ``Content-Type`` without parameters, lower-cased."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def describe(self) -> str:
        """A short description for logs (never the body)."""
        return self.error or f"HTTP {self.status}"


def cache_max_age(headers: Mapping[str, str]) -> float | None:
    """RFC 9111 §5.2.2: the response's ``max-age`` (0 for no-store/no-cache), or ``None`` if absent."""
    value = headers.get("cache-control", "")
    if _NO_CACHE.search(value):
        return 0.0
    match = _MAX_AGE.search(value)
    return float(match.group(2)) if match else None


def retry_after(seconds: float) -> int:
    """A ``Retry-After`` delay in whole seconds, at least 1 (RFC 9110 §10.2.3)."""
    return max(1, int(seconds + 0.999))
