"""SharePoint trust for tests: a high-trust issuer's certificate and the JSON metadata document.

A farm trusts a high-trust issuer (``New-SPTrustedSecurityTokenIssuer``) by its certificate,
or by a metadata endpoint such as ``/_layouts/15/metadata/json/1``, whose ``keys`` carry
base64 DER certificates: ``{"usage": "signing", "keyValue": {"type": "x509Certificate",
"value": ...}}``. ACS (low-trust) tokens are issued by ``00000001-0000-0000-c000-000000000000``.
"""

from __future__ import annotations

import base64
import datetime
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat)
from cryptography.x509.oid import NameOID

from ..client.hightrust import SHAREPOINT_PRINCIPAL, sharepoint_audience
from ..client._keys import x5t

__all__ = ["ACS_PRINCIPAL", "HighTrustIdentity", "METADATA_PATH", "metadata_document",
           "self_signed_certificate"]

#: The well-known principal id of Azure ACS, the low-trust issuer of SharePoint Online tokens.
ACS_PRINCIPAL = "00000001-0000-0000-c000-000000000000"
METADATA_PATH = "/_layouts/15/metadata/json/1"


def self_signed_certificate(key: rsa.RSAPrivateKey, common_name: str, *, days: int = 365) -> x509.Certificate:
    """A self-signed certificate such as ``New-SelfSignedCertificate`` makes for an add-in."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))


class HighTrustIdentity:
    """A trusted token issuer registered in a farm: its id, the realm, and its signing certificate."""

    def __init__(self, *, issuer_id: str | None = None, realm: str | None = None,
                 key: rsa.RSAPrivateKey | None = None, certificate: x509.Certificate | None = None) -> None:
        self.issuer_id = issuer_id or str(uuid.uuid4())
        self.realm = realm or str(uuid.uuid4())
        self.key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # the certificate the farm administrator registers (New-SPTrustedSecurityTokenIssuer)
        self.certificate = certificate or self_signed_certificate(
            self.key, f"s2s-guard high-trust {self.issuer_id}")

    def __repr__(self) -> str:
        return f"HighTrustIdentity(issuer_id={self.issuer_id!r}, realm={self.realm!r})"

    @property
    def thumbprint(self) -> str:
        """The certificate's ``x5t`` (base64url SHA-1 of the DER bytes)."""
        return x5t(self.certificate)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)

    @property
    def private_key_pem(self) -> bytes:
        return self.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())

    @property
    def registered_issuer_name(self) -> str:
        """``<issuer_id>@<realm>``, the lower-case name the farm registers (and ``iss``)."""
        return f"{self.issuer_id.lower()}@{self.realm.lower()}"

    def audience(self, host: str) -> str:
        return sharepoint_audience(host, self.realm)


def metadata_document(identity: HighTrustIdentity, token_url: str) -> dict[str, Any]:
    """The JSON metadata document (the ACS/SharePoint ``metadata/json/1`` shape)."""
    der = identity.certificate.public_bytes(Encoding.DER)
    realm = identity.realm.lower()
    return {
        "version": "1.0",
        "name": identity.issuer_id.lower(),
        "realm": realm,
        "issuer": identity.registered_issuer_name,
        "allowedAudiences": [f"{SHAREPOINT_PRINCIPAL}/*@{realm}"],
        "keys": [{"usage": "signing", "keyValue": {
            "type": "x509Certificate", "value": base64.b64encode(der).decode("ascii"),
            "keyInfo": {"x5t": identity.thumbprint}}}],
        "endpoints": [{"location": token_url, "protocol": "OAuth2", "usage": "issuance"}],
    }
