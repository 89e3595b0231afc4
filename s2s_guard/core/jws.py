"""RFC 7515 §7.1: split a compact JWS strictly, without trusting anything in it yet.

Strict means: exactly three base64url parts without padding and in canonical form
(RFC 7515 §2, RFC 4648 §3.5), UTF-8 JSON objects without duplicate member names
(RFC 7515 §5.2, RFC 8725 §3.10), no NaN/Infinity, no unpaired surrogate escapes
(RFC 7493 §2.1), bounded size and depth.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import urlsafe_b64decode
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import MalformedToken, TokenTooLarge

__all__ = ["CompactJWS", "b64url_decode", "parse_compact", "parse_json_object"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Last character of a canonical encoding: the unused low bits must be zero (RFC 4648 §3.5).
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
_MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
# The fast lane maps base64url to base64 in one pass; "+", "/" and "=" (not base64url) become
# "!", which strict binascii refuses like every other byte outside the alphabet.
_TO_STRICT_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = {0: b"", 2: b"==", 3: b"="}
_CANONICAL_LAST_BYTES = {rem: frozenset(chars.encode()) for rem, chars in
                         {2: "AQgw", 3: "AEIMQUYcgkosw048"}.items()}


@dataclass(frozen=True, slots=True)
class CompactJWS:
    """The decoded parts of a compact JWS; ``signing_input`` is what the signature covers."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @classmethod
    def _of(cls, header: dict[str, Any], payload: dict[str, Any], signing_input: bytes,
            signature: bytes) -> CompactJWS:
        """The constructor for the per-request path: the same fields, without the frozen ``__init__``."""
        jws = object.__new__(cls)
        _set = object.__setattr__
        _set(jws, "header", header)
        _set(jws, "payload", payload)
        _set(jws, "signing_input", signing_input)
        _set(jws, "signature", signature)
        return jws


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


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a decoded string (key or value) holds a surrogate; json joins valid pairs."""
    if isinstance(value, str):
        return not value.isascii() and _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


#: Built once: json.loads(..., object_pairs_hook=...) would build a decoder per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
#: Its C scanner: one value from an index, without ``decode``'s whitespace regexes around it.
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _decode(text: str) -> Any:
    """One JSON text: the scanner alone when the text is exactly one value, else ``decode``."""
    try:
        value, end = _SCAN_ONCE(text, 0)
    except StopIteration:  # nothing at index 0 (whitespace first, or empty): decode says why
        return _DECODER.decode(text)
    return value if end == len(text) else _DECODER.decode(text)  # trailing whitespace or data


def parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """Parse UTF-8 JSON that must be an object; refuse duplicates, NaN, lone surrogates, deep nesting."""
    try:
        text = raw.decode("utf-8")
        # Nesting depth only needs counting when brackets are plentiful (cheap pre-check).
        if text.count("[") + text.count("{") > _MAX_DEPTH and not _depth_ok(text):
            raise ValueError("nested too deeply")
        value = _decode(text)
        if "\\u" in text and _has_lone_surrogate(value):
            # RFC 7493 §2.1, RFC 8259 §8.2: "\ud800" escapes a string that UTF-8 cannot carry.
            raise ValueError("unpaired surrogate escape")
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


def _decode_standard(part: bytes) -> bytes:
    """Decode a part already mapped to the base64 alphabet (see :data:`_TO_STRICT_STANDARD`)."""
    rem = len(part) % 4
    if rem == 1:
        raise MalformedToken("invalid base64url")
    if rem and part[-1] not in _CANONICAL_LAST_BYTES[rem]:
        raise MalformedToken("non-canonical base64url")  # RFC 4648 §3.5: unused bits are zero
    return binascii.a2b_base64(part + _PADDING[rem], strict_mode=True)  # only the alphabet


#: Header segment → parsed header. One issuer's tokens share a few headers, and the segment is
#: what the signature covers, so a header is decoded and checked once; bounded, cleared when full.
_HEADERS: dict[bytes, dict[str, Any]] = {}
_HEADERS_MAX = 256
_HEADER_CACHED_BYTES = 1024  # headers with certificate chains are rare and big: not kept


def _header(h64: bytes) -> dict[str, Any]:
    """The decoded header of a mapped segment; a copy, so callers may keep or change it."""
    header = _HEADERS.get(h64)
    if header is None:
        header = parse_json_object(_decode_standard(h64), "header")
        if len(h64) <= _HEADER_CACHED_BYTES:
            if len(_HEADERS) >= _HEADERS_MAX:
                _HEADERS.clear()
            _HEADERS[h64] = header
    return header.copy()


def parse_compact(token: str, max_bytes: int = 16 * 1024) -> CompactJWS:
    """Decode a compact JWS into header, payload, signing input and signature bytes."""
    if len(token) > max_bytes:
        raise TokenTooLarge(f"token of {len(token)} bytes exceeds {max_bytes}")
    raw = token.encode("ascii", "replace")  # non-ASCII becomes "?", outside the alphabet
    parts = raw.translate(_TO_STRICT_STANDARD).split(b".")
    if len(parts) == 3:  # the fast lane: one pass maps the alphabet, strict binascii checks it
        h64, p64, s64 = parts
        try:
            header = _header(h64)
            payload = parse_json_object(_decode_standard(p64), "payload")
            return CompactJWS._of(header, payload, raw[:len(h64) + 1 + len(p64)], _decode_standard(s64))
        except (binascii.Error, MalformedToken):
            pass  # refused: the long way below says why, in its order and words
    return _parse_compact_slow(token, max_bytes)


def _parse_compact_slow(token: str, max_bytes: int) -> CompactJWS:
    h64, p64, s64 = split_compact(token, max_bytes)
    header = parse_json_object(b64url_decode(h64), "header")
    payload = parse_json_object(b64url_decode(p64), "payload")
    return CompactJWS(header, payload, f"{h64}.{p64}".encode("ascii"), b64url_decode(s64))

