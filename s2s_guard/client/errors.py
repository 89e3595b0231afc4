"""RFC 6749 §5.2: what can go wrong when the caller asks a token endpoint for a token.

    Exception
    └── TokenError                 no token for the outbound call
        ├── TokenRequestFailed     the token endpoint could not be reached (wraps httpx errors)
        └── TokenEndpointError     it answered, with an error or something that is not a token

These are the caller's errors, raised from ``client.get(...)``; the resource server's
``AuthError`` tree is a different side of the wire. Neither carries a token or a secret.
"""

from __future__ import annotations

__all__ = ["TokenEndpointError", "TokenError", "TokenRequestFailed"]

_MAX_DESCRIPTION = 200


class TokenError(Exception):
    """A token for an outbound call could not be obtained."""

    def __init__(self, message: str, *, token_url: str) -> None:
        super().__init__(message)
        self.token_url = token_url


class TokenRequestFailed(TokenError):
    """The token endpoint is unreachable: connection refused, timeout, TLS, protocol error."""


class TokenEndpointError(TokenError):
    """The token endpoint refused (``error`` per RFC 6749 §5.2) or answered garbage."""

    def __init__(self, message: str, *, token_url: str, status_code: int,
                 error: str | None = None, description: str | None = None) -> None:
        self.status_code = status_code
        self.error = error
        self.description = description[:_MAX_DESCRIPTION] if description else None
        detail = f" ({self.description})" if self.description else ""
        super().__init__(f"{message}: HTTP {status_code} {error or ''}{detail}".rstrip(),
                         token_url=token_url)
