"""Helpers for the profile tests: real-format samples, generated certificates, signing, drivers.

Samples live in ``tests/fixtures/profiles``; :func:`retime` moves their ``nbf``/``exp``/``iat``
around ``NOW`` while keeping each value's JSON type (SharePoint's digit strings stay strings).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from s2s_guard import AuthError, Guard, Principal
from s2s_guard.core.keys import b64url

NOW = 1_700_000_000
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "profiles"


def sample(name: str) -> dict[str, Any]:
    """A fixture document (a fresh copy each time)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def retime(claims: Mapping[str, Any], *, nbf: int = NOW - 60, exp: int = NOW + 3600,
           drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """``claims`` valid at ``NOW`` (times keep their JSON type), ``changes`` applied (None drops), ``drop`` removed."""
    out = dict(claims)
    for name, value in (("nbf", nbf), ("iat", nbf), ("exp", exp)):
        if name in out:
            out[name] = str(value) if isinstance(out[name], str) else value
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None and k not in drop}


@dataclass(frozen=True)
class Signer:
    """An RSA key and its self-signed certificate, as an add-in or a token service holds them."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)

    @property
    def x5t(self) -> str:
        """The certificate thumbprint: base64url SHA-1 of the DER bytes."""
        return b64url(hashlib.sha1(self.der).digest())

    @property
    def der_b64(self) -> str:
        return base64.b64encode(self.der).decode("ascii")

    def sign(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        """A compact RS256 JWS of exactly this header and these claims."""
        signing_input = f"{_part(header)}.{_part(claims)}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


def make_signer(common_name: str) -> Signer:
    """A 2048-bit RSA key and a self-signed certificate built with the x509 builder."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return Signer(key, cert)


def _part(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unsecured(header: Mapping[str, Any], claims: Mapping[str, Any], signature: bytes = b"") -> str:
    """An unsecured JWS (RFC 7519 §6): ``alg: none`` and an empty signature."""
    return f"{_part(header)}.{_part(claims)}.{b64url(signature)}"


def outcome(guard: Guard, token: str, requirement: Any = None) -> Principal | AuthError:
    """Run both drivers on ``token``; they must agree. Returns the principal or the error."""
    def sync() -> Principal:
        return guard.authenticate_sync("Bearer " + token, requirement)

    def in_event_loop() -> Principal:
        return anyio.run(guard.authenticate, "Bearer " + token, requirement)

    results: list[Principal | AuthError] = []
    for run in (sync, in_event_loop):
        try:
            results.append(run())
        except AuthError as exc:
            results.append(exc)
    assert type(results[0]) is type(results[1])
    return results[1]


def accepted(guard: Guard, token: str, requirement: Any = None) -> Principal:
    result = outcome(guard, token, requirement)
    assert isinstance(result, Principal), f"refused: {result!r} {getattr(result, 'detail', '')}"
    return result


def refused(guard: Guard, token: str, error: type[AuthError], requirement: Any = None) -> AuthError:
    result = outcome(guard, token, requirement)
    assert isinstance(result, error), f"expected {error.__name__}, got {result!r} {getattr(result, 'detail', '')}"
    return result


def guard_for(issuers: list[dict[str, Any]], *, audience: str = "api://orders",
              grants: list[dict[str, Any]] | None = None, **kwargs: Any) -> Guard:
    """A guard at ``NOW`` without the verified-token cache (each check runs in full)."""
    config: dict[str, Any] = {"audience": [audience], "issuers": issuers, "cache": {"verified": False}}
    if grants is not None:
        config["grants"] = grants
    return Guard.from_config(config, clock=lambda: float(NOW), **kwargs)


@contextmanager
def json_server(routes: dict[str, Callable[[], Any]]) -> Iterator[tuple[str, dict[str, int]]]:
    """A real HTTP server on 127.0.0.1 serving JSON documents; yields (base URL, hit counts)."""
    hits: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            path = self.path.split("?", 1)[0]
            hits[path] = hits.get(path, 0) + 1
            route = routes.get(path)
            body = json.dumps(route()).encode() if route else b"{}"
            self.send_response(200 if route else 404)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
