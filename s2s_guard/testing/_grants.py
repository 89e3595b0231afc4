"""The local issuer's ``/token`` endpoint: RFC 6749 §4.4 client credentials with RFC 8707
resource indicators, RFC 8693 token exchange, and the Entra ID on-behalf-of grant.

Errors follow RFC 6749 §5.2 (``invalid_client``, ``invalid_scope``, ``unsupported_grant_type``),
RFC 8707 §2 (``invalid_target``) and RFC 8693 §2.2.2 (``invalid_request`` for a bad subject token).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._server import IssuerRequest, Reply, json_reply
from .clients import RegisteredClient, authenticate_client

if TYPE_CHECKING:
    from .issuer import LocalIssuer

__all__ = ["GRANT_TYPES", "token_endpoint"]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
_SUBJECT_TYPES = (ACCESS_TOKEN_TYPE, "urn:ietf:params:oauth:token-type:jwt")

Grant = Callable[["LocalIssuer", IssuerRequest, RegisteredClient], Reply]


def _error(error: str, description: str, status: int = 400) -> Reply:
    return json_reply(status, {"error": error, "error_description": description})


def _scope(client: RegisteredClient, request: IssuerRequest, default: str | None) -> str | Reply | None:
    """The granted scope: what was asked (within the client's allow-list) or ``default``."""
    asked = request.param("scope")
    if asked is None:
        return default if default is not None else " ".join(sorted(client.scopes or ())) or None
    wanted = set(asked.split())
    if client.scopes is not None and not wanted <= client.scopes:
        return _error("invalid_scope", "scope not allowed for this client")
    return " ".join(sorted(wanted)) or None


def _audience(issuer: LocalIssuer, client: RegisteredClient, request: IssuerRequest) -> str | list[str] | Reply:
    """RFC 8707 §2: the token's ``aud`` from ``resource`` (and RFC 8693 ``audience``) values."""
    resources = request.form.get("resource", [])
    for resource in resources:
        parts = urlsplit(resource)
        if not parts.scheme or parts.fragment or (client.resources is not None and resource not in client.resources):
            return _error("invalid_target", "resource not allowed or not an absolute URI")
    targets = resources + request.form.get("audience", [])
    if not targets:
        return issuer.audience
    return targets[0] if len(targets) == 1 else targets


def _issue(issuer: LocalIssuer, claims: dict[str, Any], audience: str | list[str], *, opaque: bool,
           exchanged: bool = False) -> Reply:
    if opaque:
        token = issuer.issue_opaque({**claims, "aud": audience})
    else:
        token = issuer.mint({**claims, "aud": audience}, alg=issuer.keys[0].alg, ttl=issuer.token_ttl)
    body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": int(issuer.token_ttl)}
    if "scope" in claims:
        body["scope"] = claims["scope"]
    if exchanged:
        body["issued_token_type"] = ACCESS_TOKEN_TYPE  # RFC 8693 §2.2.1
    return json_reply(200, body, Pragma="no-cache")


def _client_credentials(issuer: LocalIssuer, request: IssuerRequest, client: RegisteredClient) -> Reply:
    scope = _scope(client, request, None)
    if isinstance(scope, Reply):
        return scope
    audience = _audience(issuer, client, request)
    if isinstance(audience, Reply):
        return audience
    claims: dict[str, Any] = {"client_id": client.client_id, "sub": client.client_id}
    if scope:
        claims["scope"] = scope
    opaque = client.opaque or any(r in issuer.opaque_resources for r in request.form.get("resource", []))
    return _issue(issuer, claims, audience, opaque=opaque)


def _delegated(issuer: LocalIssuer, request: IssuerRequest, client: RegisteredClient, subject: str,
               act: dict[str, Any] | None) -> Reply:
    """A user+app token for ``client`` acting for the subject token's user."""
    claims = issuer.verify(subject)
    if claims is None or not isinstance(claims.get("sub"), str):
        return _error("invalid_request", "subject token is not a live token of this issuer")
    scope = _scope(client, request, claims.get("scope") if isinstance(claims.get("scope"), str) else None)
    if isinstance(scope, Reply):
        return scope
    audience = _audience(issuer, client, request)
    if isinstance(audience, Reply):
        return audience
    new: dict[str, Any] = {"sub": claims["sub"], "client_id": client.client_id}
    if act is not None:
        new["act"] = {**act, **({"act": claims["act"]} if "act" in claims else {})}  # RFC 8693 §4.1
    if scope:
        new["scope"] = scope
    return _issue(issuer, new, audience, opaque=client.opaque, exchanged=act is not None)


def _token_exchange(issuer: LocalIssuer, request: IssuerRequest, client: RegisteredClient) -> Reply:
    """RFC 8693 §2.1: ``act`` names the actor (the actor token's subject, else the client)."""
    subject, kind = request.param("subject_token"), request.param("subject_token_type")
    if subject is None or kind not in _SUBJECT_TYPES:
        return _error("invalid_request", "subject_token and a supported subject_token_type are required")
    actor = request.param("actor_token")
    actor_claims = issuer.verify(actor) if actor is not None else {"sub": client.client_id}
    if actor_claims is None:
        return _error("invalid_request", "actor token is not a live token of this issuer")
    return _delegated(issuer, request, client, subject, {"sub": actor_claims.get("sub")})


def _on_behalf_of(issuer: LocalIssuer, request: IssuerRequest, client: RegisteredClient) -> Reply:
    """The Entra ID form: ``assertion`` is the user's token, ``requested_token_use=on_behalf_of``."""
    assertion = request.param("assertion")
    if assertion is None or request.param("requested_token_use") != "on_behalf_of":
        return _error("invalid_request", "assertion and requested_token_use=on_behalf_of are required")
    return _delegated(issuer, request, client, assertion, None)


_GRANTS: dict[str, Grant] = {
    "client_credentials": _client_credentials,
    TOKEN_EXCHANGE: _token_exchange,
    JWT_BEARER: _on_behalf_of,
}
GRANT_TYPES = tuple(_GRANTS)


def token_endpoint(issuer: LocalIssuer, request: IssuerRequest) -> Reply:
    """RFC 6749 §3.2: POST a form, authenticate the client, then run the grant."""
    if request.method != "POST":
        return json_reply(405, {"error": "invalid_request"}, Allow="POST")
    client = authenticate_client(issuer, request)
    if isinstance(client, Reply):
        return client
    grant = _GRANTS.get(request.param("grant_type") or "")
    if grant is None:
        return _error("unsupported_grant_type", "grant_type not supported here")
    return grant(issuer, request, client)
