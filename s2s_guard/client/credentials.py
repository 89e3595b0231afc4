"""RFC 6749 §4.4 client credentials grant with RFC 8707 resource indicators, as an ``httpx.Auth``.

    auth = ClientCredentialsAuth("https://idp/token", "billing", client_secret=secret,
                                 resource="api://orders", scope="orders.read")
    httpx.get("https://orders/api", auth=auth)

Tokens are cached per (token_url, client_id, resource, scope, auth method, credential digest)
and reused until shortly before they expire; concurrent callers share one token request; a 401 from the API costs one new
token and one retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx
from cryptography import x509

from ..errors import ConfigurationError
from ._client_auth import AuthMethod, client_authentication
from ._flow import TokenEndpointAuth
from ._keys import PrivateKey
from ._token_cache import CacheKey, TokenCache

__all__ = ["ClientCredentialsAuth", "normalize_resources", "normalize_scope"]


def normalize_scope(scope: str | Iterable[str] | None) -> str | None:
    """RFC 6749 §3.3: a space-separated string, in a stable order for the cache key."""
    if scope is None:
        return None
    items = scope.split() if isinstance(scope, str) else list(scope)
    return " ".join(sorted(set(items))) or None


def normalize_resources(resource: str | Sequence[str] | None) -> tuple[str, ...]:
    """RFC 8707 §2: one or more absolute URIs without a fragment, sent as repeated fields."""
    resources = (resource,) if isinstance(resource, str) else tuple(resource or ())
    for value in resources:
        if ":" not in value or "#" in value:
            raise ConfigurationError("resource", f"{value!r} is not an absolute URI without a fragment")
    return resources


class ClientCredentialsAuth(TokenEndpointAuth):
    """Bearer tokens for an app calling as itself (app-only), fetched and cached as needed."""

    def __init__(self, token_url: str, client_id: str, *, client_secret: str | None = None,
                 private_key: PrivateKey | bytes | str | None = None, key_password: bytes | None = None,
                 key_id: str | None = None, certificate: x509.Certificate | bytes | str | None = None,
                 algorithm: str | None = None, auth_method: AuthMethod | None = None,
                 assertion_audience: str | None = None, scope: str | Iterable[str] | None = None,
                 resource: str | Sequence[str] | None = None, extra_params: dict[str, str] | None = None,
                 cache: TokenCache | None = None, timeout: float = 10.0,
                 http_client: httpx.Client | None = None, async_http_client: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        credentials = client_authentication(
            client_id, client_secret=client_secret, private_key=private_key, key_password=key_password,
            key_id=key_id, certificate=certificate, algorithm=algorithm, auth_method=auth_method,
            assertion_audience=assertion_audience)
        super().__init__(token_url, credentials, cache=cache, timeout=timeout, http_client=http_client,
                         async_http_client=async_http_client, clock=clock)
        self.client_id = client_id
        self.scope = normalize_scope(scope)
        self.resources = normalize_resources(resource)
        self.extra_params = dict(extra_params or {})

    def grant_form(self) -> dict[str, Any]:
        form: dict[str, Any] = {"grant_type": "client_credentials", **self.extra_params}
        form["scope"] = self.scope
        form["resource"] = list(self.resources) or None  # repeated field, RFC 8707 §2
        return form

    def cache_key(self) -> CacheKey:
        extra = "&".join(f"{k}={v}" for k, v in sorted(self.extra_params.items()))
        return ("client_credentials", self.token_url, self.client_id, " ".join(self.resources),
                self.scope or "", extra)
