"""RFC 9068, RFC 8693, Entra ID and SharePoint token families, minted by a :class:`LocalIssuer`.

Each family is ``fn(issuer, options) -> str`` whose docstring is its one-line description:
RFC 9068 app-only and user+app, an RFC 8693 ``act`` chain, an opaque token for introspection,
Entra ID v1/v2 app-only and delegated, SharePoint high-trust app-only and user+app, and
SharePoint ACS (low-trust) app-only and user+app. The formats follow the real ones claim by claim.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..client.hightrust import ACTIVE_DIRECTORY_IDP, build_user_token, sharepoint_audience, sign_actor_token
from ..core.keys import b64url
from .issuer import LocalIssuer
from .sharepoint import ACS_PRINCIPAL

__all__ = ["FAMILIES", "Family", "MintOptions", "entra_issuer"]


@dataclass(frozen=True, kw_only=True)
class MintOptions:
    """What to put in a minted token; each family uses the fields that make sense for it."""

    client_id: str = "daemon-app"
    user: str = "alice"
    scopes: str = ""  # space-separated; Entra app-only tokens carry them as roles
    audience: str | None = None  # default: the issuer's audience
    ttl: float = 300
    host: str = "localhost"  # SharePoint host in the aud claim
    actors: tuple[str, ...] = ("upstream-service",)  # act chain below the client, outermost first
    claims: Mapping[str, Any] = field(default_factory=dict)  # extra claims (JWT families)


Family = Callable[[LocalIssuer, MintOptions], str]


def _aud(issuer: LocalIssuer, opts: MintOptions) -> str:
    return opts.audience or issuer.audience


def _scope(opts: MintOptions) -> dict[str, str]:
    return {"scope": opts.scopes} if opts.scopes else {}


# -- RFC 9068 / RFC 8693 ---------------------------------------------------------------------

def app_only(issuer: LocalIssuer, opts: MintOptions) -> str:
    """RFC 9068 app-only token: sub = client_id (client credentials grant)."""
    claims = {"client_id": opts.client_id, "sub": opts.client_id, "aud": _aud(issuer, opts), **_scope(opts)}
    return issuer.mint({**claims, **opts.claims}, ttl=opts.ttl)


def user_and_app(issuer: LocalIssuer, opts: MintOptions) -> str:
    """RFC 9068 user+app token: sub = the user, client_id = the app."""
    claims = {"client_id": opts.client_id, "sub": opts.user, "aud": _aud(issuer, opts), **_scope(opts)}
    return issuer.mint({**claims, **opts.claims}, ttl=opts.ttl)


def act_chain(issuer: LocalIssuer, opts: MintOptions) -> str:
    """RFC 8693 delegation: sub = the user, act = the client, nested act = earlier actors."""
    act: dict[str, Any] = {}
    for actor in reversed((opts.client_id, *opts.actors)):
        act = {"sub": actor, **({"act": act} if act else {})}
    claims = {"client_id": opts.client_id, "sub": opts.user, "act": act, "aud": _aud(issuer, opts),
              **_scope(opts)}
    return issuer.mint({**claims, **opts.claims}, ttl=opts.ttl)


def opaque(issuer: LocalIssuer, opts: MintOptions) -> str:
    """An opaque app-only token, valid only through the issuer's /introspect (RFC 7662)."""
    claims = {"client_id": opts.client_id, "sub": opts.client_id, "aud": _aud(issuer, opts), **_scope(opts)}
    return issuer.issue_opaque({**claims, **opts.claims}, ttl=opts.ttl)


# -- Microsoft Entra ID ----------------------------------------------------------------------

def entra_issuer(tenant_id: str, version: str) -> str:
    """The exact ``iss`` of an Entra ID access token of ``version`` "1.0" or "2.0"."""
    if version == "1.0":
        return f"https://sts.windows.net/{tenant_id}/"
    return f"https://login.microsoftonline.com/{tenant_id}/v2.0"


def _object_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"s2s-guard:{kind}:{name}"))


def _entra(issuer: LocalIssuer, opts: MintOptions, version: str, delegated: bool) -> str:
    tid = issuer.tenant_id
    claims: dict[str, Any] = {"aud": _aud(issuer, opts), "iss": entra_issuer(tid, version), "tid": tid,
                              "ver": version, "uti": uuid.uuid4().hex[:22]}
    app = ({"appid": opts.client_id, "appidacr": "1"} if version == "1.0"
           else {"azp": opts.client_id, "azpacr": "1"})
    if delegated:
        oid = _object_id("user", opts.user)
        pairwise = b64url(hashlib.sha256(f"{opts.user}|{opts.client_id}".encode()).digest())
        user = ({"upn": opts.user, "unique_name": opts.user} if version == "1.0"
                else {"preferred_username": opts.user})
        claims.update(oid=oid, sub=pairwise, name=opts.user.title(), scp=opts.scopes, **user)
    else:
        oid = _object_id("service-principal", opts.client_id)
        # idtyp is an optional claim: v1 app-only tokens carry it here, v2 ones rely on oid == sub
        claims.update(oid=oid, sub=oid, roles=opts.scopes.split(), **({"idtyp": "app"} if version == "1.0" else {}))
    key = issuer.key_for("RS256")
    headers = {"typ": "JWT", **({"x5t": key.kid} if version == "1.0" else {})}
    return issuer.mint({**claims, **app, **opts.claims}, ttl=opts.ttl, headers=headers, omit=("jti",))


def entra_v1_app(issuer: LocalIssuer, opts: MintOptions) -> str:
    """Entra ID v1 app-only token: appid, roles, idtyp app, oid == sub, iss sts.windows.net."""
    return _entra(issuer, opts, "1.0", delegated=False)


def entra_v1_delegated(issuer: LocalIssuer, opts: MintOptions) -> str:
    """Entra ID v1 delegated (user+app) token: appid, scp, upn, oid of the user."""
    return _entra(issuer, opts, "1.0", delegated=True)


def entra_v2_app(issuer: LocalIssuer, opts: MintOptions) -> str:
    """Entra ID v2 app-only token: azp, roles, oid == sub (no idtyp), iss login.microsoftonline.com/.../v2.0."""
    return _entra(issuer, opts, "2.0", delegated=False)


def entra_v2_delegated(issuer: LocalIssuer, opts: MintOptions) -> str:
    """Entra ID v2 delegated (user+app) token: azp, scp, preferred_username, oid of the user."""
    return _entra(issuer, opts, "2.0", delegated=True)


# -- SharePoint --------------------------------------------------------------------------------

def _actor(issuer: LocalIssuer, opts: MintOptions, *, delegation: bool) -> str:
    sp = issuer.sharepoint
    return sign_actor_token(key=sp.key, certificate=sp.certificate, client_id=opts.client_id,
                            issuer_id=sp.issuer_id, realm=sp.realm, host=opts.host,
                            now=issuer.clock(), lifetime=opts.ttl, trusted_for_delegation=delegation)


def sharepoint_app_only(issuer: LocalIssuer, opts: MintOptions) -> str:
    """SharePoint high-trust app-only: the RS256 actor token, x5t of the issuer certificate."""
    return _actor(issuer, opts, delegation=False)


def sharepoint_user_and_app(issuer: LocalIssuer, opts: MintOptions) -> str:
    """SharePoint high-trust user+app: unsigned outer token (nameid, nii) around the actor token."""
    actor = _actor(issuer, opts, delegation=True)
    return build_user_token(actor_token=actor, client_id=opts.client_id, realm=issuer.sharepoint.realm,
                            host=opts.host, user=opts.user, identity_provider=ACTIVE_DIRECTORY_IDP,
                            now=issuer.clock(), lifetime=opts.ttl)


def _acs(issuer: LocalIssuer, opts: MintOptions, claims: dict[str, Any]) -> str:
    sp = issuer.sharepoint
    realm = sp.realm.lower()
    now = int(issuer.clock())
    body = {"aud": sharepoint_audience(opts.host, realm), "iss": f"{ACS_PRINCIPAL}@{realm}",
            "nbf": now, "exp": now + int(opts.ttl), **claims}
    return issuer.mint(body, key=sp.key, headers={"typ": "JWT", "x5t": sp.thumbprint}, omit=("jti", "iat"))


def acs_app_only(issuer: LocalIssuer, opts: MintOptions) -> str:
    """SharePoint ACS (low-trust) app-only: nameid = client_id@realm, signed by the ACS certificate."""
    realm = issuer.sharepoint.realm.lower()
    return _acs(issuer, opts, {"nameid": f"{opts.client_id}@{realm}", "trustedfordelegation": "false",
                               "identityprovider": f"{ACS_PRINCIPAL}@{realm}"})


def acs_user_and_app(issuer: LocalIssuer, opts: MintOptions) -> str:
    """SharePoint ACS (low-trust) user+app: actor = client_id@realm, nameid = the user."""
    realm = issuer.sharepoint.realm.lower()
    return _acs(issuer, opts, {"nameid": opts.user, "actor": f"{opts.client_id}@{realm}",
                               "identityprovider": "urn:federation:microsoftonline"})


FAMILIES: dict[str, Family] = {
    "app-only": app_only,
    "user+app": user_and_app,
    "act-chain": act_chain,
    "opaque": opaque,
    "entra-v1-app": entra_v1_app,
    "entra-v1-delegated": entra_v1_delegated,
    "entra-v2-app": entra_v2_app,
    "entra-v2-delegated": entra_v2_delegated,
    "sharepoint-app-only": sharepoint_app_only,
    "sharepoint-user+app": sharepoint_user_and_app,
    "acs-app-only": acs_app_only,
    "acs-user+app": acs_user_and_app,
}
