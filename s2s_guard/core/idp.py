"""OIDC Discovery 1.0 §4 and RFC 8414 §3: an identity provider recognised from its issuer URL and metadata.

``Guard.from_issuer`` and the ``issuer_uri`` configuration key read an issuer's discovery
document once, at start-up (:mod:`s2s_guard.sources.issuer_uri`); everything decided from it is
here, a pure function of (issuer URL, document): where the document lives, which profile
fits, which algorithms to allow, and the ``[[issuers]]`` entry that results.

Detection is deliberately narrow. A vendor is recognised by the hosts it owns (Entra,
``*.auth0.com``, Okta, Cognito) or, on any host, by layouts only that vendor serves (Keycloak's
``/realms/<name>`` with its ``protocol/openid-connect/certs`` keys, Okta's ``/oauth2/v1/keys``,
Auth0's ``mfa_challenge_endpoint``, IdentityServer's ``openid-configuration/jwks``). Anything
else gets the generic ``jwt`` profile, which itself refuses known vendor daemon markers as users
and warns. An explicit ``profile`` always wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..config import ASYMMETRIC_ALGORITHMS
from ..errors import ConfigurationError

__all__ = ["CLASSIFICATION", "Detection", "algorithms_from", "detect_profile", "issuer_entry", "metadata_urls"]

#: How each profile tells a daemon (app-only) from a user (user+app), for the start-up log.
CLASSIFICATION: dict[str, str] = {
    "jwt": "app-only when sub == client_id (RFC 9068 §2.2) or a vendor daemon marker (gty, @clients, "
           "service-account-); app = client_id/azp/appid/cid; scopes = scope or scp",
    "entra": "app-only when idtyp = app (or no scp and oid == sub); app = azp/appid; scopes = scp, app roles = roles",
    "auth0": "app-only when gty = client-credentials or sub ends with @clients; app = azp/client_id; "
             "scopes = scope + permissions",
    "okta": "app-only when uid is absent; app = cid; user = uid; scopes = scp",
    "keycloak": "app-only for a service account (preferred_username service-account-<client>, or client_id); "
                "app = azp; scopes = scope",
    "cognito": "app-only when username is absent; app = client_id (one of client_ids); token_use = access; "
               "scopes = scope",
    "duende": "app-only when sub is absent or equals client_id; app = client_id; scopes = scope (string or array)",
    "sharepoint-high-trust": "app-only for the signed actor token alone, user+app when an unsigned outer token "
                             "wraps it; app = the actor's nameid; no scopes ([[grants]])",
    "sharepoint-acs": "user+app when actor names the app and nameid the user, else app-only (nameid); "
                      "no scopes ([[grants]])",
}

_ENTRA_V2_HOSTS = frozenset({"login.microsoftonline.com", "login.microsoftonline.us",
                             "login.chinacloudapi.cn", "login.partner.microsoftonline.cn"})
_ENTRA_V1_HOSTS = frozenset({"sts.windows.net", "sts.chinacloudapi.cn"})
_OKTA_DOMAINS = (".okta.com", ".oktapreview.com", ".okta-emea.com")
_COGNITO_HOST = re.compile(r"cognito-idp(?:-fips)?\.[a-z]{2}(?:-[a-z]+)+-\d\.amazonaws\.com")
_COGNITO_POOL = re.compile(r"/[a-z]{2}(?:-[a-z]+)+-\d_[0-9A-Za-z]+")
_KEYCLOAK_REALM = re.compile(r"(?:/auth)?/realms/[^/]+")
_OKTA_CUSTOM_AS = re.compile(r"/oauth2/[^/]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """The profile chosen for an issuer, and why (``"configured"`` when ``profile`` was given)."""

    profile: str
    reason: str

    @property
    def rule(self) -> str:
        """How this profile tells a daemon from a user."""
        return CLASSIFICATION.get(self.profile, "see the profile's documentation")


def metadata_urls(issuer: str) -> tuple[str, ...]:
    """Where the document may be, in order (as Spring's ``issuer-uri`` looks): OIDC Discovery §4
    (``/.well-known/openid-configuration`` appended), then, for an issuer with a path, the same
    name inserted after the host, then RFC 8414 §3 (``/.well-known/oauth-authorization-server``
    inserted after the host)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    urls = [f"{origin}{path}/.well-known/openid-configuration"]
    if path:
        urls.append(f"{origin}/.well-known/openid-configuration{path}")
    urls.append(f"{origin}/.well-known/oauth-authorization-server{path}")
    return tuple(urls)


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    return value if isinstance(value, str) else ""


def _entra(host: str, path: str, document: Mapping[str, Any]) -> str | None:
    # Microsoft identity platform, "OpenID Connect on the Microsoft identity platform" (issuer formats)
    if host in _ENTRA_V2_HOSTS and re.fullmatch(r"/[^/]+/v2\.0", path):
        # An API left at accessTokenAcceptedVersion 1 (the default) gets v1.0 tokens: another iss.
        return (f"Entra ID v2.0 issuer ({host}/<tenant>/v2.0); v1.0 access tokens say "
                "iss https://sts.windows.net/<tenant>/: trust that issuer too, or set accessTokenAcceptedVersion 2")
    if host in _ENTRA_V1_HOSTS and re.fullmatch(r"/[^/]+/", path):
        return f"Entra ID v1.0 issuer ({host}/<tenant>/)"
    return None


def _auth0(issuer: str, host: str, path: str, document: Mapping[str, Any]) -> str | None:
    if path != "/":
        return None  # Auth0's iss is always the bare domain with a trailing slash
    if host.endswith(".auth0.com"):
        return "Auth0 tenant domain (*.auth0.com)"
    # A custom domain serves Auth0's own document: its non-standard MFA endpoint and /oauth/token.
    if _text(document, "mfa_challenge_endpoint") and _text(document, "token_endpoint") == issuer + "oauth/token":
        return "Auth0 metadata on a custom domain (mfa_challenge_endpoint, /oauth/token)"
    return None


def _okta(issuer: str, host: str, path: str, document: Mapping[str, Any]) -> str | None:
    org, custom = path == "", bool(_OKTA_CUSTOM_AS.fullmatch(path))
    if not (org or custom):
        return None
    if host.endswith(_OKTA_DOMAINS):
        return f"Okta {'org' if org else 'custom'} authorization server ({host})"
    keys = issuer + ("/oauth2/v1/keys" if org else "/v1/keys")
    if _text(document, "jwks_uri") == keys:  # Okta's key endpoint layout, on a custom domain
        return f"Okta metadata on a custom domain ({'/oauth2' if org else '/oauth2/<id>'}/v1/keys)"
    return None


def _keycloak(issuer: str, path: str, document: Mapping[str, Any]) -> str | None:
    if _KEYCLOAK_REALM.fullmatch(path) and _text(document, "jwks_uri") == issuer + "/protocol/openid-connect/certs":
        return "Keycloak realm (/realms/<name>, protocol/openid-connect/certs)"
    return None


def _cognito(host: str, path: str) -> str | None:
    if _COGNITO_HOST.fullmatch(host) and _COGNITO_POOL.fullmatch(path):
        return "Amazon Cognito user pool (cognito-idp.<region>.amazonaws.com/<pool id>)"
    return None


def _duende(issuer: str, document: Mapping[str, Any]) -> str | None:
    if _text(document, "jwks_uri") == issuer.rstrip("/") + "/.well-known/openid-configuration/jwks":
        return "Duende IdentityServer metadata (.well-known/openid-configuration/jwks)"
    return None


def detect_profile(issuer: str, document: Mapping[str, Any]) -> Detection:
    """The profile an issuer's URL and (already issuer-checked) metadata point to; ``jwt`` if none."""
    parts = urlsplit(issuer)
    host, path = (parts.hostname or "").lower(), parts.path
    if parts.scheme == "https":  # the vendors' own hosts serve only https
        for profile, reason in (("entra", _entra(host, path, document)), ("cognito", _cognito(host, path))):
            if reason is not None:
                return Detection(profile=profile, reason=reason)
    for profile, reason in (("auth0", _auth0(issuer, host, path, document)),
                            ("okta", _okta(issuer, host, path, document)),
                            ("keycloak", _keycloak(issuer, path, document)),
                            ("duende", _duende(issuer, document))):
        if reason is not None:
            return Detection(profile=profile, reason=reason)
    return Detection(profile="jwt", reason="no known identity provider recognised")


def algorithms_from(document: Mapping[str, Any]) -> tuple[str, ...]:
    """RFC 8725 §2.1: algorithms come from configuration, never from a token. The document the operator
    pointed at is configuration, but only its asymmetric ``id_token_signing_alg_values_supported``
    are taken (never HS*, whose key would be a client secret, nor ``none``); RS256 when none is left
    (OIDC Discovery §3: RS256 MUST be supported)."""
    listed = document.get("id_token_signing_alg_values_supported")
    names = listed if isinstance(listed, list) else []
    chosen = sorted({alg for alg in names if isinstance(alg, str) and alg in ASYMMETRIC_ALGORITHMS})
    return tuple(chosen) or ("RS256",)


_COGNITO_FIX = ('required for Cognito, whose access tokens carry no aud: the app client ids whose tokens this API '
                'accepts ([[issuers]] issuer_uri = "..." with client_ids = ["..."], or '
                "Guard.from_issuer(..., client_ids=[...]))")


def issuer_entry(raw: Mapping[str, Any], *, where: str, discovery: str,
                 document: Mapping[str, Any]) -> tuple[dict[str, Any], Detection]:
    """The ``[[issuers]]`` entry an ``issuer_uri`` entry stands for: ``issuer`` (the URL, already
    equal to the document's), ``discovery`` (for the keys), the profile and the algorithms."""
    issuer = str(raw["issuer_uri"])
    chosen = detect_profile(issuer, document)
    given = raw.get("profile")
    if isinstance(given, str):  # an explicit profile always wins; the log says what was seen
        seen = "" if given == chosen.profile else f"; the document looks like {chosen.profile}: {chosen.reason}"
        chosen = Detection(profile=given, reason="configured" + seen)
    if chosen.profile == "cognito" and "client_ids" not in raw:
        raise ConfigurationError(where + "client_ids", _COGNITO_FIX)
    entry = {name: value for name, value in raw.items() if name != "issuer_uri"}
    entry.update(issuer=issuer, discovery=discovery, profile=chosen.profile)
    if "algorithms" not in raw:
        entry["algorithms"] = list(algorithms_from(document))
    return entry, chosen
