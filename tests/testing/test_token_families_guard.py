"""Every minted family against a real guard (through the pytest plugin's fixtures), and their formats.

``trust_config`` trusts the session issuer for every format (local JWTs, Entra ID v1/v2,
SharePoint high-trust and ACS via the metadata document, opaque tokens via introspection):
each good family must be accepted with the right policy, each broken one refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest

from s2s_guard import AuthError, Guard
from s2s_guard.testing import BROKEN, FAMILIES, LocalIssuer, describe
from s2s_guard.testing.families import entra_issuer
from s2s_guard.testing.mint import trust_config

CLIENT = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
POLICIES = {"app-only": "app-only", "user+app": "user+app", "act-chain": "user+app", "opaque": "app-only",
            "entra-v1-app": "app-only", "entra-v1-delegated": "user+app", "entra-v2-app": "app-only",
            "entra-v2-delegated": "user+app", "sharepoint-app-only": "app-only",
            "sharepoint-user+app": "user+app", "acs-app-only": "app-only", "acs-user+app": "user+app"}


@pytest.fixture(scope="module")
def everything(s2s_issuer: LocalIssuer) -> Guard:
    return Guard.from_config(trust_config(s2s_issuer))


def test_every_family_has_a_policy_and_a_description() -> None:
    assert set(POLICIES) == set(FAMILIES)
    rows = describe()
    assert set(rows) == set(FAMILIES) | set(BROKEN)
    assert all(description for _, description in rows.values())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_good_families_are_accepted(everything: Guard, s2s_token: Callable[..., str], family: str) -> None:
    principal = everything.authenticate_sync("Bearer " + s2s_token(family, client_id=CLIENT, scopes=["orders.read"]))
    assert principal.policy == POLICIES[family]
    assert principal.app is not None and principal.app.client_id == CLIENT


@pytest.mark.parametrize("family", sorted(BROKEN))
def test_broken_families_are_refused(everything: Guard, s2s_token: Callable[..., str], family: str) -> None:
    with pytest.raises(AuthError) as refused:
        everything.authenticate_sync("Bearer " + s2s_token(family, client_id=CLIENT))
    assert refused.value.status_code in (400, 401)


def _claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def test_entra_formats(s2s_issuer: LocalIssuer, s2s_token: Callable[..., str]) -> None:
    tid = s2s_issuer.tenant_id
    v1, v2 = s2s_token("entra-v1-app", scopes="Orders.Read.All"), s2s_token("entra-v2-delegated", scopes="a b")
    assert jwt.get_unverified_header(v1)["x5t"] == jwt.get_unverified_header(v1)["kid"]
    one, two = _claims(v1), _claims(v2)
    assert one["iss"] == entra_issuer(tid, "1.0") == f"https://sts.windows.net/{tid}/" and one["ver"] == "1.0"
    assert one["oid"] == one["sub"] and one["roles"] == ["Orders.Read.All"] and one["idtyp"] == "app"
    assert "scp" not in one and one["appidacr"] == "1" and one["tid"] == tid
    assert two["iss"] == f"https://login.microsoftonline.com/{tid}/v2.0" and two["ver"] == "2.0"
    assert two["scp"] == "a b" and two["azp"] == "daemon-app" and two["preferred_username"] == "alice"
    assert two["oid"] != two["sub"] and "jti" not in two


def test_sharepoint_and_acs_formats(s2s_issuer: LocalIssuer, s2s_token: Callable[..., str]) -> None:
    sp = s2s_issuer.sharepoint
    realm = sp.realm.lower()
    aud = f"00000003-0000-0ff1-ce00-000000000000/sp.contoso.com@{realm}"
    actor = s2s_token("sharepoint-app-only", client_id=CLIENT, host="sp.contoso.com")
    assert jwt.get_unverified_header(actor) == {"alg": "RS256", "typ": "JWT", "x5t": sp.thumbprint}
    assert _claims(actor) | {"nbf": 0, "exp": 0} == {"aud": aud, "iss": f"{sp.issuer_id}@{realm}",
                                                     "nameid": f"{CLIENT}@{realm}", "nbf": 0, "exp": 0}
    acs = _claims(s2s_token("acs-user+app", client_id=CLIENT, host="sp.contoso.com", user="10033fff8"))
    assert acs["iss"] == f"00000001-0000-0000-c000-000000000000@{realm}" and acs["aud"] == aud
    assert acs["actor"] == f"{CLIENT}@{realm}" and acs["nameid"] == "10033fff8"


def test_act_chain_format(s2s_token: Callable[..., str]) -> None:
    claims = _claims(s2s_token("act-chain", client_id="svc-b", actors=("svc-a", "edge")))
    assert claims["sub"] == "alice" and claims["client_id"] == "svc-b"
    assert claims["act"] == {"sub": "svc-b", "act": {"sub": "svc-a", "act": {"sub": "edge"}}}


def test_unknown_family_names_the_known_ones(s2s_token: Callable[..., str]) -> None:
    with pytest.raises(KeyError, match="entra-v2-app"):
        s2s_token("entra-v3")
