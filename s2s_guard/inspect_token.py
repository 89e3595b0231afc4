"""RFC 7519 without verification: decode a JWT for a human, and flag what a validator would refuse.

Nothing here is trusted: this is a debugging aid for ``s2s-guard inspect``. It is lenient where
the guard is strict (padding, non-canonical base64url, duplicate members, NaN) so a broken token
still shows something, and every leniency becomes a flag. Raw tokens are never echoed: the
output names a token by its SHA-256, and a nested SharePoint ``actortoken`` is decoded in place.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from base64 import urlsafe_b64decode
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .config import HMAC_ALGORITHMS, SUPPORTED_ALGORITHMS
from .core.claims import numeric_date
from .core.jws import b64url_decode, parse_json_object
from .errors import InvalidClaim, MalformedToken

__all__ = ["MAX_TOKEN_BYTES", "NotAJWT", "format_text", "inspect_token", "relative_time"]

#: The guard's default ``max_token_bytes``: longer tokens are refused before decoding.
MAX_TOKEN_BYTES = 16 * 1024
_TIME_CLAIMS = ("exp", "nbf", "iat")
_KEY_HEADERS = ("jku", "x5u", "jwk")
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))

Flags = list[dict[str, str]]


class NotAJWT(ValueError):
    """The input has no decodable JOSE header: it is not a compact JWT at all."""


def relative_time(seconds: float) -> str:
    """``seconds`` from now as ``"in 5m"``, ``"3h 20m ago"`` or ``"now"`` (two adjacent units)."""
    delta = round(seconds)
    if delta == 0:
        return "now"
    counts = []
    rest = abs(delta)
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        counts.append((count, unit))
    first = next(i for i, (count, _) in enumerate(counts) if count)
    text = " ".join(f"{count}{unit}" for count, unit in counts[first:first + 2] if count)
    return f"in {text}" if delta > 0 else f"{text} ago"


def _flag(flags: Flags, code: str, message: str) -> None:
    flags.append({"code": code, "message": message})


# -- lenient decoding ----------------------------------------------------------------------------

def _b64(part: str, what: str, flags: Flags) -> bytes | None:
    try:
        return b64url_decode(part)
    except MalformedToken as exc:  # RFC 7515 §2: unpadded, canonical base64url only
        _flag(flags, "non_canonical_base64", f"{what}: {exc.detail}")
    cleaned = part.strip().rstrip("=").replace("+", "-").replace("/", "_")
    try:
        return urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        return None


def _lenient_json(raw: bytes, what: str, strict_error: str, flags: Flags) -> dict[str, Any] | None:
    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        duplicates.extend(sorted({name for name in names if names.count(name) > 1}))
        return dict(pairs)

    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=pairs_hook, parse_constant=str)
    except (UnicodeDecodeError, ValueError, RecursionError):
        value = None
    if duplicates:  # RFC 7515 §5.2 / RFC 8725 §3.10: parsers disagree on which value wins
        _flag(flags, "duplicate_keys", f"{what} repeats {', '.join(duplicates)}; the last value is shown")
    else:
        _flag(flags, "invalid_json", f"{what}: {strict_error}")
    return value if isinstance(value, dict) else None


def _decode_part(part: str, what: str, flags: Flags) -> dict[str, Any] | None:
    raw = _b64(part, what, flags)
    if raw is None:
        _flag(flags, "invalid_base64", f"{what} is not base64url")
        return None
    try:
        return parse_json_object(raw, what)
    except MalformedToken as exc:
        return _lenient_json(raw, what, exc.detail, flags)


# -- what a validator would refuse ------------------------------------------------------------

def _header_flags(header: Mapping[str, Any], flags: Flags) -> None:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        _flag(flags, "alg_none", f"alg is {alg!r}: the token is not signed (RFC 8725 sec. 3.1)")
    elif alg in HMAC_ALGORITHMS:
        _flag(flags, "alg_hmac", f"alg {alg} is a shared secret: refused unless the issuer is "
                                 "configured with one (RFC 8725 sec. 3.2)")
    elif alg not in SUPPORTED_ALGORITHMS:
        _flag(flags, "alg_unsupported", f"alg {alg!r} is not a supported algorithm")
    if "crit" in header:
        _flag(flags, "crit", "crit header present: no extension is understood (RFC 7515 sec. 4.1.11)")
    for name in _KEY_HEADERS:
        if name in header:
            _flag(flags, f"{name}_header", f"{name} header present: keys come only from configuration, "
                                           "never from the token (RFC 8725 sec. 3.10)")
    if isinstance(header.get("cty"), str) and header["cty"].upper() == "JWT":
        _flag(flags, "nested_jwt", "cty JWT: nested tokens are refused (RFC 8725 sec. 2.8)")


def _time_value(claims: Mapping[str, Any], name: str) -> float | None:
    """The claim as a NumericDate, ``None`` when absent or not one (a string, a bool, NaN...)."""
    try:
        return numeric_date(claims, name)
    except InvalidClaim:
        return None


def _times(claims: Mapping[str, Any], now: float, flags: Flags) -> dict[str, dict[str, Any]]:
    times: dict[str, dict[str, Any]] = {}
    for name in _TIME_CLAIMS:
        if name not in claims:
            continue
        value = _time_value(claims, name)
        if value is None:
            _flag(flags, "bad_time_claim", f"{name} is not a NumericDate (RFC 7519 sec. 2)")
            times[name] = {"value": claims[name], "error": "not a NumericDate"}
            continue
        utc = datetime.fromtimestamp(value, tz=UTC).isoformat().replace("+00:00", "Z")
        times[name] = {"value": claims[name], "utc": utc, "relative": relative_time(value - now)}
    return times


def _claim_flags(claims: Mapping[str, Any], times: Mapping[str, Mapping[str, Any]], now: float,
                 flags: Flags) -> None:
    values = {name: _time_value(claims, name) for name in times}
    exp, nbf, iat = values.get("exp"), values.get("nbf"), values.get("iat")
    if "exp" not in claims:
        _flag(flags, "missing_exp", "no exp: an access token must expire (RFC 9068 sec. 2.2)")
    elif exp is not None and now >= exp:
        _flag(flags, "expired", f"expired {relative_time(exp - now)} (RFC 7519 sec. 4.1.4)")
    if nbf is not None and nbf > now:
        _flag(flags, "not_yet_valid", f"not valid before {relative_time(nbf - now)} (RFC 7519 sec. 4.1.5)")
    if iat is not None and iat > now:
        _flag(flags, "iat_in_future", f"issued {relative_time(iat - now)} (RFC 7519 sec. 4.1.6)")
    aud = claims.get("aud")
    if aud is None:
        _flag(flags, "missing_aud", "no aud: the audience cannot be checked (RFC 9068 sec. 4)")
    elif not (isinstance(aud, str) or (isinstance(aud, list) and aud
                                       and all(isinstance(a, str) for a in aud))):
        _flag(flags, "bad_aud", "aud is not a string or a list of strings (RFC 7519 sec. 4.1.3)")
    if not isinstance(claims.get("iss"), str):
        _flag(flags, "missing_iss", "no string iss: the token cannot be routed to an issuer")


# -- the report --------------------------------------------------------------------------------

def _split(token: str, flags: Flags) -> list[str]:
    size = len(token.encode())
    if size > MAX_TOKEN_BYTES:  # refused before decoding: bounded work per request
        _flag(flags, "oversize", f"{size} bytes exceeds the default limit of {MAX_TOKEN_BYTES}")
    parts = token.split(".")
    if len(parts) == 5:
        raise NotAJWT("5 parts: an encrypted JWE, which cannot be read without the key")
    if len(parts) < 2:
        raise NotAJWT("not a JWT: no '.'-separated parts")
    if len(parts) != 3:
        _flag(flags, "not_three_parts", f"{len(parts)} parts; a compact JWS has 3 (RFC 7515 sec. 7.1)")
    return parts


def _actor(claims: dict[str, Any], now: float, depth: int) -> dict[str, Any] | None:
    actor = claims.get("actortoken")
    if not isinstance(actor, str) or depth > 0:
        return None
    digest = hashlib.sha256(actor.encode()).hexdigest()[:16]
    claims["actortoken"] = f"<token sha256:{digest}, decoded under 'actortoken'>"  # never echo a token
    try:
        return inspect_token(actor, now=now, _depth=depth + 1)
    except NotAJWT as exc:
        return {"error": str(exc)}


def inspect_token(token: str, *, now: float, _depth: int = 0) -> dict[str, Any]:
    """Decode ``token`` without verifying it; raise :class:`NotAJWT` when there is no header."""
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    flags: Flags = []
    parts = _split(token, flags)
    header = _decode_part(parts[0], "header", flags)
    if header is None:
        raise NotAJWT("not a JWT: the first part is not a base64url JSON object")
    claims = _decode_part(parts[1], "payload", flags)
    signature = _b64(parts[2], "signature", flags) if len(parts) > 2 else None
    _header_flags(header, flags)
    times = {} if claims is None else _times(claims, now, flags)
    if claims is not None:
        _claim_flags(claims, times, now, flags)
    report: dict[str, Any] = {
        "sha256": hashlib.sha256(token.encode()).hexdigest(), "header": header, "claims": claims,
        "times": times, "signature_bytes": None if signature is None else len(signature), "flags": flags}
    actor = None if claims is None else _actor(claims, now, _depth)
    if actor is not None:
        report["actortoken"] = actor
    return report


def format_text(report: Mapping[str, Any], indent: str = "") -> str:
    """A human-readable rendering of an :func:`inspect_token` report."""
    lines = [f"{indent}sha256     {report.get('sha256', '?')}"]
    for section in ("header", "claims"):
        lines.append(f"{indent}{section}")
        for name, value in (report.get(section) or {}).items():
            lines.append(f"{indent}  {name:<12} {json.dumps(value)}")
    lines.append(f"{indent}times")
    for name, info in report.get("times", {}).items():
        shown = (f"{info['utc']}  ({info['relative']})" if "utc" in info
                 else f"{json.dumps(info['value'])}  (not a NumericDate)")
        lines.append(f"{indent}  {name:<12} {shown}")
    flags = report.get("flags", [])
    lines.append(f"{indent}flags" + ("" if flags else "      (none)"))
    lines += [f"{indent}  ! {flag['code']}: {flag['message']}" for flag in flags]
    if "actortoken" in report:
        actor = report["actortoken"]
        lines.append(f"{indent}actortoken")
        lines.append(format_text(actor, indent + "  ") if "header" in actor
                     else f"{indent}  {actor.get('error')}")
    return "\n".join(lines)
