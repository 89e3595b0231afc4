"""The JWS algorithms a configuration may name (RFC 7518 §3, RFC 8037), and the reader of an allow-list."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from .values import _strings

#: Asymmetric algorithms verified with public keys (RFC 7518 §3, RFC 8037).
ASYMMETRIC_ALGORITHMS = frozenset({
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA",
})
#: HMAC algorithms, allowed only with a configured shared secret.
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
SUPPORTED_ALGORITHMS = ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS


def _algorithms(value: Any, key: str) -> tuple[str, ...]:
    algorithms = _strings(value, key)
    for alg in algorithms:
        if alg not in SUPPORTED_ALGORITHMS:
            # RFC 8725 §3.1: an explicit allow-list; "none" is never configurable.
            raise ConfigurationError(key, f"unsupported algorithm {alg!r}; use {sorted(SUPPORTED_ALGORITHMS)}")
    return algorithms
