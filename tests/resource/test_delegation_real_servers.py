"""Delegation policy where the trust comes from real servers on 127.0.0.1.

* SharePoint high-trust with the issuer's certificate fetched from the farm's JSON metadata
  document (``metadata_url`` on a LocalIssuer), not a certificate file: a non-broker signs only
  for its own client id, a broker for what ``client_ids`` allows, and user+app tokens follow
  ``[delegation]`` (``test_sharepoint_signing_scope.py`` uses certificate files only).
* RFC 8693 ``act`` chains and ``may_act`` on *introspected* tokens (RFC 7662 §2.2 lets the
  response carry them): the same depth, actor and ``may_act`` rules as for JWTs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from resource_kit import AUD

from s2s_guard import Guard, InvalidClaim
from s2s_guard.client.hightrust import build_user_token, sign_actor_token
from s2s_guard.errors import DelegationNotAllowed
from s2s_guard.policy import Requirement
from s2s_guard.testing import LocalIssuer
from s2s_guard.testing._server import IssuerRequest, Reply, json_reply

HOST = "sharepoint.contoso.test"
OTHER = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
SECRET = "rs-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def farm() -> Iterator[LocalIssuer]:
    """A LocalIssuer serving /_layouts/15/metadata/json/1 with its high-trust certificate."""
    with LocalIssuer(audience=AUD, algorithms=("RS256",)) as iss:
        yield iss


def sharepoint_guard(farm: LocalIssuer, **entry: Any) -> Guard:
    top = entry.pop("top", {})
    sp = farm.sharepoint
    issuer = {"name": "addins", "profile": "sharepoint-high-trust", "issuer_id": sp.issuer_id,
              "realm": sp.realm, "algorithms": ["RS256"], "metadata_url": farm.metadata_url,
              "hosts": [HOST], **entry}
    return Guard.from_config({"audience": ["unused"], "issuers": [issuer], **top})


def sp_token(farm: LocalIssuer, client_id: str, user: str | None = None) -> str:
    sp, now = farm.sharepoint, time.time()
    actor = sign_actor_token(key=sp.key, certificate=sp.certificate, client_id=client_id, issuer_id=sp.issuer_id,
                             realm=sp.realm, host=HOST, now=now, lifetime=300,
                             trusted_for_delegation=user is not None)
    if user is None:
        return actor
    return build_user_token(actor_token=actor, client_id=client_id, realm=sp.realm, host=HOST, user=user,
                            identity_provider="urn:office:idp:activedirectory", now=now, lifetime=300)


@pytest.mark.parametrize("user", [None, "s-1-5-21-500"])
def test_non_broker_from_metadata_signs_only_for_itself(farm: LocalIssuer, user: str | None) -> None:
    guard = sharepoint_guard(farm)
    before = farm.hits["/_layouts/15/metadata/json/1"]
    own = guard.authenticate_sync("Bearer " + sp_token(farm, farm.sharepoint.issuer_id, user))
    assert own.app is not None and own.app.client_id == farm.sharepoint.issuer_id.lower()
    assert farm.hits["/_layouts/15/metadata/json/1"] == before + 1  # the certificate came over HTTP
    with pytest.raises(InvalidClaim) as info:
        guard.authenticate_sync("Bearer " + sp_token(farm, OTHER, user))
    assert info.value.status_code == 401
    guard.close()


def test_broker_from_metadata_is_narrowed_by_client_ids_and_delegation(farm: LocalIssuer) -> None:
    narrowed = sharepoint_guard(farm, trust_broker=True, client_ids=[OTHER])
    assert narrowed.authenticate_sync("Bearer " + sp_token(farm, OTHER)).app is not None
    with pytest.raises(InvalidClaim):
        narrowed.authenticate_sync("Bearer " + sp_token(farm, farm.sharepoint.issuer_id))
    narrowed.close()
    policy = sharepoint_guard(farm, trust_broker=True, top={"delegation": {"actors": [OTHER]}})
    assert policy.authenticate_sync("Bearer " + sp_token(farm, OTHER, "s-1-5-21-500")).user is not None
    with pytest.raises(DelegationNotAllowed):
        policy.authenticate_sync("Bearer " + sp_token(farm, farm.sharepoint.issuer_id, "s-1-5-21-500"))
    policy.close()


# -- introspected act chains and may_act ---------------------------------------------------------------

@pytest.fixture
def introspecting(farm: LocalIssuer) -> Iterator[LocalIssuer]:
    """/introspect answering every claim of the opaque token (act and may_act included)."""
    def introspect(iss: LocalIssuer, request: IssuerRequest) -> Reply:
        token = request.param("token") or ""
        body = iss.introspect(token)
        if body.get("active"):
            body.update(iss.opaque_tokens[token])
        return json_reply(200, body)

    farm.register_client("rs", secret=SECRET)
    previous = farm.routes["/introspect"]
    farm.routes["/introspect"] = introspect
    yield farm
    farm.routes["/introspect"] = previous


def introspection_guard(farm: LocalIssuer, **top: Any) -> Guard:
    return Guard.from_config({**farm.guard_config(), "cache": {"verified": False}, "introspection": {
        "endpoint": farm.introspection_url, "issuer": "local", "client_id": "rs", "client_secret": SECRET}, **top})


ACT = {"sub": "gateway", "act": {"sub": "edge"}}


def test_introspected_chain_follows_depth_and_actor_rules(introspecting: LocalIssuer) -> None:
    token = introspecting.issue_opaque({"client_id": "gateway", "sub": "alice", "aud": AUD, "act": ACT})
    deep = introspection_guard(introspecting, delegation={"max_depth": 1})
    with pytest.raises(DelegationNotAllowed):
        deep.authenticate_sync(f"Bearer {token}")
    fine = introspection_guard(introspecting, delegation={"max_depth": 2, "actors": ["gateway"]})
    principal = fine.authenticate_sync(f"Bearer {token}")
    assert principal.app is not None and principal.app.client_id == "gateway" and len(principal.actors) == 2
    with pytest.raises(DelegationNotAllowed):
        fine.authenticate_sync(f"Bearer {token}", Requirement(actors=["bff"]))
    deep.close()
    fine.close()


@pytest.mark.parametrize(("may_act", "accepted"), [
    ({"sub": "gateway"}, True),
    ({"sub": "edge"}, False),  # a prior actor is not the current one
    ({"sub": "someone-else"}, False),
])
def test_introspected_may_act_is_honoured(introspecting: LocalIssuer, may_act: dict[str, str],
                                          accepted: bool) -> None:
    token = introspecting.issue_opaque({"client_id": "gateway", "sub": "alice", "aud": AUD, "act": ACT,
                                        "may_act": may_act})
    guard = introspection_guard(introspecting)
    try:
        if accepted:
            assert guard.authenticate_sync(f"Bearer {token}").app.client_id == "gateway"  # type: ignore[union-attr]
        else:
            with pytest.raises(InvalidClaim) as info:
                guard.authenticate_sync(f"Bearer {token}")
            assert info.value.status_code == 401
    finally:
        guard.close()
