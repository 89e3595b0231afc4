"""Session fixtures for the profile tests: certificates generated once (RSA generation is slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from profile_support import Signer, make_signer


@pytest.fixture(scope="session")
def addin() -> Signer:
    """The high-trust add-in's signing certificate (what the farm administrator registers)."""
    return make_signer("High-Trust Add-in")


@pytest.fixture(scope="session")
def stranger() -> Signer:
    """A certificate nobody trusts."""
    return make_signer("Someone Else")


@pytest.fixture(scope="session")
def acs() -> Signer:
    """The ACS token-signing certificate."""
    return make_signer("accounts.accesscontrol.windows.net")


@pytest.fixture(scope="session")
def entra() -> Signer:
    """The Entra ID signing key (and the certificate its JWKS publishes in x5c)."""
    return make_signer("login.microsoftonline.com")


@pytest.fixture(scope="session")
def addin_cert_file(addin: Signer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The add-in certificate as the .cer (DER) file a farm administrator imports."""
    path = tmp_path_factory.mktemp("certs") / "HighTrustAddin.cer"
    path.write_bytes(addin.der)
    return path


@pytest.fixture(scope="session")
def acs_cert_file(acs: Signer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("certs") / "acs.pem"
    path.write_bytes(acs.pem)
    return path


@pytest.fixture(scope="session")
def idp() -> Signer:
    """A generic OAuth authorization server's signing key (RFC 9068 tokens)."""
    return make_signer("as.example.com")
