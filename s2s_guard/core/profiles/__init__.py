"""Token profiles: how a verified token's claims become the app and user principals.

Each ``[[issuers]]`` entry names a profile; :data:`PROFILES` maps names to default instances
and :func:`profile_for` sets one up for an issuer (claim names, tenants, SharePoint realm...).
``profile.principal(claims, ...)`` works on any claims mapping, including RFC 7662
introspection responses (see :func:`introspected_principal`).
"""

from __future__ import annotations

from ...config import IssuerConfig
from ...config.registry import register_profiles
from .auth0 import Auth0Profile
from .base import BaseProfile, Profile, actors_of
from .cognito import CognitoProfile
from .duende import DuendeProfile
from .entra import EntraProfile
from .generic import GenericJWTProfile
from .introspected import check_introspected, introspected_principal
from .keycloak import KeycloakProfile
from .okta import OktaProfile
from .sharepoint import ACSProfile, HighTrustProfile

__all__ = ["PROFILES", "BaseProfile", "Profile", "actors_of", "check_introspected",
           "introspected_principal", "profile_for"]

PROFILES: dict[str, Profile] = {
    "jwt": GenericJWTProfile(),            # RFC 9068 + RFC 8693 act; RFC 7662 responses
    "entra": EntraProfile(),               # Microsoft Entra ID v1.0 / v2.0 access tokens
    "sharepoint-high-trust": HighTrustProfile(),  # SharePoint S2S: actor token, unsecured outer
    "sharepoint-acs": ACSProfile(),        # SharePoint low-trust tokens issued by Azure ACS
    "auth0": Auth0Profile(),               # Auth0: azp, gty / <client>@clients, permissions
    "okta": OktaProfile(),                 # Okta org and custom authorization servers: cid, uid, scp
    "keycloak": KeycloakProfile(),         # Keycloak: azp, service-account user, opt-in roles
    "cognito": CognitoProfile(),           # Amazon Cognito user pools: token_use, client_id, no aud
    "duende": DuendeProfile(),             # Duende IdentityServer: client_id, scope as a JSON array
}
register_profiles(PROFILES)  # load_config accepts these names (a live view: later additions count too)


def profile_for(issuer: IssuerConfig) -> Profile:
    """The profile ``issuer.profile`` names, configured for this issuer."""
    return PROFILES[issuer.profile].configure(issuer)
