"""RFC 7515/7519 with RFC 8725 rules: verify a compact JWS against configured keys and algorithms.

Three steps, three functions: :func:`check_header` (algorithm allow-list, ``crit``, ``typ``),
:func:`verify_jws` (key selection and signature) and, in :mod:`.claims`, the claim checks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..errors import (BadSignature, DisallowedAlgorithm, InvalidTokenType, MalformedToken,
                      UnknownIssuer, UnknownKey, UnsupportedCritical)
from .jws import CompactJWS
from .keys import KeySet, key_issuer_matches

__all__ = ["check_header", "issuer_of", "verify_jws"]

_IDENTIFIERS = ("kid", "x5t", "x5t#S256")


def issuer_of(jws: CompactJWS) -> str:
    """The unverified ``iss``, used only to route the token to its issuer's keys."""
    iss = jws.payload.get("iss")
    if not isinstance(iss, str):
        raise UnknownIssuer("iss is missing or not a string")
    return iss


def _normal_typ(typ: str) -> str:
    typ = typ.lower()  # RFC 7515 §4.1.9: media types compare case-insensitively
    return typ[len("application/"):] if typ.startswith("application/") else typ


def check_header(header: Mapping[str, Any], algorithms: Collection[str], typ: str | None = None) -> str:
    """Validate the protected header and return its ``alg``."""
    alg = header.get("alg")
    # RFC 8725 §3.1: the algorithm must be in the configured allow-list ("none" never is).
    if not isinstance(alg, str) or alg not in algorithms:
        raise DisallowedAlgorithm(f"alg {str(alg)[:16]!r} is not allowed")
    if "crit" in header:
        # RFC 7515 §4.1.11: we understand no extensions, so any crit is refused (incl. b64).
        raise UnsupportedCritical("crit header present")
    if header.get("b64", True) is not True:
        raise UnsupportedCritical("b64 other than true (RFC 7797) is not supported")
    if "zip" in header:  # RFC 7516 §4.1.3, RFC 8725 §3.6: compression is JWE-only, never in a JWS
        raise MalformedToken("zip header in a JWS")
    cty = header.get("cty")
    if isinstance(cty, str) and _normal_typ(cty) == "jwt":  # "JWT" or "application/jwt"
        raise MalformedToken("nested JWTs are not accepted")  # RFC 8725 §2.8
    for name in _IDENTIFIERS:
        if name in header and not isinstance(header[name], str):
            raise MalformedToken(f"{name} is not a string")
    actual = header.get("typ")
    if typ is not None:
        # RFC 9068 §4 / RFC 8725 §3.11: explicit typing against token confusion.
        if not isinstance(actual, str) or _normal_typ(actual) != _normal_typ(typ):
            raise InvalidTokenType(f"typ {str(actual)[:32]!r} is not {typ!r}")
    elif "typ" in header and not isinstance(actual, str):
        raise InvalidTokenType("typ is not a string")  # RFC 7515 §4.1.9: typ, when present, is a string
    return alg


def verify_jws(jws: CompactJWS, alg: str, keys: KeySet) -> None:
    """Verify the signature with a key the header names; :class:`BadSignature` if none verifies."""
    foreign = False
    for key in keys.select(jws.header, alg):
        if key.issuer is not None and not key_issuer_matches(key.issuer, jws.payload):
            foreign = True  # RFC 8725 §3.8: a key published for another issuer (Entra tenant) never verifies
        elif key.verify(alg, jws.signing_input, jws.signature):
            return
    if foreign:
        raise UnknownKey("the selected key belongs to another issuer")
    raise BadSignature("signature does not verify with the selected key")
