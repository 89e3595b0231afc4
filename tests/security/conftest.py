"""Fixtures for the attack suite: the trusted keys (once per session) and a guard trusting them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from s2s_guard import Guard

from security_kit import Forge, make_guard


@pytest.fixture(scope="session")
def forge() -> Forge:
    """The trusted issuer's RSA 2048, P-256 and Ed25519 keys."""
    return Forge(rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
                 ec=ec.generate_private_key(ec.SECP256R1()),
                 ed=ed25519.Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def attacker() -> Forge:
    """Keys the guard does not trust, with the same key ids as the trusted ones."""
    return Forge(rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
                 ec=ec.generate_private_key(ec.SECP256R1()),
                 ed=ed25519.Ed25519PrivateKey.generate())


@pytest.fixture
def guard(forge: Forge) -> Guard:
    """RS256, ES256 and EdDSA from an inline JWK Set; audience ``api://orders``; clock fixed."""
    return make_guard(forge)


@pytest.fixture
def guard_with(forge: Forge) -> Callable[..., Guard]:
    """``guard_with(top={...}, **issuer_overrides)``: a guard with a changed configuration."""

    def build(**kwargs: Any) -> Guard:
        return make_guard(forge, **kwargs)

    return build
