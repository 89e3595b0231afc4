"""RFC 6750 §3: the one exception tree, each leaf knowing its status, error code and description.

    Exception
    ├── ConfigurationError            bad configuration, raised at start-up
    └── AuthError                     a request is refused; maps to an HTTP response
        ├── MissingToken              401, no error code (RFC 6750 §3.1)
        │   └── DPoPRequired          the route or issuer demands DPoP (RFC 9449 §7.1)
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
        │   ├── InvalidClaim
        │   └── BindingMismatch       bound to a key or certificate the request does not prove
        ├── InvalidDPoPProof          401 invalid_dpop_proof (RFC 9449 §7.1)
        ├── UseDPoPNonce              401 use_dpop_nonce, with a DPoP-Nonce header (RFC 9449 §9)
        ├── InsufficientScope         403 insufficient_scope, with the scope it needs
        │   ├── PolicyMismatch        app-only, user+app or user-only: not the one the route wants
        │   ├── MissingScope          a scope the route needs is not granted
        │   ├── MissingRight          the app or user holds no such right on the resource
        │   └── DelegationNotAllowed  the app may not act for users here (RFC 8693 §4.1)
        └── ServiceUnavailable        503, a key or introspection server is unreachable: fail closed

Descriptions are fixed per class and safe to send to a client; details (kid, claim,
upstream error) stay in ``detail`` for the log and are never put in a response.

One module, though past 350 lines: it is the whole tree drawn above, one short class per leaf,
and callers catch these by name from one place; split, the tree would be read in pieces.
"""

from __future__ import annotations

import json
import re

__all__ = [
    "AuthError",
    "BadSignature",
    "BindingMismatch",
    "ConfigurationError",
    "DPoPRequired",
    "DelegationNotAllowed",
    "DisallowedAlgorithm",
    "InsufficientScope",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidDPoPProof",
    "InvalidRequest",
    "InvalidToken",
    "InvalidTokenType",
    "MalformedToken",
    "MissingRight",
    "MissingScope",
    "MissingToken",
    "PolicyMismatch",
    "ServiceUnavailable",
    "TokenExpired",
    "TokenIssuedInFuture",
    "TokenNotYetValid",
    "TokenTooLarge",
    "UnknownIssuer",
    "UnknownKey",
    "UnsupportedCritical",
    "UseDPoPNonce",
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
    #: RFC 9728 §5.1: the absolute URL of the protected resource metadata; the guard sets it.
    resource_metadata: str | None = None
    #: RFC 9449 §7.1, set by the guard where DPoP is accepted: the ``algs`` of the DPoP challenge,
    #: whether Bearer is accepted too, whether the request used DPoP, and a fresh ``DPoP-Nonce``.
    dpop_algs: str | None = None
    bearer_accepted: bool = True
    dpop_request: bool = False
    dpop_nonce: str | None = None

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
        realm = [] if self.realm is None else [f"realm={_quote(self.realm)}"]
        errors: list[str] = []
        if self.error is not None:
            errors.append(f"error={_quote(self.error)}")
        if self.description is not None and self.error is not None:
            errors.append(f"error_description={_quote(self.description)}")
        if self.scope is not None:
            errors.append(f"scope={_quote(self.scope)}")
        metadata = [] if self.resource_metadata is None else [f"resource_metadata={_quote(self.resource_metadata)}"]
        if self.dpop_algs is not None:
            return _dpop_challenges(self, [*realm, *metadata], errors)
        params = [*realm, *errors, *metadata]
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
        if self.dpop_nonce is not None:
            headers["DPoP-Nonce"] = self.dpop_nonce  # RFC 9449 §8.1 / §9
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


class PolicyMismatch(InsufficientScope):
    """The token's policy (app-only, user+app, user-only) is not the one the route names: 403."""

    description = "The access token is not of the policy this resource requires (app-only, user+app or user-only)"
    reason = "policy_mismatch"


class MissingScope(InsufficientScope):
    """A scope (or role) the route needs is not in the token: 403, ``scope`` names all it needs."""

    description = "The access token lacks a scope this resource requires"
    reason = "insufficient_scope"


class MissingRight(InsufficientScope):
    """The app's grant or the user's permission does not reach the right the route needs: 403."""

    description = "The app or user of the access token lacks the right this resource requires"
    reason = "insufficient_right"


class DelegationNotAllowed(InsufficientScope):
    """The token is valid but names a delegation this API or route forbids (RFC 8693 §4.1): 403."""

    description = "The access token's delegation is not allowed for this resource"
    reason = "delegation_not_allowed"


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


# -- sender-constrained tokens: RFC 9449 DPoP and RFC 8705 certificate binding -------------------

class BindingMismatch(InvalidToken):
    """The token is bound (``cnf``) to a key or certificate the request does not prove (RFC 9449 §7.1, RFC 8705 §3)."""

    description = "The access token is bound to a key or certificate this request does not prove"
    reason = "binding_mismatch"


class DPoPRequired(MissingToken):
    """A DPoP-bound token and its proof are required here; Bearer is not accepted (RFC 9449 §7.1)."""

    description = "A DPoP-bound access token and a DPoP proof are required"
    reason = "dpop_required"


class InvalidDPoPProof(AuthError):
    """The ``DPoP`` proof is missing, malformed, stale, replayed or for another request (RFC 9449 §4.3)."""

    error = "invalid_dpop_proof"
    description = "The DPoP proof is invalid"
    reason = "invalid_dpop_proof"


class UseDPoPNonce(AuthError):
    """The proof lacks the server's current nonce; retry with the ``DPoP-Nonce`` sent (RFC 9449 §9)."""

    error = "use_dpop_nonce"
    description = "Resource server requires nonce in DPoP proof"
    reason = "use_dpop_nonce"


def _dpop_challenges(exc: AuthError, common: list[str], errors: list[str]) -> str:
    """RFC 9449 §7.1: a DPoP challenge with ``algs``, after a Bearer one when Bearer is accepted too.

    The error parameters (``error``, ``error_description``, ``scope``) go on the challenge of the
    scheme the request used (DPoP when only DPoP is accepted); the ``common`` ones (``realm``,
    ``resource_metadata``) on both.
    """
    on_dpop = exc.dpop_request or not exc.bearer_accepted
    dpop = "DPoP " + ", ".join([*common, *(errors if on_dpop else []), f"algs={_quote(exc.dpop_algs or '')}"])
    if not exc.bearer_accepted:
        return dpop
    bearer = [*common, *([] if on_dpop else errors)]
    return ("Bearer " + ", ".join(bearer) if bearer else "Bearer") + ", " + dpop
