"""RFC 6750 §2.1: extract the Bearer token from ``Authorization`` header values."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import InvalidRequest, MissingToken

__all__ = ["parse_authorization", "extract_bearer", "malformed_bearer_scheme"]

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Registered auth-scheme names (Basic, Negotiate, SCRAM-SHA-256, DPoP...): letters, digits, '-'.
_SCHEME_NAME = re.compile(r"[A-Za-z][A-Za-z0-9\-]*")
# RFC 9110 §5.6.2: tchar, the characters an auth-scheme name (a token) may continue with.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def malformed_bearer_scheme(scheme: str) -> bool:
    """``Bearer`` glued to a character no scheme name has (TAB, NBSP, U+3000, NUL...): not SP."""
    return len(scheme) > 6 and scheme[:6].lower() == "bearer" and scheme[6] not in _TCHAR


def parse_authorization(header: str | None) -> str:
    """Return the Bearer token of one ``Authorization`` value, or raise.

    No header or another scheme: :class:`MissingToken` (401, no error code, RFC 6750 §3.1).
    ``Bearer`` with no token or characters outside token68: :class:`InvalidRequest` (400).
    """
    # RFC 9110 §5.5: only SP and HTAB are optional whitespace (str.strip() would also eat
    # "\n", "\x85", "\xa0"... and accept bytes no HTTP field value may carry).
    value = header.strip(" \t") if header is not None else ""
    if not value:
        raise MissingToken("no Authorization header")
    scheme, sep, credentials = value.partition(" ")
    # RFC 9110 §11.1: the auth-scheme is case-insensitive.
    if scheme.lower() != "bearer":
        # RFC 6750 §2.1: "Bearer" 1*SP b64token; any other separator is a malformed credential.
        if malformed_bearer_scheme(scheme):
            raise InvalidRequest("Bearer followed by a separator other than SP")
        # A lone token68 that cannot be a scheme name (a JWT has dots) is a token without "Bearer".
        if sep == "" and _TOKEN68.fullmatch(scheme) and not _SCHEME_NAME.fullmatch(scheme):
            raise InvalidRequest("Authorization value without a scheme")
        raise MissingToken(f"scheme {scheme[:20]!r} is not Bearer")
    token = credentials.strip(" ")
    if not token:
        raise InvalidRequest("Bearer scheme without a token")
    if not _TOKEN68.fullmatch(token):
        raise InvalidRequest("Bearer token has characters outside token68")
    return token


def extract_bearer(headers: Sequence[str], query_tokens: Sequence[str] = (), *,
                   allow_query: bool = False) -> str:
    """Pick the one Bearer token a request carries from its header values and query string.

    RFC 6750 §2: a client must not use more than one method, so two ``Authorization``
    headers, or a header and ``access_token`` together, are 400 ``invalid_request``.
    """
    if len(headers) > 1:
        raise InvalidRequest("more than one Authorization header")
    if query_tokens:
        if not allow_query:
            raise InvalidRequest("access_token in the query string is not accepted")
        if headers or len(query_tokens) > 1:
            raise InvalidRequest("more than one access token in the request")
        token = query_tokens[0]
        if not _TOKEN68.fullmatch(token):
            raise InvalidRequest("access_token has characters outside token68")
        return token
    return parse_authorization(headers[0] if headers else None)
