"""SharePoint high-trust: which clients a trusted issuer's certificate may sign for, and delegation.

A farm registers a trusted token issuer with ``New-SPTrustedSecurityTokenIssuer``: without
``-IsTrustBroker`` the certificate signs only for the add-in whose client id is the issuer id
(s2s_guard: ``client_ids`` defaults to ``[issuer_id]``); a broker signs for any add-in unless
``client_ids`` narrows it. A forged client is 401 (the signature vouches for nobody else); an
add-in the delegation policy forbids to act for users is 403.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from s2s_guard import Guard, InvalidClaim
from s2s_guard.client.hightrust import build_user_token, sign_actor_token
from s2s_guard.errors import DelegationNotAllowed
from s2s_guard.testing import HighTrustIdentity

HOST = "sharepoint.contoso.test"
OTHER = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"


@pytest.fixture(scope="module")
def identity() -> HighTrustIdentity:
    return HighTrustIdentity()


@pytest.fixture(scope="module")
def cert_file(identity: HighTrustIdentity, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sp") / "issuer.cer"
    path.write_bytes(identity.certificate_pem)
    return path


def guard(identity: HighTrustIdentity, cert_file: Path, **entry: Any) -> Guard:
    top = entry.pop("top", {})
    issuer = {"name": "addins", "profile": "sharepoint-high-trust", "issuer_id": identity.issuer_id,
              "realm": identity.realm, "algorithms": ["RS256"], "certificates": [str(cert_file)],
              "hosts": [HOST], **entry}
    return Guard.from_config({"audience": ["unused"], "issuers": [issuer], **top})


def token(identity: HighTrustIdentity, client_id: str, user: str | None = None) -> str:
    now = time.time()
    actor = sign_actor_token(key=identity.key, certificate=identity.certificate, client_id=client_id,
                             issuer_id=identity.issuer_id, realm=identity.realm, host=HOST, now=now,
                             lifetime=300, trusted_for_delegation=user is not None)
    if user is None:
        return actor
    return build_user_token(actor_token=actor, client_id=client_id, realm=identity.realm, host=HOST,
                            user=user, identity_provider="urn:office:idp:activedirectory", now=now, lifetime=300)


@pytest.mark.parametrize("user", [None, "s-1-5-21-500"])
def test_a_non_broker_signs_only_for_itself_by_default(identity: HighTrustIdentity, cert_file: Path,
                                                       user: str | None) -> None:
    g = guard(identity, cert_file)
    own = g.authenticate_sync("Bearer " + token(identity, identity.issuer_id, user))
    assert own.app is not None and own.app.client_id == identity.issuer_id.lower()
    with pytest.raises(InvalidClaim) as info:
        g.authenticate_sync("Bearer " + token(identity, OTHER, user))
    assert info.value.status_code == 401


@pytest.mark.parametrize("user", [None, "s-1-5-21-500"])
def test_a_broker_signs_for_any_client_unless_narrowed(identity: HighTrustIdentity, cert_file: Path,
                                                       user: str | None) -> None:
    broker = guard(identity, cert_file, trust_broker=True)
    assert broker.authenticate_sync("Bearer " + token(identity, OTHER, user)).app.client_id == OTHER  # type: ignore[union-attr]
    narrowed = guard(identity, cert_file, trust_broker=True, client_ids=[OTHER.upper()])
    assert narrowed.authenticate_sync("Bearer " + token(identity, OTHER.upper(), user)).app is not None
    with pytest.raises(InvalidClaim):
        narrowed.authenticate_sync("Bearer " + token(identity, identity.issuer_id, user))


def test_user_and_app_tokens_follow_the_delegation_policy(identity: HighTrustIdentity, cert_file: Path) -> None:
    """The add-in acts for the user through its actor token: one hop, and it must be an allowed actor."""
    allowed = guard(identity, cert_file, trust_broker=True, top={"delegation": {"actors": [OTHER]}})
    assert allowed.authenticate_sync("Bearer " + token(identity, OTHER, "s-1-5-21-500")).user is not None
    with pytest.raises(DelegationNotAllowed):
        allowed.authenticate_sync("Bearer " + token(identity, identity.issuer_id, "s-1-5-21-500"))
    assert allowed.authenticate_sync("Bearer " + token(identity, identity.issuer_id)).user is None  # app-only
    no_chain = guard(identity, cert_file, top={"delegation": {"max_depth": 0}})
    with pytest.raises(DelegationNotAllowed):
        no_chain.authenticate_sync("Bearer " + token(identity, identity.issuer_id, "s-1-5-21-500"))
