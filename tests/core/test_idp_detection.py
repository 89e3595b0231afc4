"""Issue 13, "One line to trust an IdP": the profile, algorithms and discovery URLs an issuer's URL and
discovery document point to (a pure function; the loopback tests are in tests/sources/test_from_issuer.py).

Each vendor case uses the vendor's real issuer URL shape and the metadata members its own
documentation shows:

* Microsoft Entra ID, "OpenID Connect on the Microsoft identity platform" (the v2.0 document at
  ``https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration``, issuer
  ``https://login.microsoftonline.com/<tenant>/v2.0``; v1.0 ``https://sts.windows.net/<tenant>/``):
  https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc
* Auth0, "Locate JSON Web Key Sets" / OIDC discovery (``https://<tenant>.<region>.auth0.com/``,
  ``/oauth/token``, ``/.well-known/jwks.json``, ``mfa_challenge_endpoint``; custom domains serve the
  same document): https://auth0.com/docs/get-started/applications/configure-applications-with-oidc-discovery
* Okta, "/.well-known/openid-configuration" (org ``https://<org>.okta.com`` with
  ``/oauth2/v1/keys``; custom ``https://<org>.okta.com/oauth2/<id>`` with ``/v1/keys``):
  https://developer.okta.com/docs/api/openapi/okta-oauth/oauth/tag/OrgAS/
* Keycloak, "Securing applications", endpoints (``/realms/<realm>``,
  ``/realms/<realm>/protocol/openid-connect/certs``): https://www.keycloak.org/securing-apps/oidc-layers
* Amazon Cognito, "Verifying a JSON web token" (``https://cognito-idp.<region>.amazonaws.com/<userPoolId>``,
  ``/.well-known/jwks.json``):
  https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html
* Duende IdentityServer, discovery endpoint (``jwks_uri`` ``<issuer>/.well-known/openid-configuration/jwks``):
  https://docs.duendesoftware.com/identityserver/reference/endpoints/discovery
"""

from __future__ import annotations

from typing import Any

import pytest

from s2s_guard import ConfigurationError
from s2s_guard.core.idp import CLASSIFICATION, algorithms_from, detect_profile, issuer_entry, metadata_urls
from s2s_guard.core.profiles import PROFILES

TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


def entra_v2(tenant: str = TENANT) -> tuple[str, dict[str, Any]]:
    base = f"https://login.microsoftonline.com/{tenant}"
    return f"{base}/v2.0", {"issuer": f"{base}/v2.0", "jwks_uri": f"{base}/discovery/v2.0/keys",
                            "token_endpoint": f"{base}/oauth2/v2.0/token",
                            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                            "id_token_signing_alg_values_supported": ["RS256"],
                            "cloud_instance_name": "microsoftonline.com", "tenant_region_scope": "EU"}


def entra_v1() -> tuple[str, dict[str, Any]]:
    iss = f"https://sts.windows.net/{TENANT}/"
    return iss, {"issuer": iss, "jwks_uri": "https://login.microsoftonline.com/common/discovery/keys",
                 "token_endpoint": f"https://login.microsoftonline.com/{TENANT}/oauth2/token",
                 "id_token_signing_alg_values_supported": ["RS256"]}


def auth0(domain: str = "dev-orders.eu.auth0.com") -> tuple[str, dict[str, Any]]:
    iss = f"https://{domain}/"
    return iss, {"issuer": iss, "authorization_endpoint": f"{iss}authorize", "token_endpoint": f"{iss}oauth/token",
                 "device_authorization_endpoint": f"{iss}oauth/device/code", "userinfo_endpoint": f"{iss}userinfo",
                 "mfa_challenge_endpoint": f"{iss}mfa/challenge", "jwks_uri": f"{iss}.well-known/jwks.json",
                 "registration_endpoint": f"{iss}oidc/register", "revocation_endpoint": f"{iss}oauth/revoke",
                 "id_token_signing_alg_values_supported": ["HS256", "RS256", "PS256"]}


def okta(host: str = "dev-1234567.okta.com", server: str | None = "default") -> tuple[str, dict[str, Any]]:
    iss = f"https://{host}" + (f"/oauth2/{server}" if server else "")
    endpoints = iss + ("/v1" if server else "/oauth2/v1")
    return iss, {"issuer": iss, "authorization_endpoint": f"{endpoints}/authorize",
                 "token_endpoint": f"{endpoints}/token", "jwks_uri": f"{endpoints}/keys",
                 "introspection_endpoint": f"{endpoints}/introspect",
                 "id_token_signing_alg_values_supported": ["RS256"]}


def keycloak(base: str = "https://sso.example.com", realm: str = "demo") -> tuple[str, dict[str, Any]]:
    iss = f"{base}/realms/{realm}"
    oidc = f"{iss}/protocol/openid-connect"
    return iss, {"issuer": iss, "authorization_endpoint": f"{oidc}/auth", "token_endpoint": f"{oidc}/token",
                 "introspection_endpoint": f"{oidc}/token/introspect", "jwks_uri": f"{oidc}/certs",
                 "id_token_signing_alg_values_supported": ["PS384", "ES384", "RS384", "HS256", "HS512", "ES256",
                                                           "RS256", "HS384", "ES512", "PS256", "PS512", "RS512",
                                                           "EdDSA"]}


def cognito(region: str = "eu-west-1", pool: str = "eu-west-1_AbCdEf123") -> tuple[str, dict[str, Any]]:
    iss = f"https://cognito-idp.{region}.amazonaws.com/{pool}"
    return iss, {"issuer": iss, "jwks_uri": f"{iss}/.well-known/jwks.json",
                 "token_endpoint": f"https://orders.auth.{region}.amazoncognito.com/oauth2/token",
                 "id_token_signing_alg_values_supported": ["RS256"]}


def duende(iss: str = "https://demo.duendesoftware.com") -> tuple[str, dict[str, Any]]:
    return iss, {"issuer": iss, "jwks_uri": f"{iss}/.well-known/openid-configuration/jwks",
                 "token_endpoint": f"{iss}/connect/token", "authorization_endpoint": f"{iss}/connect/authorize",
                 "id_token_signing_alg_values_supported": ["RS256"]}


@pytest.mark.parametrize(("shape", "profile"), [
    (entra_v2(), "entra"),
    (entra_v1(), "entra"),
    (auth0(), "auth0"),
    (auth0("orders.auth0.com"), "auth0"),
    (auth0("login.orders.example.com"), "auth0"),   # custom domain: Auth0's own document
    (okta(), "okta"),
    (okta(server=None), "okta"),                   # org authorization server
    (okta("dev-1.oktapreview.com", "aus1a2b3c4d"), "okta"),
    (okta("id.orders.example.com", "aus1a2b3c4d"), "okta"),  # custom domain: Okta's key layout
    (keycloak(), "keycloak"),
    (keycloak("https://sso.example.com/auth"), "keycloak"),  # before Keycloak 17 (WildFly): /auth
    (keycloak("http://127.0.0.1:8080"), "keycloak"),
    (cognito(), "cognito"),
    (cognito("us-gov-west-1", "us-gov-west-1_Abc"), "cognito"),
    (duende(), "duende"),
], ids=lambda v: v if isinstance(v, str) else v[0])
def test_each_vendor_is_recognised_from_its_issuer_and_metadata(shape: tuple[str, dict[str, Any]],
                                                                profile: str) -> None:
    issuer, document = shape
    detection = detect_profile(issuer, document)
    assert detection.profile == profile, detection.reason
    assert detection.profile in PROFILES and detection.rule == CLASSIFICATION[profile]


def _with(shape: tuple[str, dict[str, Any]], **changes: Any) -> dict[str, Any]:
    return {k: v for k, v in {**shape[1], **changes}.items() if v is not None}


@pytest.mark.parametrize(("issuer", "document"), [
    ("https://orders.example.com", {"jwks_uri": "https://orders.example.com/jwks"}),
    # look-alike hosts: a vendor's domain only as a whole label suffix
    ("https://login.microsoftonline.com.evil.example/x/v2.0", {}),
    ("https://tenant.auth0.com.evil.example/", {}),
    ("https://evilauth0.com/", {}),
    ("https://okta.com.evil.example/oauth2/default", {}),
    ("https://cognito-idp.eu-west-1.amazonaws.com.evil.example/eu-west-1_Abc", {}),
    # vendor hosts, but not the vendor's issuer shape
    ("http://login.microsoftonline.com/x/v2.0", {}),       # not https
    ("https://login.microsoftonline.com/x/v1.0", {}),
    ("https://dev-orders.eu.auth0.com/api/", {}),           # Auth0's iss has no path
    ("https://dev-1.okta.com/oauth2/default/extra", {}),
    ("https://cognito-idp.eu-west-1.amazonaws.com/", {}),
    # layouts half-matched: a /realms/ path without Keycloak's certs endpoint, Auth0's paths without its MFA member
    (keycloak()[0], _with(keycloak(), jwks_uri="https://sso.example.com/keys")),
    (auth0("login.orders.example.com")[0], _with(auth0("login.orders.example.com"), mfa_challenge_endpoint=None)),
    ("https://id.orders.example.com/oauth2/default", {"jwks_uri": "https://id.orders.example.com/keys"}),
])
def test_anything_else_is_the_generic_jwt_profile(issuer: str, document: dict[str, Any]) -> None:
    """Unknown (or merely look-alike) issuers get ``jwt``, which refuses vendor daemon markers as users and warns."""
    assert detect_profile(issuer, document).profile == "jwt"


def test_algorithms_come_from_the_document_asymmetric_only() -> None:
    """RFC 8725 §2.1 / §3.1: HS* (a client secret) and ``none`` are never taken from a document."""
    assert algorithms_from(keycloak()[1]) == ("ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384",
                                              "PS512", "RS256", "RS384", "RS512")
    assert algorithms_from(auth0()[1]) == ("PS256", "RS256")
    assert algorithms_from({"id_token_signing_alg_values_supported": ["none", "HS256"]}) == ("RS256",)
    assert algorithms_from({"id_token_signing_alg_values_supported": "RS512"}) == ("RS256",)
    assert algorithms_from({}) == ("RS256",)  # OIDC Discovery §3: RS256 MUST be supported


def test_metadata_urls_follow_oidc_then_rfc8414() -> None:
    """OIDC Discovery §4.1 appends; RFC 8414 §3.1 inserts the well-known name after the host."""
    assert metadata_urls("https://sso.example.com/realms/demo") == (
        "https://sso.example.com/realms/demo/.well-known/openid-configuration",
        "https://sso.example.com/.well-known/openid-configuration/realms/demo",
        "https://sso.example.com/.well-known/oauth-authorization-server/realms/demo")
    assert metadata_urls("https://dev-orders.eu.auth0.com/") == (
        "https://dev-orders.eu.auth0.com/.well-known/openid-configuration",
        "https://dev-orders.eu.auth0.com/.well-known/oauth-authorization-server")


def test_the_entry_names_issuer_discovery_profile_and_algorithms() -> None:
    issuer, document = keycloak()
    url = metadata_urls(issuer)[0]
    entry, detection = issuer_entry({"issuer_uri": issuer, "realm_roles": True}, where="issuers[0].",
                                    discovery=url, document=document)
    assert entry == {"issuer": issuer, "discovery": url, "profile": "keycloak", "realm_roles": True,
                     "algorithms": list(algorithms_from(document))}
    assert detection.reason.startswith("Keycloak")


def test_an_explicit_profile_and_algorithms_win() -> None:
    issuer, document = keycloak()
    entry, detection = issuer_entry({"issuer_uri": issuer, "profile": "jwt", "algorithms": ["ES256"]},
                                    where="", discovery=metadata_urls(issuer)[0], document=document)
    assert (entry["profile"], entry["algorithms"]) == ("jwt", ["ES256"])
    assert detection.reason.startswith("configured; the document looks like keycloak")
    _, same = issuer_entry({"issuer_uri": issuer, "profile": "keycloak"}, where="",
                           discovery=metadata_urls(issuer)[0], document=document)
    assert same.reason == "configured"


def test_cognito_needs_client_ids() -> None:
    """Cognito access tokens carry no ``aud``: the app client allow-list is the audience, so it is required."""
    issuer, document = cognito()
    with pytest.raises(ConfigurationError) as info:
        issuer_entry({"issuer_uri": issuer}, where="issuers[0].", discovery=issuer, document=document)
    assert info.value.key == "issuers[0].client_ids" and "client_ids=[" in str(info.value)
    entry, _ = issuer_entry({"issuer_uri": issuer, "client_ids": ["1example23456789"]}, where="",
                            discovery=issuer, document=document)
    assert entry["profile"] == "cognito" and entry["client_ids"] == ["1example23456789"]


def test_entra_v2_names_the_v1_token_issuer() -> None:
    """Microsoft identity platform, "Access tokens" (token versions): an API whose manifest keeps
    accessTokenAcceptedVersion at its default receives v1.0 tokens, iss ``https://sts.windows.net/<tenant>/``,
    whatever the v2.0 document says; the start-up line says so rather than leaving every token refused."""
    issuer, document = entra_v2()
    assert "sts.windows.net" in detect_profile(issuer, document).reason
