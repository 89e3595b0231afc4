"""Amazon Cognito user pool access tokens (AWS docs, "Understanding the access token":
https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html).

Cognito access tokens carry no ``aud``: as aws-jwt-verify does (``tokenUse: "access"``,
``clientId``; https://github.com/awslabs/aws-jwt-verify), the audience is the app client, so
``client_id`` must be one of the issuer's ``client_ids`` and ``token_use`` must be ``access``
(ID tokens are refused). A token that does carry ``aud`` (an RFC 8707 resource binding) must
also name an accepted audience. ``username`` is present only for users: without it (client
credentials, ``sub == client_id``) the token is app-only. User = ``sub``, named by
``username``, with ``cognito:groups`` as roles.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ...config import IssuerConfig
from ...errors import DisallowedAlgorithm, InvalidAudience, InvalidTokenType
from ..claims import audiences_of, check_claims_without_aud
from .generic import string_list
from .mapped import VendorProfile, text

__all__ = ["CognitoProfile"]


class CognitoProfile(VendorProfile):
    """App = ``client_id`` (an allowed app client); user = ``sub`` when ``username`` is present."""

    name = "cognito"

    def __init__(self, issuer: IssuerConfig | None = None) -> None:
        super().__init__(issuer)
        self.client_ids = frozenset(issuer.client_ids if issuer is not None else ())

    def validate(self, claims: Mapping[str, Any], *, outer: Mapping[str, Any] | None, issuer: str,
                 audiences: Collection[str], leeway: float, now: float) -> Mapping[str, Any]:
        if outer is not None:
            raise DisallowedAlgorithm("unsecured outer tokens are not accepted for this issuer")
        check_claims_without_aud(claims, issuer=issuer, leeway=leeway, now=now)
        if claims.get("token_use") != "access":  # RFC 8725 §3.11: an ID token is not an access token
            raise InvalidTokenType("token_use is not access")
        if self.client_id(claims) not in self.client_ids:  # the app client stands for aud
            raise InvalidAudience("client_id is not an allowed app client")
        if "aud" in claims and not any(a in audiences for a in audiences_of(claims)):
            raise InvalidAudience("aud matches no accepted audience")  # RFC 7519 §4.1.3
        return claims

    def is_app_only(self, claims: Mapping[str, Any], client_id: str) -> bool:
        return text(claims, "username") is None or claims.get("sub") == client_id

    def user_name(self, claims: Mapping[str, Any]) -> str | None:
        return text(claims, "username")

    def user_roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        return string_list(claims, "cognito:groups")
