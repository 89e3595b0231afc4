"""What adapters read from a request for DPoP and certificate binding (``s2s_guard.sender``)."""

from __future__ import annotations

from base64 import b64encode
from typing import Any

from s2s_guard.config import TrustedProxyConfig
from s2s_guard.sender import environ_sender, scope_sender

PLAIN = TrustedProxyConfig()


def scope(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": "http", "method": "POST", "scheme": "https", "path": "/a b",
                            "raw_path": b"/a%20b?q=1", "server": ("10.0.0.5", 8443),
                            "headers": [(b"host", b"api.example.com"), (b"dpop", b"proof")]}
    return {**base, **extra}


def test_scope_url_from_host_and_raw_path() -> None:
    facts = scope_sender(scope(), PLAIN)
    assert facts == {"dpop_proof": ["proof"], "method": "POST", "url": "https://api.example.com/a%20b",
                     "client_cert": None}


def test_scope_without_host_or_raw_path() -> None:
    facts = scope_sender(scope(headers=[], raw_path=None), PLAIN)
    assert facts["url"] == "https://10.0.0.5:8443/a%20b" and facts["dpop_proof"] == []


def test_scope_tls_extension_and_header_certificates() -> None:
    tls = {"extensions": {"tls": {"client_cert_chain": ["-----BEGIN CERTIFICATE-----..."]}}}
    assert scope_sender(scope(**tls), PLAIN)["client_cert"] == "-----BEGIN CERTIFICATE-----..."
    header = (b"client-cert", b":" + b64encode(b"der") + b":")
    proxied = TrustedProxyConfig(client_cert_header="client-cert")
    assert scope_sender(scope(headers=[header], **tls), proxied)["client_cert"] == b"der"  # only the header
    assert scope_sender(scope(headers=[header]), PLAIN)["client_cert"] is None  # never by default
    assert scope_sender(scope(headers=[header, header]), proxied)["client_cert"] is None  # ambiguous


def test_environ_url_and_certificates() -> None:
    environ = {"REQUEST_METHOD": "GET", "wsgi.url_scheme": "http", "SERVER_NAME": "internal",
               "SERVER_PORT": "8000", "SCRIPT_NAME": "/app", "PATH_INFO": "/orders/\u00c3\u00a9",  # PEP 3333: latin-1
               "HTTP_DPOP": "p", "SSL_CLIENT_CERT": "PEM"}
    facts = environ_sender(environ, PLAIN)
    assert facts == {"dpop_proof": ["p"], "method": "GET", "url": "http://internal:8000/app/orders/%C3%A9",
                     "client_cert": "PEM"}
    assert environ_sender({**environ, "HTTP_HOST": "h", "RAW_URI": "/raw%2Fpath?x"}, PLAIN)["url"] == "http://h/raw%2Fpath"
    assert environ_sender(environ, PLAIN, scheme="https")["url"].startswith("https://")
    proxied = TrustedProxyConfig(client_cert_header="x-client-cert")
    assert environ_sender(environ, proxied)["client_cert"] is None  # the header wins over the server
    with_header = {**environ, "HTTP_X_CLIENT_CERT": ":" + b64encode(b"der").decode() + ":"}
    assert environ_sender(with_header, proxied)["client_cert"] == b"der"


def test_environ_proxy_headers_only_when_trusted() -> None:
    environ = {"REQUEST_METHOD": "GET", "wsgi.url_scheme": "http", "HTTP_HOST": "internal:8000",
               "PATH_INFO": "/orders", "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "api.example.com"}
    assert environ_sender(environ, PLAIN)["url"] == "http://internal:8000/orders"
    trusted = TrustedProxyConfig(url_headers="x-forwarded")
    assert environ_sender(environ, trusted)["url"] == "https://api.example.com/orders"


def test_websocket_handshake_url_is_http() -> None:
    ws = scope(type="websocket", scheme="wss")
    del ws["method"]
    facts = scope_sender(ws, PLAIN)
    assert facts["url"] == "https://api.example.com/a%20b" and facts["method"] == "GET"
