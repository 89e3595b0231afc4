"""TLS for the local issuer (RFC 8446, RFC 5280): a throwaway CA, a loopback server certificate.

Clients that insist on https (MSAL, most OAuth libraries) reach the local issuer through a
server certificate for ``127.0.0.1``, ``::1`` and ``localhost``, signed by a CA generated for
this process. The CA's PEM bundle is written to a private temporary directory (removed when
the :class:`LocalCA` is collected) so httpx, requests and MSAL can verify the issuer with it.
The keys never leave the process; they are for local testing only.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import ssl
import tempfile
import weakref
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._server import IssuerHTTPServer

__all__ = ["LocalCA", "TLSIssuerServer"]

_LOOPBACK = (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1")))
_HANDSHAKE_TIMEOUT = 10.0


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: str, public: ec.EllipticCurvePublicKey, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))


def _usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not sign_certs, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=sign_certs,
                         crl_sign=sign_certs, encipher_only=False, decipher_only=False)


class LocalCA:
    """A CA made for this process and a server certificate it signed for the loopback names.

    ``ca_bundle`` is the path of the CA certificate (PEM): give it to the client that must trust
    the issuer (``verify=`` in httpx, requests and MSAL; ``ca_bundle`` in a guard's issuer entry).
    """

    def __init__(self, *, days: int = 7) -> None:
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_public = self._ca_key.public_key()
        # RFC 5280 §4.2.1.9: a CA certificate says so, critically; §4.2.1.3: it signs certificates
        self.ca_certificate = (_builder("s2s-guard local test CA", "s2s-guard local test CA", ca_public, days)
                               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                               .add_extension(_usage(sign_certs=True), critical=True)
                               .sign(self._ca_key, hashes.SHA256()))
        self._key = ec.generate_private_key(ec.SECP256R1())
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public)
        # RFC 6125 §6.4.4: the names are checked in subjectAltName, never the common name
        self.certificate = (_builder("localhost", "s2s-guard local test CA", self._key.public_key(), days)
                            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                            .add_extension(_usage(sign_certs=False), critical=True)
                            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                            .add_extension(x509.SubjectAlternativeName(list(_LOOPBACK)), critical=False)
                            .add_extension(aki, critical=False)
                            .sign(self._ca_key, hashes.SHA256()))
        self.directory = Path(tempfile.mkdtemp(prefix="s2s-guard-ca-"))  # mode 0700
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.directory, ignore_errors=True)
        self.ca_bundle = str(self.directory / "ca.pem")
        Path(self.ca_bundle).write_bytes(self.ca_certificate.public_bytes(Encoding.PEM))
        self._chain = self.directory / "server.pem"  # key and certificate, for load_cert_chain
        self._chain.write_bytes(self._key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
                                + self.certificate.public_bytes(Encoding.PEM))
        self._context: ssl.SSLContext | None = None

    def server_context(self) -> ssl.SSLContext:
        """The server side TLS context (TLS 1.2 or later) presenting the loopback certificate."""
        if self._context is None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(self._chain)
            self._context = context
        return self._context

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context trusting this CA only (for httpx: ``verify=ca.client_context()``)."""
        return ssl.create_default_context(cafile=self.ca_bundle)

    def remove(self) -> None:
        """Delete the bundle and key files now (also done when the object is collected)."""
        self._finalizer()


class TLSIssuerServer(IssuerHTTPServer):
    """The issuer's server, each connection wrapped in TLS in its own thread (a slow or
    refusing client never blocks the accept loop); failed handshakes are dropped quietly."""

    def __init__(self, address: tuple[str, int], handler: Any, context: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(_HANDSHAKE_TIMEOUT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):  # a client that does not trust the CA hangs up here
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            _close(tls)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a TLS or connection error on one request is that client's problem, not a crash


def _close(tls: ssl.SSLSocket) -> None:
    try:
        tls.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    tls.close()
