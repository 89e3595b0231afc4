"""The local issuer's endpoints: RFC 8414 / OIDC discovery, RFC 7517 JWKS, RFC 7662
introspection, and the SharePoint JSON metadata document. ``/token`` lives in :mod:`._grants`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._grants import GRANT_TYPES, token_endpoint
from ._server import IssuerRequest, Reply, Route, json_reply
from .clients import authenticate_client
from .sharepoint import METADATA_PATH, metadata_document

if TYPE_CHECKING:
    from .issuer import LocalIssuer

__all__ = ["default_routes"]

_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


def server_metadata(issuer: LocalIssuer) -> dict[str, Any]:
    """RFC 8414 §2 authorization server metadata (also served as OIDC discovery)."""
    algorithms = sorted({key.alg for key in issuer.keys})
    return {
        "issuer": issuer.issuer,
        "jwks_uri": issuer.jwks_uri,
        "token_endpoint": issuer.token_url,
        "introspection_endpoint": issuer.introspection_url,
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": _AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": algorithms,
        "introspection_endpoint_auth_methods_supported": _AUTH_METHODS,
        "response_types_supported": [],  # no authorization endpoint: machine-to-machine only
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "scopes_supported": sorted({s for c in issuer.clients.values() for s in c.scopes or ()}),
    }


def _metadata(issuer: LocalIssuer) -> Reply:
    return json_reply(200, server_metadata(issuer))


def _jwks(issuer: LocalIssuer) -> Reply:
    return json_reply(200, issuer.jwks())


def _introspect(issuer: LocalIssuer, request: IssuerRequest) -> Reply:
    """RFC 7662 §2: an authenticated client asks whether ``token`` is active."""
    if request.method != "POST":
        return json_reply(405, {"error": "invalid_request"}, Allow="POST")
    client = authenticate_client(issuer, request)
    if isinstance(client, Reply):
        return client
    token = request.param("token")
    if token is None:
        return json_reply(400, {"error": "invalid_request", "error_description": "token is required"})
    return json_reply(200, issuer.introspect(token))


def _sharepoint_metadata(issuer: LocalIssuer) -> Reply:
    return json_reply(200, metadata_document(issuer.sharepoint, issuer.token_url))


def default_routes() -> dict[str, Route]:
    """Every path a fresh :class:`LocalIssuer` answers."""
    return {
        "/jwks": _jwks,
        "/.well-known/openid-configuration": _metadata,
        "/.well-known/oauth-authorization-server": _metadata,
        "/token": token_endpoint,
        "/introspect": _introspect,
        METADATA_PATH: _sharepoint_metadata,
    }
