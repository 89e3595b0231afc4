"""Token profiles: how a verified token's claims become the app and user principals.

Each ``[[issuers]]`` entry names a profile; :data:`PROFILES` maps names to default instances
and :func:`profile_for` sets one up for an issuer (claim names, tenants, SharePoint realm...).
``profile.principal(claims, ...)`` works on any claims mapping, including RFC 7662
introspection responses (see :func:`introspected_principal`).
"""

from __future__ import annotations

from ...config import IssuerConfig
from .base import BaseProfile, Profile, actors_of
from .entra import EntraProfile
from .generic import GenericJWTProfile
from .introspected import check_introspected, introspected_principal
from .sharepoint import ACSProfile, HighTrustProfile

__all__ = ["PROFILES", "BaseProfile", "Profile", "actors_of", "check_introspected",
           "introspected_principal", "profile_for"]

PROFILES: dict[str, Profile] = {
    "jwt": GenericJWTProfile(),            # RFC 9068 + RFC 8693 act; RFC 7662 responses
    "entra": EntraProfile(),               # Microsoft Entra ID v1.0 / v2.0 access tokens
    "sharepoint-high-trust": HighTrustProfile(),  # SharePoint S2S: actor token, unsecured outer
    "sharepoint-acs": ACSProfile(),        # SharePoint low-trust tokens issued by Azure ACS
}


def profile_for(issuer: IssuerConfig) -> Profile:
    """The profile ``issuer.profile`` names, configured for this issuer."""
    return PROFILES[issuer.profile].configure(issuer)
