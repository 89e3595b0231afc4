"""What sender-constrained checks read from a request: method, URL, DPoP proofs, client certificate.

RFC 9449 §4.3 compares a proof's ``htu`` with the URL the client sent the request to. Behind a
reverse proxy, that URL's scheme and host reach the application only in headers the proxy
sets, so they are read only when ``[trusted_proxy] url_headers`` names them ("forwarded":
RFC 7239; "x-forwarded": X-Forwarded-Proto, -Host and -Prefix); the last value is taken, the
one the nearest proxy wrote. The client certificate (RFC 8705) comes from the TLS connection
(the ASGI TLS extension's ``client_cert_chain``, a WSGI server's ``SSL_CLIENT_CERT``) or, when
``[trusted_proxy] client_cert_header`` is set, only from that header (RFC 9440 ``Client-Cert``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import quote

from .config import TrustedProxyConfig
from .core.mtls import certificate_from_header

if TYPE_CHECKING:
    from .guard import Guard
    from .policy import Requirement

__all__ = ["SenderKwargs", "environ_kwargs", "environ_sender", "scope_kwargs", "scope_sender", "wanted"]

_SAFE_PATH = "/:@!$&'()*+,;=-._~%"  # RFC 3986 pchar and "/": left as the client sent them
_HANDSHAKE_SCHEMES = {"ws": "http", "wss": "https"}


class SenderKwargs(TypedDict, total=False):
    """The keyword arguments :meth:`Guard.authenticate` takes for DPoP and certificate binding."""

    dpop_proof: list[str]
    method: str
    url: str
    client_cert: str | bytes | None


def wanted(guard: Guard, requirement: Requirement | None = None) -> bool:
    """Whether the guard needs these facts for this request (no work at all on plain Bearer setups)."""
    return guard.sender_constrained or (requirement is not None and requirement.dpop is not None)


def _last(value: str | None) -> str | None:
    """The last comma-separated member of a header (the one the nearest proxy added)."""
    if value is None:
        return None
    last = value.rsplit(",", 1)[-1].strip(" \t")
    return last or None


def _forwarded(value: str | None) -> dict[str, str]:
    """RFC 7239 §4: the pairs of the last ``Forwarded`` element, names lower-cased, quotes removed."""
    element = _last(value) or ""
    pairs = (pair.partition("=") for pair in element.split(";"))
    return {name.strip().lower(): raw.strip().strip('"') for name, _, raw in pairs if raw}


def _public_url(get: Callable[[str], str | None], scheme: str, host: str, path: str,
                proxy: TrustedProxyConfig) -> str:
    """The URL the client used: the server's view, or the trusted proxy's headers when configured."""
    if proxy.url_headers == "forwarded":
        pairs = _forwarded(get("forwarded"))
        scheme, host = pairs.get("proto", scheme), pairs.get("host", host)
    elif proxy.url_headers == "x-forwarded":
        scheme = _last(get("x-forwarded-proto")) or scheme
        host = _last(get("x-forwarded-host")) or host
        path = (_last(get("x-forwarded-prefix")) or "").rstrip("/") + path
    return f"{scheme}://{host}{path}"


def _header_cert(value: str | None) -> bytes | None:
    try:
        return None if value is None else certificate_from_header(value)
    except ValueError:
        return None  # unreadable: a certificate-bound token is then refused


# -- ASGI --------------------------------------------------------------------------------------

def _scope_header(scope: Mapping[str, Any], name: bytes) -> str | None:
    values = [v for k, v in scope["headers"] if k == name]
    return values[0].decode("latin-1") if len(values) == 1 else None


def _quote_path(path: str) -> str:
    """A decoded path percent-encoded as UTF-8; never raises (a lone surrogate becomes "?")."""
    return quote(path, safe=_SAFE_PATH, errors="replace")


def _scope_path(scope: Mapping[str, Any]) -> str:
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.split(b"?", 1)[0].decode("latin-1")  # as the client sent it (no query)
    return _quote_path(str(scope.get("path", "/")))


def _scope_cert(scope: Mapping[str, Any], proxy: TrustedProxyConfig) -> str | bytes | None:
    if proxy.client_cert_header is not None:
        return _header_cert(_scope_header(scope, proxy.client_cert_header.encode("latin-1")))
    tls = scope.get("extensions", {}).get("tls") or {}
    chain = tls.get("client_cert_chain") if isinstance(tls, Mapping) else None
    return chain[0] if chain and isinstance(chain[0], (str, bytes)) else None  # ASGI TLS: PEM, client first


def scope_sender(scope: Mapping[str, Any], proxy: TrustedProxyConfig) -> SenderKwargs:
    """The facts of an ASGI HTTP (or websocket) request."""
    server = scope.get("server") or ("localhost", None)
    host = _scope_header(scope, b"host") or (f"{server[0]}:{server[1]}" if server[1] else str(server[0]))
    scheme = str(scope.get("scheme", "http"))
    scheme = _HANDSHAKE_SCHEMES.get(scheme, scheme)  # RFC 6455 §3: a handshake is an HTTP GET
    url = _public_url(lambda name: _scope_header(scope, name.encode("latin-1")), scheme, host,
                      _scope_path(scope), proxy)
    proofs = [v.decode("latin-1") for k, v in scope["headers"] if k == b"dpop"]
    return {"dpop_proof": proofs, "method": str(scope.get("method", "GET")), "url": url,
            "client_cert": _scope_cert(scope, proxy)}


# -- WSGI (PEP 3333) ----------------------------------------------------------------------------

def _environ_name(name: str) -> str:
    return "HTTP_" + name.upper().replace("-", "_")


def _environ_path(environ: Mapping[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")  # gunicorn, Werkzeug, uWSGI
    if isinstance(raw, str) and raw.startswith("/"):
        return raw.split("?", 1)[0]
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    try:
        path = path.encode("latin-1").decode("utf-8", "replace")  # PEP 3333: bytes held as latin-1
    except UnicodeEncodeError:
        pass  # already text: Django puts its decoded path_info back into META (WSGI and ASGI)
    return _quote_path(path) or "/"


def environ_sender(environ: Mapping[str, Any], proxy: TrustedProxyConfig,
                   scheme: str | None = None) -> SenderKwargs:
    """The facts of a WSGI request (``scheme`` overrides ``wsgi.url_scheme``: Django's ``request.scheme``)."""
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    url = _public_url(lambda name: environ.get(_environ_name(name)),
                      scheme or str(environ.get("wsgi.url_scheme", "http")), str(host),
                      _environ_path(environ), proxy)
    proof = environ.get("HTTP_DPOP")  # PEP 3333 joins repeated headers with ", ": two proofs then fail
    if proxy.client_cert_header is not None:
        cert: str | bytes | None = _header_cert(environ.get(_environ_name(proxy.client_cert_header)))
    else:
        cert = environ.get("SSL_CLIENT_CERT") or None  # mod_wsgi / mod_ssl with +ExportCertData
    return {"dpop_proof": [] if proof is None else [proof], "method": str(environ.get("REQUEST_METHOD", "GET")),
            "url": url, "client_cert": cert}


def scope_kwargs(guard: Guard, scope: Mapping[str, Any], requirement: Requirement | None = None) -> SenderKwargs:
    """:func:`scope_sender` when the guard needs it, else nothing (``**`` into ``authenticate``)."""
    return scope_sender(scope, guard.config.trusted_proxy) if wanted(guard, requirement) else {}


def environ_kwargs(guard: Guard, environ: Mapping[str, Any], requirement: Requirement | None = None,
                   scheme: str | None = None) -> SenderKwargs:
    """:func:`environ_sender` when the guard needs it, else nothing (``**`` into ``authenticate_sync``)."""
    return environ_sender(environ, guard.config.trusted_proxy, scheme) if wanted(guard, requirement) else {}
