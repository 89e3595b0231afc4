"""RFC 8705 §3: certificate-bound access tokens, checked by the client certificate's thumbprint.

A token bound to a certificate carries ``cnf: {"x5t#S256": ...}``, the base64url SHA-256 of
the certificate's DER encoding. The certificate comes from the TLS connection (the ASGI TLS
extension's ``client_cert_chain``, a WSGI server's ``SSL_CLIENT_CERT``) or from a header a
trusted TLS-terminating proxy sets (RFC 9440 ``Client-Cert``); this module is sans-I/O.
"""

from __future__ import annotations

import binascii
import hashlib
from base64 import b64decode
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .keys import b64url

__all__ = ["certificate_from_header", "certificate_thumbprint"]

#: A certificate chain rarely exceeds a few KiB; a bigger header value is refused unread.
MAX_CERTIFICATE_BYTES = 16 * 1024


def certificate_thumbprint(certificate: str | bytes) -> str:
    """``x5t#S256`` of a PEM (text or bytes) or DER certificate; ``ValueError`` if it is not one."""
    data = certificate.encode("ascii", "replace") if isinstance(certificate, str) else certificate
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise ValueError("certificate too large")
    cert = (x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data
            else x509.load_der_x509_certificate(data))
    return b64url(hashlib.sha256(cert.public_bytes(Encoding.DER)).digest())  # RFC 8705 §3.1


def certificate_from_header(value: str) -> bytes:
    """The certificate a proxy put in a header: RFC 9440 §2.1 ``:base64 DER:`` or a URL-encoded PEM.

    The second form is what nginx sends as ``$ssl_client_escaped_cert``.
    """
    value = value.strip(" \t")
    if len(value) > MAX_CERTIFICATE_BYTES:
        raise ValueError("certificate header too large")
    if value.startswith(":") and value.endswith(":") and len(value) > 2:
        try:
            return b64decode(value[1:-1], validate=True)  # RFC 8941 §3.3.5 sf-binary
        except binascii.Error as exc:
            raise ValueError(f"Client-Cert is not base64: {exc}") from None
    pem = unquote(value)
    if pem.startswith("-----BEGIN CERTIFICATE-----"):
        return pem.encode("ascii", "replace")
    raise ValueError("expected :base64 DER: (RFC 9440) or a URL-encoded PEM certificate")
