"""The caller's side (RFC 6749 §4.4, RFC 8693, SharePoint high-trust): ``httpx.Auth`` classes.

Each attaches ``Authorization: Bearer ...`` to outbound requests, for ``httpx.Client`` and
``httpx.AsyncClient`` alike: :class:`ClientCredentialsAuth` (app-only),
:class:`TokenExchangeAuth` (user+app, RFC 8693 or Entra on-behalf-of) and
:class:`HighTrustAuth` (SharePoint server-to-server tokens signed locally).
"""

from ._token_cache import Token, TokenCache, default_cache
from .credentials import ClientCredentialsAuth
from .errors import TokenEndpointError, TokenError, TokenRequestFailed
from .exchange import TokenExchangeAuth
from .hightrust import HighTrustAuth

__all__ = [
    "ClientCredentialsAuth",
    "HighTrustAuth",
    "Token",
    "TokenCache",
    "TokenEndpointError",
    "TokenError",
    "TokenExchangeAuth",
    "TokenRequestFailed",
    "default_cache",
]
