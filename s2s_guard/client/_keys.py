"""Private keys and X.509 certificates for signing client assertions and actor tokens.

Keys arrive as ``cryptography`` objects or PEM text; certificates as objects, PEM or DER.
The ``x5t`` header (RFC 7515 §4.1.7) is the base64url SHA-1 thumbprint of the DER bytes.
"""

from __future__ import annotations

import hashlib
from typing import Union

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key

from ..core.keys import b64url
from ..errors import ConfigurationError

__all__ = ["PrivateKey", "algorithm_for", "load_certificate", "load_private_key", "x5t"]

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey]
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


def load_private_key(value: PrivateKey | bytes | str, password: bytes | None = None,
                     name: str = "private_key") -> PrivateKey:
    """A signing key from an object or PEM text; RSA, EC or Ed25519 only."""
    if isinstance(value, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        return value
    data = value.encode() if isinstance(value, str) else value
    try:
        key = load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(name, f"not a PEM private key: {exc}") from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise ConfigurationError(name, "expected an RSA, EC or Ed25519 private key")
    return key


def load_certificate(value: x509.Certificate | bytes | str, name: str = "certificate") -> x509.Certificate:
    """An X.509 certificate from an object, PEM text or DER bytes."""
    if isinstance(value, x509.Certificate):
        return value
    data = value.encode() if isinstance(value, str) else value
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise ConfigurationError(name, f"not a PEM or DER X.509 certificate: {exc}") from exc


def x5t(certificate: x509.Certificate) -> str:
    """RFC 7515 §4.1.7: base64url of the SHA-1 digest of the DER certificate."""
    return b64url(hashlib.sha1(certificate.public_bytes(Encoding.DER)).digest())


def algorithm_for(key: PrivateKey) -> str:
    """The JWS algorithm a key signs with by default: RS256, ES256/384/512 or EdDSA."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ConfigurationError("private_key", "RSA keys must be at least 2048 bits")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _EC_ALGORITHMS:
            raise ConfigurationError("private_key", "EC keys must use P-256, P-384 or P-521")
        return _EC_ALGORITHMS[key.curve.name]
    return "EdDSA"
