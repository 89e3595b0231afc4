"""The Entra ID (Microsoft identity platform v2.0) endpoints of :class:`EntraLocalIssuer`.

Tenant-path routes, as MSAL finds them: OpenID discovery at
``/{tenant}/v2.0/.well-known/openid-configuration``, keys at ``/{tenant}/discovery/v2.0/keys``,
``/{tenant}/oauth2/v2.0/token`` (RFC 6749 §4.4 client credentials with a client secret or a
certificate assertion, RFC 7523 §2.2) and ``/{tenant}/oauth2/v2.0/authorize`` (named in the
document, since MSAL requires it; it answers an error: there is no interactive sign-in here).

As Entra does, a client credentials request asks for exactly one ``<resource>/.default`` scope;
the token's ``aud`` is ``<resource>`` and its ``roles`` the app roles granted to the client.
Errors carry Entra's ``AADSTS`` codes in ``error_codes`` and ``error_description``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._server import IssuerRequest, Reply, Route, json_reply
from .clients import authenticate_client

if TYPE_CHECKING:
    from .entra import EntraLocalIssuer

__all__ = ["entra_metadata", "entra_routes"]

DEFAULT_SUFFIX = "/.default"
_AUTH_METHODS = ["client_secret_post", "private_key_jwt", "client_secret_basic"]  # Entra's own list


def entra_metadata(issuer: EntraLocalIssuer) -> dict[str, Any]:
    """The tenant's OpenID Provider metadata, in the shape of Entra's v2.0 document."""
    return {
        "issuer": issuer.issuer,
        "authorization_endpoint": issuer.authorization_url,  # MSAL reads it: a KeyError without it
        "token_endpoint": issuer.token_url,
        "jwks_uri": issuer.jwks_uri,
        "token_endpoint_auth_methods_supported": _AUTH_METHODS,
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],  # named endpoint, but no interactive flow is served here
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "request_uri_parameter_supported": False,
    }


def _aadsts(error: str, code: int, description: str, status: int = 400) -> Reply:
    return json_reply(status, {"error": error, "error_description": f"AADSTS{code}: {description}",
                               "error_codes": [code]})


def _resource(scope: str | None) -> str | None:
    """``<resource>`` from the one ``<resource>/.default`` scope a client credentials request may ask."""
    values = (scope or "").split(" ")
    if len(values) != 1 or not values[0].endswith(DEFAULT_SUFFIX):
        return None
    return values[0][: -len(DEFAULT_SUFFIX)] or None


def _client_credentials(issuer: EntraLocalIssuer, request: IssuerRequest) -> Reply:
    client = authenticate_client(issuer, request)
    if isinstance(client, Reply):
        return client
    resource = _resource(request.param("scope"))
    if resource is None:  # Entra: client credentials need exactly one scope ending in /.default
        return _aadsts("invalid_scope", 1002012, "The provided value for scope is not valid. Client "
                       "credential flows must have a scope value with /.default suffixed to the resource "
                       "identifier (application ID URI).")
    if client.resources is not None and resource not in client.resources:
        return _aadsts("invalid_resource", 500011, "The resource principal was not found in the tenant.")
    # RFC 7523 §2.2: a certificate assertion is azpacr 2, a client secret 1
    credential = "2" if request.param("client_assertion") is not None else "1"
    token = issuer.app_only_token(client.client_id, resource, credential=credential)
    ttl = int(issuer.token_ttl)
    return json_reply(200, {"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl,
                            "access_token": token}, Pragma="no-cache")


def _token(issuer: EntraLocalIssuer, request: IssuerRequest) -> Reply:
    """RFC 6749 §3.2: POST a form; only the client credentials grant is served in this mode."""
    if request.method != "POST":
        return json_reply(405, {"error": "invalid_request"}, Allow="POST")
    if request.param("grant_type") != "client_credentials":
        return _aadsts("unsupported_grant_type", 70003, "The app requested an unsupported grant type: "
                       "the local Entra issuer serves client_credentials only.")
    return _client_credentials(issuer, request)


def _authorize(issuer: EntraLocalIssuer, request: IssuerRequest) -> Reply:
    return _aadsts("unsupported_response_type", 70005, "The local Entra issuer has no interactive "
                   "sign-in: use the client credentials grant (app-only tokens).")


def _metadata(issuer: EntraLocalIssuer, request: IssuerRequest) -> Reply:
    return json_reply(200, entra_metadata(issuer))


def _keys(issuer: EntraLocalIssuer, request: IssuerRequest) -> Reply:
    return json_reply(200, issuer.jwks())


def entra_routes(tenant: str) -> dict[str, Route]:
    """The tenant-path routes of an Entra-compatible issuer for ``tenant``."""
    return {
        f"/{tenant}/v2.0/.well-known/openid-configuration": _metadata,
        f"/{tenant}/discovery/v2.0/keys": _keys,
        f"/{tenant}/oauth2/v2.0/token": _token,
        f"/{tenant}/oauth2/v2.0/authorize": _authorize,
    }
