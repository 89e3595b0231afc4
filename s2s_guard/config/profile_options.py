"""Profile options of an ``[[issuers]]`` entry: Entra tenants, jwt claim names, RFC 9068 ``typ``,
the SharePoint trust registry, Auth0/Cognito/Keycloak specifics, and the profile name itself.

Each option is refused where its profile does not use it. The profile names come from
:mod:`~s2s_guard.config.registry` (the profiles register themselves): this module imports no profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from .registry import registered_profiles
from .values import _bool, _optional_str, _strings, _unknown, _url


_PROFILE_KEYS = {"tenants", "claims", "require_typ", "issuer_id", "realm", "metadata_url",
                 "trust_broker", "client_ids", "hosts", "principal_id", "realm_roles", "client_roles"}
#: The keys of an issuer's ``claims`` table (``jwt`` profile): the claim naming each role.
_CLAIM_ROLES = {"app", "user", "scopes"}
_SHAREPOINT_KEYS = ("issuer_id", "realm", "metadata_url", "trust_broker", "client_ids", "hosts",
                    "principal_id")
_SHAREPOINT_PROFILES = ("sharepoint-high-trust", "sharepoint-acs")
_ACS_PRINCIPAL = "00000001-0000-0000-c000-000000000000"
_SHAREPOINT_PRINCIPAL = "00000003-0000-0ff1-ce00-000000000000"
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _guid(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _GUID.fullmatch(value.lower()):
        raise ConfigurationError(key, "expected a GUID such as 11111111-1111-1111-1111-111111111111")
    return value.lower()


def _typ(raw: Mapping[str, Any], where: str) -> str | None:
    """``typ``, or ``at+jwt`` (RFC 9068 §2.1) when ``require_typ = true``."""
    typ = _optional_str(raw, "typ", where)
    return typ or ("at+jwt" if _bool(raw, "require_typ", where) else None)


def _derive_issuer(raw: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """SharePoint issuers are ``issuer_id@realm`` (lower-case): derive ``issuer`` from those two."""
    profile = raw.get("profile")
    if profile not in _SHAREPOINT_PROFILES or "issuer" in raw:
        return raw
    if "realm" not in raw:
        raise ConfigurationError(where + "realm", "required: the SharePoint realm (a GUID)")
    ident = raw.get("issuer_id", _ACS_PRINCIPAL if profile == "sharepoint-acs" else None)
    if ident is None:
        raise ConfigurationError(where + "issuer_id", "required: the GUID of the trusted token issuer")
    return {**raw, "issuer": f"{_guid(ident, where + 'issuer_id')}@{_guid(raw['realm'], where + 'realm')}"}


def _profile_options(raw: Mapping[str, Any], where: str, issuer: str, profile: str) -> dict[str, Any]:
    """The profile keys of one issuer; each is refused where its profile does not use it."""
    for key, owner in (("tenants", "entra"), ("claims", "jwt")):
        if key in raw and profile != owner:
            raise ConfigurationError(where + key, f"only for profile {owner!r}")
    if "{tenantid}" in issuer and profile != "entra":
        raise ConfigurationError(where + "issuer", "{tenantid} templates are for the entra profile")
    options: dict[str, Any] = {"tenants": _tenants(raw, where, issuer),
                               "claims": _claim_names(raw, where),
                               "require_typ": _bool(raw, "require_typ", where)}
    if profile in _SHAREPOINT_PROFILES:
        options.update(_sharepoint_registry(raw, where, issuer, profile))
        return options
    options.update(_idp_options(raw, where, issuer, profile))
    for key in _SHAREPOINT_KEYS:
        if key in raw and key not in options:  # Cognito's client_ids is its own
            raise ConfigurationError(where + key, "only for the sharepoint-high-trust and sharepoint-acs profiles")
    return options


def _idp_options(raw: Mapping[str, Any], where: str, issuer: str, profile: str) -> dict[str, Any]:
    """Auth0's issuer spelling, Cognito's app client allow-list, Keycloak's opt-in roles."""
    for key, owner in (("realm_roles", "keycloak"), ("client_roles", "keycloak")):
        if key in raw and profile != owner:
            raise ConfigurationError(where + key, f"only for profile {owner!r}")
    if profile == "auth0" and not issuer.endswith("/"):  # Auth0's iss always ends with a slash
        raise ConfigurationError(where + "issuer", f"Auth0 issuers end with a slash: {issuer + '/'!r}")
    if profile == "cognito":  # no aud in Cognito access tokens: the app client is the audience
        if "client_ids" not in raw:
            raise ConfigurationError(where + "client_ids",
                                     'required: the app client ids whose access tokens this API accepts, e.g. ["1example23456789"]')
        return {"client_ids": _strings(raw["client_ids"], where + "client_ids")}
    if profile == "keycloak":
        return {"realm_roles": _bool(raw, "realm_roles", where),
                "client_roles": _strings(raw.get("client_roles", []), where + "client_roles", allow_empty=True)}
    return {}


def _tenants(raw: Mapping[str, Any], where: str, issuer: str) -> tuple[str, ...] | str | None:
    """Entra multi-tenant: an issuer with ``{tenantid}`` needs an allow-list or an explicit ``"any"``."""
    value = raw.get("tenants")
    if value is None and "{tenantid}" in issuer:
        raise ConfigurationError(where + "tenants",
                                 'an issuer with {tenantid} needs tenants = ["<tenant id>", ...] or tenants = "any"')
    if value is None or value == "any":
        return value
    return tuple(_guid(t, where + "tenants") for t in _strings(value, where + "tenants"))


def _claim_names(raw: Mapping[str, Any], where: str) -> Mapping[str, str] | None:
    value = raw.get("claims")
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        raise ConfigurationError(where + "claims", 'expected a table such as {app = "azp", user = "sub", scopes = "scp"}')
    _unknown(value, _CLAIM_ROLES, where + "claims.")
    for role, name in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{where}claims.{role}", "expected a claim name")
    return dict(value)


def _sharepoint_registry(raw: Mapping[str, Any], where: str, issuer: str, profile: str) -> dict[str, Any]:
    """A trusted SharePoint issuer as a farm administrator registers it (New-SPTrustedSecurityTokenIssuer)."""
    if "realm" not in raw:
        raise ConfigurationError(where + "realm", "required: the SharePoint realm (a GUID)")
    realm = _guid(raw["realm"], where + "realm")
    acs = profile == "sharepoint-acs"
    issuer_id = _guid(raw.get("issuer_id", _ACS_PRINCIPAL if acs else None), where + "issuer_id")
    if acs and ("issuer_id" in raw and issuer_id != _ACS_PRINCIPAL or "trust_broker" in raw):
        raise ConfigurationError(where + "issuer_id", f"ACS is always {_ACS_PRINCIPAL} and a broker")
    if issuer != f"{issuer_id}@{realm}":
        raise ConfigurationError(where + "issuer", f"expected {issuer_id}@{realm} (issuer_id@realm, lower-case)")
    broker = _bool(raw, "trust_broker", where)
    ids = _strings(raw.get("client_ids", []), where + "client_ids", allow_empty=True)
    client_ids = tuple(_guid(c, where + "client_ids") for c in ids)
    if not acs and not broker and not client_ids:
        client_ids = (issuer_id,)  # SharePoint: an issuer that is not a broker signs only for itself
    hosts = tuple(h.lower() for h in _strings(raw.get("hosts", []), where + "hosts", allow_empty=True))
    if not hosts and "audience" not in raw:
        raise ConfigurationError(where + "hosts", 'required: the hosts in aud = principal/host@realm, e.g. ["orders.contoso.com"]')
    return {"issuer_id": issuer_id, "realm": realm, "metadata_url": _url(raw, "metadata_url", where),
            "trust_broker": broker, "client_ids": client_ids, "hosts": hosts,
            "principal_id": _guid(raw.get("principal_id", _SHAREPOINT_PRINCIPAL), where + "principal_id")}


def _check_profile(profile: Any, key: str) -> None:
    profiles = registered_profiles()
    if profile not in profiles:
        raise ConfigurationError(key, f"unknown profile {profile!r}; expected one of {sorted(profiles)}")
