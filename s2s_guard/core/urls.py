"""RFC 8414 §3 and RFC 7662 §4: every URL the guard fetches is https, except on loopback.

A JWKS, metadata or introspection URL over plain http lets anyone on the network path swap
the keys or the verdict. Loopback (127.0.0.0/8, ::1, ``localhost``) never leaves the
machine, so tests and a local identity provider keep working; any other http URL needs an
issuer's ``allow_insecure_http = true`` (development only).
"""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlsplit

__all__ = ["INSECURE_HTTP_FIX", "downgrades", "is_loopback", "plain_http"]

#: The fix a refusal names (config errors and logs).
INSECURE_HTTP_FIX = ("use https://, or a loopback host (127.0.0.1, ::1, localhost); "
                     "allow_insecure_http = true on the issuer allows http (development only)")


def is_loopback(url: str) -> bool:
    """Whether ``url`` plainly names a loopback host (no user info, no backslash, a valid port)."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises ValueError for a bad port
    except ValueError:
        return False
    if host is None or "@" in parts.netloc or "\\" in url:
        return False  # parsers disagree on such authorities: no exemption for them
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http(url: str) -> bool:
    """Whether fetching ``url`` would cross the network without TLS (not https, not loopback http)."""
    return not url.startswith("https://") and not (url.startswith("http://") and is_loopback(url))


def downgrades(source: str, learnt: str) -> bool:
    """Whether ``learnt`` (from the document at ``source``) drops https, or leaves loopback for http."""
    if learnt.startswith("https://"):
        return False
    return source.startswith("https://") or plain_http(learnt)
