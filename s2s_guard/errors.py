"""RFC 6750 §3: the one exception tree, each leaf knowing its status, error code and description.

    Exception
    ├── ConfigurationError            bad configuration, raised at start-up
    └── AuthError                     a request is refused; maps to an HTTP response
        ├── MissingToken              401, no error code (RFC 6750 §3.1)
        ├── InvalidRequest            400 invalid_request
        ├── InvalidToken              401 invalid_token
        │   ├── MalformedToken
        │   ├── TokenTooLarge
        │   ├── TokenExpired
        │   ├── TokenNotYetValid
        │   ├── TokenIssuedInFuture
        │   ├── InvalidAudience
        │   ├── UnknownIssuer
        │   ├── UnknownKey
        │   ├── BadSignature
        │   ├── DisallowedAlgorithm
        │   ├── UnsupportedCritical
        │   ├── InvalidTokenType
        │   └── InvalidClaim
        ├── InsufficientScope         403 insufficient_scope, with the scope it needs
        └── ServiceUnavailable        503, a key or introspection server is unreachable: fail closed

Descriptions are fixed per class and safe to send to a client; details (kid, claim,
upstream error) stay in ``detail`` for the log and are never put in a response.
"""

from __future__ import annotations

import json
import re

__all__ = [
    "AuthError",
    "BadSignature",
    "ConfigurationError",
    "DisallowedAlgorithm",
    "InsufficientScope",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidRequest",
    "InvalidToken",
    "InvalidTokenType",
    "MalformedToken",
    "MissingToken",
    "ServiceUnavailable",
    "TokenExpired",
    "TokenIssuedInFuture",
    "TokenNotYetValid",
    "TokenTooLarge",
    "UnknownIssuer",
    "UnknownKey",
    "UnsupportedCritical",
]

# RFC 6750 §3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E (no '"' or '\').
_UNSAFE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def _quote(value: str) -> str:
    return '"' + _UNSAFE.sub("", value) + '"'


class ConfigurationError(Exception):
    """The configuration is invalid; the message names the key and the fix."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


class AuthError(Exception):
    """A refused request: ``status_code``, RFC 6750 ``error`` and a client-safe ``description``.

    ``detail`` is for logs only (never sent); ``realm`` and ``scope`` feed the challenge.
    """

    status_code: int = 401
    error: str | None = "invalid_token"
    description: str | None = "The access token is invalid"
    #: Low-cardinality machine reason, stable for metrics and tests.
    reason: str = "invalid_token"

    def __init__(self, detail: str = "", *, realm: str | None = None, scope: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(detail or self.description or self.reason)
        self.detail = detail
        self.realm = realm
        self.scope = scope
        self.retry_after = retry_after

    @property
    def www_authenticate(self) -> str | None:
        """The ``WWW-Authenticate`` challenge for this error (RFC 6750 §3)."""
        params = []
        if self.realm is not None:
            params.append(f"realm={_quote(self.realm)}")
        if self.error is not None:
            params.append(f"error={_quote(self.error)}")
        if self.description is not None and self.error is not None:
            params.append(f"error_description={_quote(self.description)}")
        if self.scope is not None:
            params.append(f"scope={_quote(self.scope)}")
        return "Bearer " + ", ".join(params) if params else "Bearer"

    @property
    def headers(self) -> dict[str, str]:
        """Response headers: the challenge, ``Retry-After`` when set, no caching."""
        headers = {"Cache-Control": "no-store"}
        challenge = self.www_authenticate
        if challenge is not None:
            headers["WWW-Authenticate"] = challenge
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def body(self) -> bytes:
        """The JSON body: ``{"error": ..., "error_description": ...}``."""
        payload: dict[str, str] = {}
        if self.error is not None:
            payload["error"] = self.error
        if self.description is not None:
            payload["error_description"] = self.description
        if self.scope is not None:
            payload["scope"] = self.scope
        return json.dumps(payload).encode()

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary (status, error, error_description, reason)."""
        return {"status": self.status_code, "error": self.error,
                "error_description": self.description, "reason": self.reason}


class MissingToken(AuthError):
    """No credentials, or another scheme: a bare challenge without error code (RFC 6750 §3.1)."""

    error = None
    description = "Bearer access token required"
    reason = "missing_token"


class InvalidRequest(AuthError):
    """Malformed credentials: 400 invalid_request."""

    status_code = 400
    error = "invalid_request"
    description = "The request carries a malformed Bearer credential"
    reason = "invalid_request"


class InvalidToken(AuthError):
    """The token is invalid (401 invalid_token); leaves say why."""


class MalformedToken(InvalidToken):
    """Not a well-formed compact JWS (RFC 7515 §7.1): parts, base64url, JSON."""

    description = "The access token is malformed"
    reason = "malformed"


class TokenTooLarge(InvalidToken):
    """Longer than ``max_token_bytes``: refused before any decoding."""

    description = "The access token is too large"
    reason = "too_large"


class TokenExpired(InvalidToken):
    """``exp`` has passed, beyond the leeway (RFC 7519 §4.1.4)."""

    description = "The access token expired"
    reason = "expired"


class TokenNotYetValid(InvalidToken):
    """``nbf`` is in the future, beyond the leeway (RFC 7519 §4.1.5)."""

    description = "The access token is not yet valid"
    reason = "not_yet_valid"


class TokenIssuedInFuture(InvalidToken):
    """``iat`` is in the future, beyond the leeway (RFC 7519 §4.1.6)."""

    description = "The access token was issued in the future"
    reason = "issued_in_future"


class InvalidAudience(InvalidToken):
    """No ``aud`` value is one this API accepts (RFC 7519 §4.1.3)."""

    description = "The access token has the wrong audience"
    reason = "bad_audience"


class UnknownIssuer(InvalidToken):
    """``iss`` is not a configured issuer, compared exactly (RFC 8725 §3.8)."""

    description = "The access token comes from an unknown issuer"
    reason = "unknown_issuer"


class UnknownKey(InvalidToken):
    """No trusted key matches the header's ``kid``/``x5t`` and algorithm."""

    description = "The access token is signed with an unknown key"
    reason = "unknown_kid"


class BadSignature(InvalidToken):
    """The signature does not verify with the selected trusted key."""

    description = "The access token has a bad signature"
    reason = "bad_signature"


class DisallowedAlgorithm(InvalidToken):
    """``alg`` is not in the issuer's configured allow-list (RFC 8725 §3.1)."""

    description = "The access token uses a disallowed algorithm"
    reason = "disallowed_algorithm"


class UnsupportedCritical(InvalidToken):
    """A ``crit`` extension (or ``b64``) we do not implement (RFC 7515 §4.1.11)."""

    description = "The access token has an unsupported critical header"
    reason = "unsupported_crit"


class InvalidTokenType(InvalidToken):
    """The ``typ`` header is not the configured one (RFC 8725 §3.11)."""

    description = "The access token has the wrong type"
    reason = "bad_type"


class InvalidClaim(InvalidToken):
    """A claim is missing, of the wrong JSON type or out of range."""

    description = "The access token has an invalid claim"
    reason = "invalid_claim"


class InsufficientScope(AuthError):
    """Authenticated but not authorized: 403 insufficient_scope with the ``scope`` it needs."""

    status_code = 403
    error = "insufficient_scope"
    description = "The access token does not grant what this resource requires"
    reason = "insufficient_scope"


class ServiceUnavailable(AuthError):
    """A key or introspection server cannot be reached: 503, fail closed, never acceptance."""

    status_code = 503
    error = "temporarily_unavailable"
    description = "The token cannot be validated right now; retry later"
    reason = "unavailable"

    def __init__(self, detail: str = "", *, realm: str | None = None, scope: str | None = None,
                 retry_after: int | None = 5) -> None:
        super().__init__(detail, realm=realm, scope=scope, retry_after=retry_after)

    @property
    def www_authenticate(self) -> str | None:
        return None
