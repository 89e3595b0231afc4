"""RFC 7515 §7.1: split a compact JWS strictly, without trusting anything in it yet.

Strict means: exactly three base64url parts without padding and in canonical form
(RFC 7515 §2, RFC 4648 §3.5), UTF-8 JSON objects without duplicate member names
(RFC 7515 §5.2, RFC 8725 §3.10), no NaN/Infinity, bounded size and depth.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import urlsafe_b64decode
from dataclasses import dataclass
from typing import Any

from ..errors import MalformedToken, TokenTooLarge

__all__ = ["CompactJWS", "b64url_decode", "parse_compact", "parse_json_object"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Last character of a canonical encoding: the unused low bits must be zero (RFC 4648 §3.5).
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class CompactJWS:
    """The decoded parts of a compact JWS; ``signing_input`` is what the signature covers."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def b64url_decode(part: str) -> bytes:
    """Decode unpadded, canonical base64url or raise :class:`MalformedToken`."""
    rem = len(part) % 4
    if rem == 1 or not _B64URL.fullmatch(part):
        raise MalformedToken("invalid base64url")
    if rem and part[-1] not in _CANONICAL_LAST[rem]:
        raise MalformedToken("non-canonical base64url")
    try:
        return urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - excluded by the regex
        raise MalformedToken("invalid base64url") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _depth_ok(text: str) -> bool:
    """Whether arrays/objects nest at most ``_MAX_DEPTH`` deep; brackets in strings do not count."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif in_string:
            escaped, in_string = ch == "\\", ch != '"'
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object; refuse duplicates, NaN and deep nesting."""
    try:
        text = raw.decode("utf-8")
        # Nesting depth only needs counting when brackets are plentiful (cheap pre-check).
        if text.count("[") + text.count("{") > _MAX_DEPTH and not _depth_ok(text):
            raise ValueError("nested too deeply")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedToken(f"{what} is not a valid JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedToken(f"{what} is not a JSON object")
    return value


def split_compact(token: str, max_bytes: int) -> tuple[str, str, str]:
    """Split a compact JWS into its three encoded parts, refusing oversize input."""
    if len(token) > max_bytes:
        raise TokenTooLarge(f"token of {len(token)} bytes exceeds {max_bytes}")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken(f"expected 3 dot-separated parts, got {len(parts)}")
    return parts[0], parts[1], parts[2]


def parse_compact(token: str, max_bytes: int = 16 * 1024) -> CompactJWS:
    """Decode a compact JWS into header, payload, signing input and signature bytes."""
    h64, p64, s64 = split_compact(token, max_bytes)
    header = parse_json_object(b64url_decode(h64), "header")
    payload = parse_json_object(b64url_decode(p64), "payload")
    return CompactJWS(header, payload, f"{h64}.{p64}".encode("ascii"), b64url_decode(s64))
