"""RFC 7519 §4.1.7 ``jti`` and token SHA-256 digests: what a revocation stores, never a token.

The revoked set holds ``jti`` values and token SHA-256 hex digests. A token handed to
``revoke()`` (by keyword, or positionally when it is a JWT) is stored as its SHA-256, so the
set, in memory and in Redis, never holds a bearer credential. A SharePoint high-trust outer
token is unsigned and can be rebuilt around its signed actor token for any user
([MS-SPS2SAUTH]), so revoking one also revokes the actor token's SHA-256. Sans-I/O.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from base64 import urlsafe_b64decode

from ..errors import AuthError
from .jws import parse_compact

__all__ = ["is_token_sha256", "revocation_entries", "token_entries"]

_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def is_token_sha256(value: str) -> bool:
    """Whether ``value`` is a lowercase SHA-256 hex digest, the form token hashes take here."""
    return len(value) == 64 and _DIGEST.fullmatch(value) is not None and value.islower()


def _looks_like_jose(value: str) -> bool:
    """RFC 7515 §7.1 / RFC 7516 §7.1: 3 or 5 parts, the first a base64url JSON object (the header)."""
    parts = value.split(".")
    if len(parts) not in (3, 5) or _B64URL.fullmatch(parts[0]) is None:
        return False
    try:
        header = json.loads(urlsafe_b64decode(parts[0].rstrip("=") + "=" * (-len(parts[0].rstrip("=")) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict)


def _actor_token(token: str) -> str | None:
    """[MS-SPS2SAUTH]: the signed actor token an unsecured (``alg: none``) outer token wraps."""
    try:
        outer = parse_compact(token, len(token))
    except AuthError:
        return None
    actor = outer.payload.get("actortoken")
    return actor if outer.header.get("alg") == "none" and isinstance(actor, str) and actor else None


def token_entries(token: str) -> tuple[str, ...]:
    """A token's revocation entries: its SHA-256, and its actor token's for a SharePoint outer token."""
    if not token or token != token.strip() or " " in token:
        raise ValueError("revoke(token=...) takes the token itself, not an Authorization header value")
    actor = _actor_token(token)
    digest = hashlib.sha256(token.encode()).hexdigest()
    return (digest,) if actor is None else (digest, hashlib.sha256(actor.encode()).hexdigest())


def _digest_entries(digest: str) -> tuple[str, ...]:
    """A SHA-256 hex digest as stored: lower case (how token hashes are compared), and as given."""
    return (digest,) if digest.islower() else (digest.lower(), digest)


def revocation_entries(value: str | None = None, *, token: str | None = None, jti: str | None = None,
                       opaque_tokens: bool = False, sha256: str | None = None) -> tuple[str, ...]:
    """What revoking ``value``, ``token=``, ``jti=`` or ``sha256=`` stores (exactly one is given).

    ``jti=`` is stored as given; ``token=`` as its SHA-256 (see :func:`token_entries`);
    ``sha256=`` is a token's SHA-256 (``principal.token_sha256``), 64 hex digits or a
    ``ValueError`` that never echoes it (a token passed there by mistake stays out of logs). A
    positional value is a token SHA-256 when it is 64 hex digits, a token when it is shaped
    like a compact JWS/JWE (it is hashed, never stored), and otherwise a ``jti``, unless
    ``opaque_tokens`` (the guard introspects opaque tokens): then it may be a raw opaque token
    and is refused with a ``ValueError`` asking for ``jti=`` or ``token=``.
    """
    if sum(given is not None for given in (value, token, jti, sha256)) != 1:
        raise TypeError("revoke() takes exactly one of: a value, token=, jti= or sha256=")
    if sha256 is not None:
        if not isinstance(sha256, str) or len(sha256) != 64 or _DIGEST.fullmatch(sha256) is None:
            length = len(sha256) if isinstance(sha256, str) else type(sha256).__name__
            raise ValueError(f"revoke(sha256=...) takes a token's SHA-256 as 64 hex digits "
                             f"(principal.token_sha256), not this value ({length} characters); "
                             "pass a token as revoke(token=...)")
        return _digest_entries(sha256)
    if jti is not None:
        if not isinstance(jti, str) or not jti:
            raise ValueError("revoke(jti=...) takes a non-empty string")
        return (jti,)
    if token is not None:
        return token_entries(token)
    if not isinstance(value, str) or not value:
        raise ValueError("revoke() takes a non-empty jti, token SHA-256 hex or token")
    if len(value) == 64 and _DIGEST.fullmatch(value):
        return _digest_entries(value)
    if _looks_like_jose(value):
        return token_entries(value)  # a whole JWT given by mistake: never stored verbatim
    if opaque_tokens:
        raise ValueError("revoke(): this value may be an opaque token or a jti; "
                         "call revoke(jti=...) or revoke(token=...) to say which")
    return (value,)
