"""RFC 6749 §2.3 client authentication at the token endpoint, and RFC 7523 client assertions.

``client_secret_basic`` (the default with a secret), ``client_secret_post``,
``private_key_jwt`` (the default with a key: a short-lived JWT signed by the client,
OpenID Connect Core §9) and ``none`` for public clients.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import ConfigurationError
from ._keys import PrivateKey, algorithm_for, load_certificate, load_private_key, x5t

__all__ = ["ASSERTION_TYPE", "AuthMethod", "ClientAuthentication", "client_authentication"]

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Lifetime of a client assertion: long enough to cross the network, short against replay.
ASSERTION_TTL = 60
_SECRET_METHODS = ("client_secret_basic", "client_secret_post")
#: Keys the credential digests: a cache key seen in a dump cannot be dictionary-searched for a weak secret.
_DIGEST_KEY = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientAuthentication:
    """How one client proves who it is to a token endpoint."""

    client_id: str
    method: AuthMethod
    secret: str | None = field(default=None, repr=False)
    key: PrivateKey | None = field(default=None, repr=False)
    algorithm: str | None = None
    key_id: str | None = None
    thumbprint: str | None = None
    assertion_audience: str | None = None
    #: A keyed digest of everything above (see :meth:`_digest`): token caches key by it, never the secret.
    digest: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", self._digest())

    def _digest(self) -> str:
        """HMAC-SHA256 of the credential material: the secret, or the public key and assertion options."""
        public = b"" if self.key is None else self.key.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        material = [self.client_id, self.method, self.secret, base64.b64encode(public).decode(),
                    self.algorithm, self.key_id, self.thumbprint, self.assertion_audience]
        return hmac.new(_DIGEST_KEY, json.dumps(material).encode(), hashlib.sha256).hexdigest()

    def apply(self, form: dict[str, Any], token_url: str, now: float) -> dict[str, str]:
        """Add the credentials to ``form``; return the headers to send (Basic auth)."""
        if self.method == "client_secret_basic":
            # RFC 6749 §2.3.1: each part form-urlencoded before joining with ':'.
            pair = f"{quote(self.client_id, safe='')}:{quote(self.secret or '', safe='')}"
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        form["client_id"] = self.client_id
        if self.method == "client_secret_post":
            form["client_secret"] = self.secret
        elif self.method == "private_key_jwt":
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = self.assertion(self.assertion_audience or token_url, now)
        return {}

    def assertion(self, audience: str, now: float) -> str:
        """RFC 7523 §3: iss = sub = client_id, aud = the token endpoint, unique jti, short exp."""
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": audience,
                  "jti": uuid.uuid4().hex, "iat": int(now), "nbf": int(now),
                  "exp": int(now) + ASSERTION_TTL}
        if self.key is None:
            raise ConfigurationError("private_key", "private_key_jwt needs private_key")
        headers = {"typ": "JWT"}
        if self.key_id is not None:
            headers["kid"] = self.key_id
        if self.thumbprint is not None:
            headers["x5t"] = self.thumbprint  # Entra ID names certificate credentials by x5t
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers=headers)


def client_authentication(client_id: str, *, client_secret: str | None = None,
                          private_key: PrivateKey | bytes | str | None = None,
                          key_password: bytes | None = None, key_id: str | None = None,
                          certificate: x509.Certificate | bytes | str | None = None,
                          algorithm: str | None = None, auth_method: AuthMethod | None = None,
                          assertion_audience: str | None = None) -> ClientAuthentication:
    """Validate the credential options once, at construction (fail early, name the fix)."""
    if not client_id:
        raise ConfigurationError("client_id", "required: the client's registered id")
    if client_secret is not None and private_key is not None:
        raise ConfigurationError("client_secret", "give client_secret or private_key, not both")
    method: AuthMethod = auth_method or (
        "private_key_jwt" if private_key is not None else
        "client_secret_basic" if client_secret is not None else "none")
    if method in _SECRET_METHODS and not client_secret:
        raise ConfigurationError("client_secret", f"{method} needs client_secret")
    if method != "private_key_jwt":
        return ClientAuthentication(client_id=client_id, method=method, secret=client_secret)
    if private_key is None:
        raise ConfigurationError("private_key", "private_key_jwt needs private_key")
    key = load_private_key(private_key, key_password)
    thumbprint = x5t(load_certificate(certificate)) if certificate is not None else None
    return ClientAuthentication(client_id=client_id, method=method, key=key,
                                algorithm=algorithm or algorithm_for(key), key_id=key_id,
                                thumbprint=thumbprint, assertion_audience=assertion_audience)
