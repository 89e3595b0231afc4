"""Real TLS on loopback for the RFC 8705 tests: a CA and certificates, uvicorn with client
certificates, the ASGI TLS extension, and a small TLS-terminating proxy.

uvicorn (0.54) verifies client certificates (``ssl_cert_reqs``) but does not pass them to the
application: it does not implement the ASGI TLS extension. :class:`TLSExtensionProtocol` is
uvicorn's own h11 protocol plus ``scope["extensions"]["tls"]["client_cert_chain"]`` from the
connection, as a server implementing the extension fills it. :class:`TLSProxy` is what a
deployment usually runs instead: a TLS terminator that checks the client certificate and
forwards it to the application in an RFC 9440 ``Client-Cert`` header.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
import threading
from base64 import b64encode
from contextlib import AbstractContextManager
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from loopback import free_port, serve_uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path

    @property
    def der(self) -> bytes:
        return x509.load_pem_x509_certificate(self.cert.read_bytes()).public_bytes(serialization.Encoding.DER)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    (folder / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{stem}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return Issued(folder / f"{stem}.pem", folder / f"{stem}.key")


class CA:
    """A throw-away certificate authority issuing server and client certificates (P-256)."""

    def __init__(self, folder: Path, name: str = "s2s-guard test CA") -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = _write(folder, name.replace(" ", "-"), self.cert, self.key).cert

    def issue(self, cn: str, *, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage(
                       [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
        return _write(self.folder, cn, builder.sign(self.key, hashes.SHA256()), key)

    def client_context(self, client: Issued | None) -> ssl.SSLContext:
        """What httpx gets as ``verify``: trusts this CA, presents ``client`` when given."""
        context = ssl.create_default_context(cafile=str(self.pem))
        if client is not None:
            context.load_cert_chain(str(client.cert), str(client.key))
        return context


class TLSExtensionProtocol(H11Protocol):
    """uvicorn's h11 protocol, adding the ASGI TLS extension's ``client_cert_chain`` (PEM)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_chain": chain, "server_cert": None}
            await inner(scope, receive, send)

        self.app = app


def serve_tls(app: Any, ca: CA, server: Issued) -> AbstractContextManager[int]:
    """uvicorn over TLS, client certificates optional and passed on by the ASGI TLS extension; yields the port."""
    return serve_uvicorn(app, http=TLSExtensionProtocol, ssl_certfile=str(server.cert), ssl_keyfile=str(server.key),
                         ssl_ca_certs=str(ca.pem), ssl_cert_reqs=ssl.CERT_OPTIONAL)


class TLSProxy:
    """A TLS terminator on loopback: verifies the client certificate, forwards each HTTP/1.1
    request to ``upstream`` with ``Client-Cert: :<base64 DER>:`` (RFC 9440), removing any
    ``Client-Cert`` the client sent. One request per connection; enough for the tests."""

    def __init__(self, server: Issued, ca: Path, upstream: int) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
        self.context.load_cert_chain(str(server.cert), str(server.key))
        self.context.verify_mode = ssl.CERT_OPTIONAL
        self.upstream = upstream
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[:-2]
            headers = [h for h in lines[1:] if not h.lower().startswith(("client-cert:", "connection:"))]
            length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
            body = await reader.readexactly(length)
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            if der:
                headers.append(f"Client-Cert: :{b64encode(der).decode()}:")
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
            up_writer.write("\r\n".join([lines[0], *headers, "Connection: close", "", ""]).encode("latin-1") + body)
            await up_writer.drain()
            writer.write(await up_reader.read())
            await writer.drain()
            up_writer.close()
        finally:
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, ssl=self.context))
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    def __enter__(self) -> TLSProxy:
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
