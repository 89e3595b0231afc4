"""RFC 6749 §2.3 client authentication as the local issuer checks it.

``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` (RFC 7523 §3: signature
with the registered public key, ``iss`` = ``sub`` = client id, ``aud`` this server, ``exp``,
``jti`` never seen before) and ``none`` for clients registered as public.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import jwt

from ._server import IssuerRequest, Reply, json_reply

if TYPE_CHECKING:
    from .issuer import LocalIssuer

__all__ = ["RegisteredClient", "authenticate_client"]

_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ASSERTION_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                         "ES256", "ES384", "ES512", "EdDSA"]  # never HS*: no key confusion


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisteredClient:
    """A client the local issuer knows: credentials, allowed scopes and resources."""

    client_id: str
    secret: str | None = field(default=None, repr=False)
    public_key: Any = field(default=None, repr=False)
    scopes: frozenset[str] | None = None  # None: any scope
    resources: frozenset[str] | None = None  # None: any resource
    opaque: bool = False  # issue opaque tokens to this client
    public: bool = False  # may use the token endpoint without credentials


def _refuse(description: str, basic: bool = False) -> Reply:
    # RFC 6749 §5.2: invalid_client is 401, with a challenge for the scheme the client used.
    headers = {"WWW-Authenticate": 'Basic realm="s2s-guard-local-issuer"'} if basic else {}
    return json_reply(401, {"error": "invalid_client", "error_description": description}, **headers)


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote(client_id), unquote(secret)


def _check_secret(client: RegisteredClient | None, secret: str | None) -> bool:
    expected = client.secret if client is not None else None
    return bool(expected and secret and hmac.compare_digest(expected.encode(), secret.encode()))


def _check_assertion(issuer: LocalIssuer, assertion: str) -> RegisteredClient | None:
    try:
        client_id = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
        client = issuer.clients.get(client_id) if isinstance(client_id, str) else None
        if client is None or client.public_key is None:
            return None
        claims = jwt.decode(assertion, client.public_key, algorithms=_ASSERTION_ALGORITHMS, leeway=60,
                            audience=[issuer.issuer, issuer.token_url, issuer.introspection_url],
                            options={"require": ["iss", "sub", "aud", "exp", "jti"]})
    except jwt.PyJWTError:
        return None
    replayed = claims["jti"] in issuer.seen_assertions and not issuer.reusable_assertions
    if claims["sub"] != client.client_id or replayed:
        return None  # RFC 7523 §3: sub is the client; a jti is used once (unless reuse is Entra-like)
    issuer.seen_assertions.add(claims["jti"])
    return client


def authenticate_client(issuer: LocalIssuer, request: IssuerRequest) -> RegisteredClient | Reply:
    """The authenticated client, or the 401 ``invalid_client`` reply to send."""
    basic = _basic(request.header("Authorization"))
    if basic is not None:
        client = issuer.clients.get(basic[0])
        return client if client and _check_secret(client, basic[1]) else _refuse("bad credentials", True)
    assertion = request.param("client_assertion")
    if assertion is not None:
        client = _check_assertion(issuer, assertion) \
            if request.param("client_assertion_type") == _ASSERTION_TYPE else None
        if client is None or request.param("client_id") not in (None, client.client_id):
            return _refuse("client assertion not accepted")
        return client
    client = issuer.clients.get(request.param("client_id") or "")
    secret = request.param("client_secret")
    if secret is not None:
        return client if client and _check_secret(client, secret) else _refuse("bad credentials")
    return client if client is not None and client.public else _refuse("client authentication required")
