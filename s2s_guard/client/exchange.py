"""RFC 8693 token exchange and the Entra ID on-behalf-of grant, as an ``httpx.Auth``.

A middle-tier API that received a user's token exchanges it for a token to call the next
API as that user (user+app): RFC 8693 §2.1 (``subject_token``), or the Entra ID form
(``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``, ``assertion``,
``requested_token_use=on_behalf_of``). Exchanged tokens are cached per subject token
(by its SHA-256, never the token itself), audience, resource and scope.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx
from cryptography import x509

from ..errors import ConfigurationError
from ._client_auth import AuthMethod, client_authentication
from ._flow import TokenEndpointAuth
from ._keys import PrivateKey
from ._token_cache import CacheKey, TokenCache
from .credentials import normalize_resources, normalize_scope

__all__ = ["ACCESS_TOKEN_TYPE", "JWT_BEARER_GRANT", "JWT_TOKEN_TYPE", "TOKEN_EXCHANGE_GRANT",
           "TokenExchangeAuth"]

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"

SubjectToken = str | Callable[[], str]


class TokenExchangeAuth(TokenEndpointAuth):
    """Bearer tokens obtained by exchanging ``subject_token`` (the caller's user token)."""

    def __init__(self, token_url: str, client_id: str, *, subject_token: SubjectToken,
                 subject_token_type: str = ACCESS_TOKEN_TYPE, actor_token: str | None = None,
                 actor_token_type: str | None = None, on_behalf_of: bool = False,
                 audience: str | Sequence[str] | None = None, resource: str | Sequence[str] | None = None,
                 scope: str | Iterable[str] | None = None, requested_token_type: str | None = None,
                 client_secret: str | None = None, private_key: PrivateKey | bytes | str | None = None,
                 key_password: bytes | None = None, key_id: str | None = None,
                 certificate: x509.Certificate | bytes | str | None = None, algorithm: str | None = None,
                 auth_method: AuthMethod | None = None, assertion_audience: str | None = None,
                 cache: TokenCache | None = None, timeout: float = 10.0,
                 http_client: httpx.Client | None = None, async_http_client: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        credentials = client_authentication(
            client_id, client_secret=client_secret, private_key=private_key, key_password=key_password,
            key_id=key_id, certificate=certificate, algorithm=algorithm, auth_method=auth_method,
            assertion_audience=assertion_audience)
        super().__init__(token_url, credentials, cache=cache, timeout=timeout, http_client=http_client,
                         async_http_client=async_http_client, clock=clock)
        if actor_token is not None and actor_token_type is None:
            raise ConfigurationError("actor_token_type", "required with actor_token (RFC 8693 §2.1)")
        self.client_id = client_id
        self.subject_token = subject_token
        self.subject_token_type = subject_token_type
        self.actor_token, self.actor_token_type = actor_token, actor_token_type
        self.on_behalf_of = on_behalf_of
        self.audiences = (audience,) if isinstance(audience, str) else tuple(audience or ())
        self.resources = normalize_resources(resource)
        self.scope = normalize_scope(scope)
        self.requested_token_type = requested_token_type

    def _subject(self) -> str:
        token = self.subject_token() if callable(self.subject_token) else self.subject_token
        if not token:
            raise ConfigurationError("subject_token", "no subject token to exchange")
        return token

    def grant_form(self) -> dict[str, Any]:
        common = {"scope": self.scope, "resource": list(self.resources) or None}
        if self.on_behalf_of:
            # Entra ID on-behalf-of: the user's token is the assertion (RFC 7523 §2.1 form).
            return {"grant_type": JWT_BEARER_GRANT, "assertion": self._subject(),
                    "requested_token_use": "on_behalf_of", **common}
        return {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": self._subject(),
                "subject_token_type": self.subject_token_type, "actor_token": self.actor_token,
                "actor_token_type": self.actor_token_type, "audience": list(self.audiences) or None,
                "requested_token_type": self.requested_token_type, **common}

    def cache_key(self) -> CacheKey:
        subject = hashlib.sha256(self._subject().encode()).hexdigest()
        actor = hashlib.sha256(self.actor_token.encode()).hexdigest() if self.actor_token else ""
        grant = JWT_BEARER_GRANT if self.on_behalf_of else TOKEN_EXCHANGE_GRANT
        return (grant, self.token_url, self.client_id, subject, actor, " ".join(self.audiences),
                " ".join(self.resources), self.scope or "", self.requested_token_type or "")
