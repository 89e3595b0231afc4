"""Microsoft Entra ID v1.0 / v2.0 access tokens, from the Microsoft identity platform samples.

App-only vs delegated comes from ``idtyp``, else from ``scp`` / ``oid == sub``, never from
``roles`` alone; multi-tenant issuers fill ``{tenantid}`` from ``tid`` and match exactly.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from jwt.algorithms import RSAAlgorithm
from profile_support import (NOW, Signer, accepted, guard_for, json_server, refused, retime,
                             sample)

from s2s_guard import (AuthError, ConfigurationError, Guard, InvalidClaim, TokenExpired, UnknownIssuer,
                       UnknownKey, load_config)

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
KID = "i6lGk3FZzxRcUb2C3nEQ7syHJlY"
V2_ISS = f"https://login.microsoftonline.com/{TENANT}/v2.0"
V1_ISS = f"https://sts.windows.net/{TENANT}/"
TEMPLATE = "https://login.microsoftonline.com/{tenantid}/v2.0"
API_V2 = "6e74172b-be56-4843-9ff4-e66a39bb12e3"


def entra_jwks(signer: Signer) -> dict[str, Any]:
    """The key document of ``/discovery/v2.0/keys``: kid, x5t, n, e, x5c and the issuer template."""
    doc = sample("entra_jwks")
    key = doc["keys"][0]
    key.update(RSAAlgorithm.to_jwk(signer.key.public_key(), as_dict=True))
    key.update(kid=KID, x5t=signer.x5t, x5c=[base64.b64encode(signer.der).decode("ascii")])
    return doc


def entry(signer: Signer, issuer: str, audience: str, **changes: Any) -> dict[str, Any]:
    return {"name": "entra", "profile": "entra", "issuer": issuer, "algorithms": ["RS256"],
            "audience": [audience], "jwks": entra_jwks(signer), **changes}


@pytest.fixture(scope="module")
def guard(entra: Signer) -> Guard:
    # Names are unique (issue 12): the v1 and v2 issuers of one tenant are two entries.
    return guard_for([entry(entra, V2_ISS, API_V2), entry(entra, V1_ISS, "api://orders", name="entra-v1")])


def token(signer: Signer, name: str, drop: tuple[str, ...] = (), **changes: Any) -> str:
    doc = sample(name)
    return signer.sign(doc["header"], retime(doc["claims"], drop=drop, **changes))


def test_v2_delegated_token(guard: Guard, entra: Signer) -> None:
    principal = accepted(guard, token(entra, "entra_v2_delegated"))
    assert principal.policy == "user+app" and principal.issuer == V2_ISS
    assert principal.user is not None and principal.user.id == "690222be-ff1a-4d56-abd1-7e4f7d38e474"
    assert (principal.user.tenant, principal.user.name) == (TENANT, "abeli@microsoft.com")
    assert principal.app is not None and principal.app.client_id == API_V2
    assert principal.scopes == principal.app.permissions == {"access_as_user"}


def test_v1_delegated_token_roles_belong_to_the_user(guard: Guard, entra: Signer) -> None:
    principal = accepted(guard, token(entra, "entra_v1_delegated"))
    assert principal.app is not None and principal.app.client_id == "75dbe77f-10a3-4e59-85fd-8c127544f17c"
    assert principal.user is not None and principal.user.name == "abeli@microsoft.com"  # upn
    assert principal.user.roles == {"Orders.Approver"}
    assert principal.scopes == principal.app.permissions == {"user_impersonation", "Orders.Read"}


def test_v1_app_only_token_with_idtyp(guard: Guard, entra: Signer) -> None:
    principal = accepted(guard, token(entra, "entra_v1_app_only"))
    assert principal.policy == "app-only" and principal.user is None
    assert principal.app is not None and principal.app.client_id == "a1b2c3d4-0000-4000-8000-00000000dae1"
    assert principal.scopes == principal.app.permissions == {"Orders.Read.All", "Orders.Write.All"}


def test_v2_app_only_token_without_idtyp(guard: Guard, entra: Signer) -> None:
    principal = accepted(guard, token(entra, "entra_v2_app_only"))
    assert principal.policy == "app-only" and principal.scopes == {"Orders.Read.All"}


def test_idtyp_user_without_scp_is_delegated(guard: Guard, entra: Signer) -> None:
    principal = accepted(guard, token(entra, "entra_v2_delegated", drop=("scp",), idtyp="user"))
    assert principal.policy == "user+app" and principal.scopes == frozenset()


def test_roles_alone_never_make_a_token_app_only(guard: Guard, entra: Signer) -> None:
    """A delegated token without scp and with roles is ambiguous (oid != sub): refused, not app-only."""
    refused(guard, token(entra, "entra_v2_delegated", drop=("scp",), roles=["Orders.Read.All"]),
            InvalidClaim)


def test_idtyp_app_with_scp_is_contradictory(guard: Guard, entra: Signer) -> None:
    refused(guard, token(entra, "entra_v2_delegated", idtyp="app"), InvalidClaim)


@pytest.mark.parametrize("name, drop, changes", [
    ("entra_v2_delegated", ("ver",), {}),
    ("entra_v2_delegated", (), {"ver": "3.0"}),
    ("entra_v2_delegated", ("azp",), {"appid": API_V2}),   # a v2 token names its app in azp
    ("entra_v1_delegated", ("appid",), {"azp": API_V2}),   # a v1 token names its app in appid
    ("entra_v2_delegated", ("oid",), {}),                  # delegated: the user is oid
    ("entra_v1_app_only", (), {"roles": "Orders.Read.All"}),
])
def test_malformed_entra_claims_are_refused(guard: Guard, entra: Signer, name: str,
                                            drop: tuple[str, ...], changes: dict[str, Any]) -> None:
    refused(guard, token(entra, name, drop=drop, **changes), InvalidClaim)


def unbound_jwks(signer: Signer) -> dict[str, Any]:
    """The key document without the keys' ``issuer`` member (keys bound to no issuer)."""
    return {"keys": [{k: v for k, v in key.items() if k != "issuer"} for key in entra_jwks(signer)["keys"]]}


@pytest.mark.parametrize("bound, error", [(True, UnknownKey), (False, InvalidClaim)])
def test_token_without_tid_is_refused(entra: Signer, bound: bool, error: type[AuthError]) -> None:
    """No tid: a key published for ``{tenantid}`` cannot be matched to it (UnknownKey), else the claim check."""
    jwks = entra_jwks(entra) if bound else unbound_jwks(entra)
    guard = guard_for([entry(entra, V2_ISS, API_V2, jwks=jwks)])
    refused(guard, token(entra, "entra_v2_delegated", drop=("tid",)), error)


# -- multi-tenant -------------------------------------------------------------------------------

def multi(signer: Signer, tenants: Any) -> Guard:
    return guard_for([entry(signer, TEMPLATE, API_V2, tenants=tenants)])


def test_tenant_allow_list(entra: Signer) -> None:
    guard = multi(entra, [TENANT])
    assert accepted(guard, token(entra, "entra_v2_delegated")).issuer == V2_ISS
    other = token(entra, "entra_v2_delegated", tid=OTHER_TENANT,
                  iss=f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0")
    refused(guard, other, InvalidClaim)
    assert accepted(multi(entra, "any"), other).user.tenant == OTHER_TENANT  # type: ignore[union-attr]


@pytest.mark.parametrize("tid, iss", [
    (OTHER_TENANT, V2_ISS),                                             # iss of one tenant, tid of another
    ("common", "https://login.microsoftonline.com/common/v2.0"),        # not a tenant id
    (f"{TENANT}/v2.0/x", f"https://login.microsoftonline.com/{TENANT}/v2.0/x/v2.0"),
])
def test_template_is_filled_from_tid_and_matched_exactly(entra: Signer, tid: str, iss: str) -> None:
    refused(multi(entra, "any"), token(entra, "entra_v2_delegated", tid=tid, iss=iss), UnknownIssuer)


@pytest.mark.parametrize("bound, error", [(True, UnknownKey), (False, UnknownIssuer)])
def test_unfilled_template_as_iss_is_refused(entra: Signer, bound: bool, error: type[AuthError]) -> None:
    """``iss`` = the template itself: not the key's issuer filled from tid (UnknownKey), nor a tenant."""
    jwks = entra_jwks(entra) if bound else unbound_jwks(entra)
    guard = guard_for([entry(entra, TEMPLATE, API_V2, tenants="any", jwks=jwks)])
    refused(guard, token(entra, "entra_v2_delegated", tid=TENANT, iss=TEMPLATE), error)


def test_keys_from_the_entra_key_document_over_http(entra: Signer) -> None:
    with json_server({f"/{TENANT}/discovery/v2.0/keys": lambda: entra_jwks(entra)}) as (url, hits):
        issuer = entry(entra, V2_ISS, API_V2, jwks=None, jwks_uri=f"{url}/{TENANT}/discovery/v2.0/keys")
        guard = guard_for([{k: v for k, v in issuer.items() if v is not None}])
        assert accepted(guard, token(entra, "entra_v2_delegated")).user is not None
        assert hits[f"/{TENANT}/discovery/v2.0/keys"] == 1


@pytest.mark.parametrize("issuer, changes, key", [
    (TEMPLATE, {}, "tenants"),                                      # a template needs an explicit choice
    (TEMPLATE, {"profile": "jwt", "tenants": "any"}, "tenants"),   # tenants is an Entra key
    (TEMPLATE, {"profile": "jwt"}, "issuer"),                       # templates are Entra's
    (TEMPLATE, {"tenants": ["not-a-guid"]}, "tenants"),
])
def test_multi_tenant_configuration_errors(issuer: str, changes: dict[str, Any], key: str) -> None:
    entry_ = {"issuer": issuer, "profile": "entra", "algorithms": ["RS256"],
              "jwks_uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys", **changes}
    with pytest.raises(ConfigurationError) as info:
        load_config({"audience": [API_V2], "issuers": [entry_]})
    assert info.value.key == f"issuers[0].{key}"


def test_now_is_the_guard_clock(guard: Guard, entra: Signer) -> None:
    """The samples are re-timed around NOW; an untouched 2018 sample is expired."""
    doc = sample("entra_v2_delegated")
    assert doc["claims"]["exp"] < NOW
    refused(guard, entra.sign(doc["header"], doc["claims"]), TokenExpired)
