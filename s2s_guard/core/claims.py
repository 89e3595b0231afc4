"""RFC 7519 §4.1: registered claim checks, each a small function of (claims, ..., now).

Types are checked here, not left to PyJWT: a time claim is a JSON number (not a bool, not a
string), finite and in range; ``iss`` is a string matched exactly; ``aud`` is a string or a
list of strings.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..errors import (InvalidAudience, InvalidClaim, TokenExpired, TokenIssuedInFuture,
                      TokenNotYetValid, UnknownIssuer)

__all__ = ["RFC9068_REQUIRED", "audiences_of", "check_claims", "check_claims_without_aud", "check_present",
           "check_types", "numeric_date"]

#: Latest NumericDate accepted (9999-12-31T23:59:59Z): larger values are malformed, not "never".
MAX_NUMERIC_DATE = 253402300799
_STRING_CLAIMS = ("iss", "sub", "jti", "client_id", "azp", "appid", "scope", "tid", "oid")
_STRING_SET = frozenset(_STRING_CLAIMS)
_ABSENT_OK = ("",) * len(_STRING_CLAIMS)  # an absent claim reads as "" (a string) in the C-level test
_STR = (str,) * len(_STRING_CLAIMS)
#: RFC 9068 §2.2: the claims a JWT access token (``typ`` ``at+jwt``) must carry.
RFC9068_REQUIRED = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")


def numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """RFC 7519 §2 NumericDate: a finite JSON number in range, or ``None`` when absent."""
    if name not in claims:
        return None
    value = claims[name]
    # bool is an int subclass in Python; JSON true is not a number. The range check comes
    # first: it refuses NaN and inf, and a huge JSON int would overflow math.isfinite.
    if type(value) not in (int, float) or not 0 <= value <= MAX_NUMERIC_DATE:
        raise InvalidClaim(f"{name} is not a NumericDate")
    return float(value)


def audiences_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """RFC 7519 §4.1.3: ``aud`` as a tuple; a string or a non-empty list of strings."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    raise InvalidClaim("aud is missing or not a string / list of strings")


def check_types(claims: Mapping[str, Any]) -> None:
    """Refuse registered and well-known claims of the wrong JSON type."""
    if not all(map(isinstance, map(claims.get, _STRING_CLAIMS, _ABSENT_OK), _STR)):  # C loops
        for name in _STRING_SET.intersection(claims):  # which one, for the error
            if not isinstance(claims[name], str):
                raise InvalidClaim(f"{name} is not a string")
    scp = claims.get("scp")
    if scp is not None and not (isinstance(scp, str) or (
            isinstance(scp, list) and all(isinstance(s, str) for s in scp))):
        raise InvalidClaim("scp is not a string or list of strings")


def check_present(claims: Mapping[str, Any], names: Collection[str]) -> None:
    """RFC 9068 §2.2: every claim in ``names`` is present (their types are checked elsewhere)."""
    for name in names:
        if name not in claims:
            raise InvalidClaim(f"{name} is required in an at+jwt access token (RFC 9068 §2.2)")


def _check_exp(exp: float | None, now: float, leeway: float) -> None:
    if exp is None:
        raise InvalidClaim("exp is required")  # an access token must expire (RFC 9068 §2.2)
    if now - leeway >= exp:
        raise TokenExpired(f"expired at {exp:.0f}, now {now:.0f}")  # RFC 7519 §4.1.4


def _check_nbf(nbf: float | None, now: float, leeway: float) -> None:
    if nbf is not None and now + leeway < nbf:
        raise TokenNotYetValid(f"not before {nbf:.0f}, now {now:.0f}")  # RFC 7519 §4.1.5


def _check_iat(iat: float | None, now: float, leeway: float) -> None:
    if iat is not None and iat > now + leeway:
        raise TokenIssuedInFuture(f"issued at {iat:.0f}, now {now:.0f}")  # RFC 7519 §4.1.6


def _check_iss(claims: Mapping[str, Any], issuer: str) -> None:
    if claims.get("iss") != issuer:  # RFC 8725 §3.8: exact match, never prefix/substring
        raise UnknownIssuer("iss does not match the configured issuer")


def _check_aud(claims: Mapping[str, Any], accepted: Collection[str]) -> None:
    aud = claims.get("aud")
    if type(aud) is str and aud in accepted:
        return  # the usual single audience
    for aud in audiences_of(claims):  # RFC 7519 §4.1.3: one accepted value suffices
        if aud in accepted:
            return
    raise InvalidAudience("aud matches no accepted audience")


def _check_times(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    """RFC 7519 §4.1.4-6: ``exp`` (required) not passed, ``nbf`` and ``iat`` not in the future."""
    exp, nbf, iat = claims.get("exp"), claims.get("nbf", 0), claims.get("iat", 0)
    latest = now + leeway
    # The usual token, integer times all in range and valid, is accepted in one test; any
    # other gets the checks one by one, which refuse with the precise error.
    if (type(exp) is int and type(nbf) is int and type(iat) is int and latest <= MAX_NUMERIC_DATE
            and 0 <= nbf <= latest and 0 <= iat <= latest and 0 <= exp <= MAX_NUMERIC_DATE
            and now - leeway < exp):
        return
    _check_exp(numeric_date(claims, "exp"), now, leeway)
    _check_nbf(numeric_date(claims, "nbf"), now, leeway)
    _check_iat(numeric_date(claims, "iat"), now, leeway)


def check_claims(claims: Mapping[str, Any], *, issuer: str, audiences: Collection[str],
                 leeway: float, now: float) -> None:
    """Run every registered-claim check for an access token at time ``now``."""
    check_types(claims)
    _check_iss(claims, issuer)
    _check_times(claims, now, leeway)
    _check_aud(claims, audiences)


def check_claims_without_aud(claims: Mapping[str, Any], *, issuer: str, leeway: float, now: float) -> None:
    """Every registered-claim check but ``aud``, for a profile that names the audience another way
    (Cognito access tokens carry no ``aud``: the profile checks ``client_id`` instead)."""
    check_types(claims)
    _check_iss(claims, issuer)
    _check_times(claims, now, leeway)
