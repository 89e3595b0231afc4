"""OpenAPI 3.1 §4.8.27 OAuth flows: the ``[openapi]`` table, for the docs an adapter generates.

``token_url`` is where Swagger UI's "Authorize" dialog fetches a token with the OAuth 2.0
client-credentials grant (RFC 6749 §4.4); ``scopes`` lists the scopes it offers (name →
description), e.g. ``{"api://orders/.default" = "every app role"}`` for Entra ID. Only the
documentation uses this table: validation never reads it.

```toml
[openapi]
token_url = "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token"
scopes = { "api://orders/.default" = "the app roles granted to the client" }
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigurationError

__all__ = ["OpenAPIConfig", "openapi_from"]

_KEYS = {"token_url", "scopes"}


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenAPIConfig:
    """``[openapi]``: the client-credentials token URL and the scopes Swagger UI offers."""

    #: The token endpoint Swagger UI's "Authorize" posts the client credentials to.
    token_url: str
    #: The scopes offered, ``scope = "description"``.
    scopes: Mapping[str, str] = field(default_factory=dict)


def openapi_from(raw: Mapping[str, Any]) -> OpenAPIConfig | None:
    """The ``[openapi]`` table of a raw configuration, checked; ``None`` when absent."""
    block = raw.get("openapi")
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise ConfigurationError("openapi", "expected a table")
    for key in block:
        if key not in _KEYS:
            raise ConfigurationError(f"openapi.{key}", f"unknown key; expected one of {sorted(_KEYS)}")
    return OpenAPIConfig(token_url=_token_url(block.get("token_url")), scopes=_scopes(block.get("scopes", {})))


def _token_url(value: Any) -> str:
    # The browser posts the client's secret there: an absolute http(s) URL, never a relative one.
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigurationError("openapi.token_url", "required: the token endpoint's absolute URL, "
                                                      'e.g. "https://idp.example.com/oauth2/token"')
    return str(value)


def _scopes(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k and isinstance(v, str)
                                                 for k, v in value.items()):
        raise ConfigurationError("openapi.scopes", 'expected a table of scope = "description"')
    return dict(value)
