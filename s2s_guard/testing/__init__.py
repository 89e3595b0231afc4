"""Testing kit: a local issuer on loopback and token minting, so users test without an IdP."""

from .issuer import LocalIssuer, SigningKey, generate_key

__all__ = ["LocalIssuer", "SigningKey", "generate_key"]
