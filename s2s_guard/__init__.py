"""s2s_guard: trust server-to-server calls made with OAuth 2.0 Bearer tokens (RFC 6750).

Validate the token (a signed JWT checked against trusted keys), enforce audience and scope,
and attach the app and user principals so routes can demand app-only, user+app or user-only.
"""

from .asgi import GuardMiddleware, requires
from .config import GuardConfig, IssuerConfig, load_config
from .errors import (AuthError, BadSignature, BindingMismatch, ConfigurationError, DelegationNotAllowed,
                     DisallowedAlgorithm, DPoPRequired, InsufficientScope, InvalidAudience, InvalidClaim,
                     InvalidDPoPProof, InvalidRequest, InvalidToken, InvalidTokenType, MalformedToken,
                     MissingRight, MissingScope, MissingToken, PolicyMismatch, ServiceUnavailable, TokenExpired, TokenIssuedInFuture,
                     TokenNotYetValid, TokenTooLarge, UnknownIssuer, UnknownKey, UnsupportedCritical,
                     UseDPoPNonce)
from .guard import Guard
from .policy import Requirement
from .principal import AppPrincipal, Policy, Principal, UserPrincipal

from ._version import __version__ as __version__

__all__ = [
    "AppPrincipal",
    "AuthError",
    "BadSignature",
    "BindingMismatch",
    "ConfigurationError",
    "DPoPRequired",
    "DelegationNotAllowed",
    "DisallowedAlgorithm",
    "Guard",
    "GuardConfig",
    "GuardMiddleware",
    "InsufficientScope",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidDPoPProof",
    "InvalidRequest",
    "InvalidToken",
    "InvalidTokenType",
    "IssuerConfig",
    "MalformedToken",
    "MissingRight",
    "MissingScope",
    "MissingToken",
    "Policy",
    "PolicyMismatch",
    "Principal",
    "Requirement",
    "ServiceUnavailable",
    "TokenExpired",
    "TokenIssuedInFuture",
    "TokenNotYetValid",
    "TokenTooLarge",
    "UnknownIssuer",
    "UnknownKey",
    "UnsupportedCritical",
    "UseDPoPNonce",
    "UserPrincipal",
    "load_config",
    "requires",
]
