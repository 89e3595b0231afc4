"""Token profiles: how a verified token's claims become the app and user principals.

Each ``[[issuers]]`` entry names a profile; :data:`PROFILES` maps names to profiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ...principal import Principal
from .generic import GenericJWTProfile

__all__ = ["PROFILES", "Profile"]


class Profile(Protocol):
    """Maps verified claims to a :class:`Principal`; raises ``InvalidClaim`` if it cannot."""

    name: str

    def principal(self, claims: Mapping[str, Any], *, issuer: str, issuer_name: str,
                  token_sha256: str) -> Principal: ...


PROFILES: dict[str, Profile] = {"jwt": GenericJWTProfile()}
