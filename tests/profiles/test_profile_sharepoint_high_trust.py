"""SharePoint high-trust (S2S) tokens as TokenHelper.cs issues them: app-only and user+app.

The samples are TokenHelper's own (tests/fixtures/profiles/sharepoint_high_trust_*.json): the
actor token (RS256, ``x5t``, digit-string ``nbf``/``exp``) and the unsecured outer token.
Every refusal the profile promises has a test here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from profile_support import (NOW, Signer, accepted, guard_for, json_server, refused, retime,
                             sample, unsecured)

from s2s_guard import (BadSignature, DisallowedAlgorithm, Guard, InvalidAudience, InvalidClaim,
                       MalformedToken, TokenExpired, TokenNotYetValid, UnknownIssuer, UnknownKey)
from s2s_guard.core.profiles import profile_for

REALM = "200a8e79-a98e-4b79-a6e3-c637c6482471"
ISSUER_ID = "11111111-1111-1111-1111-111111111111"
CLIENT = "4ebb8f86-b40c-4cc5-8255-4ebeea018dc5"
OTHER_CLIENT = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
HOST = "sharepoint"
SID = "s-1-5-21-1030104071-1452137555-3129204420-500"


def issuer_entry(cert_file: Path, **changes: Any) -> dict[str, Any]:
    """The trust registry entry a farm administrator would create for the add-in's issuer."""
    entry: dict[str, Any] = {
        "name": "contoso-addins", "profile": "sharepoint-high-trust", "issuer_id": ISSUER_ID,
        "realm": REALM, "algorithms": ["RS256"], "certificates": [str(cert_file)],
        "client_ids": [CLIENT], "hosts": [HOST]}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


@pytest.fixture(scope="module")
def guard(addin_cert_file: Path) -> Guard:
    return guard_for([issuer_entry(addin_cert_file)])


def actor_claims(*, delegation: bool = True, **changes: Any) -> dict[str, Any]:
    base = sample("sharepoint_high_trust_actor")["claims"]
    if not delegation:
        del base["trustedfordelegation"]  # TokenHelper adds it only for user+app
    return retime(base, **changes)


def actor_token(signer: Signer, claims: dict[str, Any] | None = None, **header: Any) -> str:
    head = {"typ": "JWT", "alg": "RS256", "x5t": signer.x5t, **header}
    return signer.sign({k: v for k, v in head.items() if v is not None},
                       claims if claims is not None else actor_claims())


def outer_token(actor: str, drop: tuple[str, ...] = (), **changes: Any) -> str:
    claims = retime(sample("sharepoint_high_trust_outer")["claims"], nbf=NOW - 30, exp=NOW + 1800,
                    drop=drop, actortoken=actor, **changes)
    return unsecured({"typ": "JWT", "alg": "none"}, claims)


# -- accepted ---------------------------------------------------------------------------------

def test_app_only_token_is_the_actor_token(guard: Guard, addin: Signer) -> None:
    principal = accepted(guard, actor_token(addin, actor_claims(delegation=False)))
    assert principal.policy == "app-only" and principal.user is None
    assert principal.app is not None and principal.app.client_id == CLIENT and principal.app.tenant == REALM
    assert principal.issuer == f"{ISSUER_ID}@{REALM}" and principal.scopes == frozenset()
    assert principal.claims["exp"] == NOW + 3600  # [MS-XOAUTH] digit string, normalized


def test_app_only_with_numeric_times(guard: Guard, addin: Signer) -> None:
    claims = actor_claims(delegation=False, nbf=None, exp=None)
    claims.update(nbf=NOW - 60, exp=NOW + 600)
    assert accepted(guard, actor_token(addin, claims)).policy == "app-only"


def test_user_and_app_outer_token_wraps_the_actor_token(guard: Guard, addin: Signer) -> None:
    principal = accepted(guard, outer_token(actor_token(addin)))
    assert principal.policy == "user+app"
    assert principal.user is not None and principal.user.id == SID
    assert principal.user.identity_provider == "urn:office:idp:activedirectory"
    assert principal.user.tenant == REALM
    assert principal.app is not None and principal.app.client_id == CLIENT
    assert principal.actors[0]["nameid"] == f"{CLIENT}@{REALM}"
    assert isinstance(principal.claims["actortoken"], dict)  # verified claims, never the raw token
    assert principal.to_dict()["actors"] == [dict(principal.actors[0])]


def test_principal_maps_its_own_claims_again(guard: Guard, addin: Signer) -> None:
    """A cached principal rebuilt from its claims (shared cache) is the same principal."""
    principal = accepted(guard, outer_token(actor_token(addin)))
    profile = profile_for(guard.config.issuers[0])
    again = profile.principal(principal.claims, issuer=principal.issuer,
                              issuer_name=principal.issuer_name, token_sha256="x")
    assert (again.app, again.user, again.actors) == (principal.app, principal.user, principal.actors)


def test_metadata_url_serves_the_trusted_certificate(addin: Signer) -> None:
    document = sample("sharepoint_metadata")
    document["keys"][0]["keyValue"]["value"] = addin.der_b64
    with json_server({"/_layouts/15/metadata/json/1": lambda: document}) as (url, hits):
        guard = guard_for([issuer_entry(Path("unused"), certificates=None,
                                        metadata_url=url + "/_layouts/15/metadata/json/1")])
        assert accepted(guard, actor_token(addin, actor_claims(delegation=False))).policy == "app-only"
        assert accepted(guard, outer_token(actor_token(addin))).policy == "user+app"
        assert hits["/_layouts/15/metadata/json/1"] == 1  # cached after the first fetch


def test_trust_broker_signs_for_any_client(addin_cert_file: Path, addin: Signer) -> None:
    guard = guard_for([issuer_entry(addin_cert_file, client_ids=None, trust_broker=True)])
    claims = actor_claims(delegation=False, nameid=f"{OTHER_CLIENT}@{REALM}")
    assert accepted(guard, actor_token(addin, claims)).app.client_id == OTHER_CLIENT  # type: ignore[union-attr]


def test_tokens_from_the_high_trust_client_are_accepted(addin_cert_file: Path, addin: Signer) -> None:
    """The caller's side (s2s_guard.client.hightrust) and this profile agree on the format."""
    from s2s_guard.client.hightrust import build_user_token, sign_actor_token

    guard = guard_for([issuer_entry(addin_cert_file)])
    common: dict[str, Any] = {"client_id": CLIENT, "realm": REALM, "host": HOST, "now": NOW, "lifetime": 300.0}
    app = sign_actor_token(key=addin.key, certificate=addin.certificate, issuer_id=ISSUER_ID, **common)
    assert accepted(guard, app).policy == "app-only"
    actor = sign_actor_token(key=addin.key, certificate=addin.certificate, issuer_id=ISSUER_ID,
                             trusted_for_delegation=True, **common)
    user = build_user_token(actor_token=actor, user=SID, identity_provider="urn:office:idp:activedirectory",
                            **common)
    assert accepted(guard, user).policy == "user+app"


# -- refused: the unsecured outer token ---------------------------------------------------------

def test_alg_none_without_actor_token_is_refused(guard: Guard) -> None:
    claims = retime(sample("sharepoint_high_trust_outer")["claims"], actortoken=None)
    claims["iss"] = f"{ISSUER_ID}@{REALM}"  # even naming the trusted issuer itself
    refused(guard, unsecured({"typ": "JWT", "alg": "none"}, claims), DisallowedAlgorithm)


def test_alg_none_with_a_signature_is_refused(guard: Guard, addin: Signer) -> None:
    claims = retime(sample("sharepoint_high_trust_outer")["claims"], nbf=NOW - 30, exp=NOW + 1800,
                    actortoken=actor_token(addin))
    refused(guard, unsecured({"typ": "JWT", "alg": "none"}, claims, b"sig"), DisallowedAlgorithm)


def test_alg_none_around_another_profiles_token_is_refused(addin_cert_file: Path, stranger: Signer,
                                                          public_jwk: Any) -> None:
    generic = {"issuer": "https://idp.example.com", "algorithms": ["RS256"],
               "jwks": {"keys": [public_jwk(stranger.key, kid="k1")]}}
    guard = guard_for([issuer_entry(addin_cert_file), generic])
    inner = stranger.sign({"alg": "RS256", "kid": "k1"}, {
        "iss": "https://idp.example.com", "aud": "api://orders", "sub": "alice",
        "client_id": "web", "exp": NOW + 60})
    assert accepted(guard, inner).user is not None  # the inner token alone is fine...
    refused(guard, outer_token(inner), DisallowedAlgorithm)  # ...but never behind alg none


def test_an_unsigned_actor_token_is_refused(guard: Guard) -> None:
    actor = unsecured({"typ": "JWT", "alg": "none"}, actor_claims())
    refused(guard, outer_token(actor), DisallowedAlgorithm)


def test_nested_actor_tokens_are_refused(guard: Guard, addin: Signer) -> None:
    inner = actor_token(addin)
    refused(guard, outer_token(actor_token(addin, actor_claims(actortoken=inner))), MalformedToken)


# -- refused: certificates and headers ----------------------------------------------------------

def test_untrusted_certificate_is_refused(guard: Guard, stranger: Signer) -> None:
    refused(guard, actor_token(stranger, actor_claims(delegation=False)), UnknownKey)
    refused(guard, outer_token(actor_token(stranger)), UnknownKey)


def test_x5t_of_a_trusted_certificate_on_another_key_is_refused(guard: Guard, addin: Signer,
                                                                stranger: Signer) -> None:
    forged = actor_token(stranger, actor_claims(delegation=False), x5t=addin.x5t)
    refused(guard, forged, BadSignature)


@pytest.mark.parametrize("header", [{"x5t": None, "kid": "LRxHRIp-BKD7xG7-ktKmgoNT7Eo"},
                                    {"kid": "someone-else"}])
def test_x5t_is_required_and_must_agree_with_kid(guard: Guard, addin: Signer, header: dict[str, Any]) -> None:
    if header.get("x5t", "") is None:
        header = {**header, "kid": addin.x5t}  # the right certificate, but named only by kid
    refused(guard, actor_token(addin, actor_claims(delegation=False), **header), MalformedToken)


# -- refused: claims ----------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [
    {"nii": "urn:office:idp:activedirectory"},
    {"upn": "alice@contoso.com"},
    {"actortoken": "e30.e30."},
])
def test_app_only_token_carrying_user_claims_is_refused(guard: Guard, addin: Signer,
                                                        extra: dict[str, Any]) -> None:
    refused(guard, actor_token(addin, actor_claims(delegation=False, **extra)), InvalidClaim)


@pytest.mark.parametrize("value", ["true", True, "false", False], ids=repr)
def test_app_only_token_with_trustedfordelegation_is_app_only(guard: Guard, addin: Signer,
                                                              value: object) -> None:
    """node-sp-auth writes ``true`` in every app-only token; it names no user, so it stays app-only."""
    principal = accepted(guard, actor_token(addin, actor_claims(trustedfordelegation=value)))
    assert principal.policy == "app-only" and principal.user is None


def test_node_sp_auth_window_of_24_hours(guard: Guard, addin: Signer) -> None:
    """node-sp-auth: numeric nbf backdated 12 h, exp 12 h ahead; no lifetime cap refuses the 24 h."""
    claims = actor_claims(nbf=None, exp=None, trustedfordelegation=True)
    claims.update(nbf=NOW - 12 * 3600, exp=NOW + 12 * 3600, iat=NOW)
    assert accepted(guard, actor_token(addin, claims)).policy == "app-only"
    assert accepted(guard, outer_token(actor_token(addin, claims))).policy == "user+app"


@pytest.mark.parametrize("value", ["True", "TRUE", "yes", 1, 0, None], ids=repr)
def test_app_only_token_with_another_trustedfordelegation_is_refused(guard: Guard, addin: Signer,
                                                                     value: object) -> None:
    """[MS-SPS2SAUTH]: the claim is true or false; a value meaning something else is not guessed at."""
    claims = {**actor_claims(delegation=False), "trustedfordelegation": value}
    refused(guard, actor_token(addin, claims), InvalidClaim)


@pytest.mark.parametrize("value", [None, "false", False, "True", 1])
def test_delegation_without_trustedfordelegation_is_refused(guard: Guard, addin: Signer,
                                                            value: object) -> None:
    claims = actor_claims(trustedfordelegation=value)
    refused(guard, outer_token(actor_token(addin, claims)), InvalidClaim)


@pytest.mark.parametrize("value", ["true", True], ids=repr)
def test_delegation_with_either_spelling_of_true(guard: Guard, addin: Signer, value: object) -> None:
    """TokenHelper's string and node-sp-auth's JSON boolean say the same thing: trusted for delegation."""
    principal = accepted(guard, outer_token(actor_token(addin, actor_claims(trustedfordelegation=value))))
    assert principal.policy == "user+app" and principal.user is not None and principal.user.id == SID


def test_outer_and_actor_must_name_the_same_audience(guard: Guard, addin: Signer) -> None:
    other = f"00000003-0000-0ff1-ce00-000000000000/intranet@{REALM}"
    refused(guard, outer_token(actor_token(addin), aud=other), InvalidAudience)


def test_outer_iss_must_be_the_actors_client(guard: Guard, addin: Signer) -> None:
    refused(guard, outer_token(actor_token(addin), iss=f"{OTHER_CLIENT}@{REALM}"), InvalidClaim)
    # the SharePoint principal itself is not the app either (CVE-2023-29357 shape)
    refused(guard, outer_token(actor_token(addin), iss=f"00000003-0000-0ff1-ce00-000000000000@{REALM}"),
            InvalidClaim)


@pytest.mark.parametrize("window", [{"nbf": NOW - 120}, {"exp": NOW + 7200}])
def test_outer_lifetime_must_lie_within_the_actors(guard: Guard, addin: Signer, window: dict[str, int]) -> None:
    claims = retime(sample("sharepoint_high_trust_outer")["claims"], nbf=NOW - 30, exp=NOW + 1800,
                    actortoken=actor_token(addin))
    claims.update({k: str(v) for k, v in window.items()})
    refused(guard, unsecured({"typ": "JWT", "alg": "none"}, claims), InvalidClaim)


@pytest.mark.parametrize("missing", ["nameid", "nii", "nbf", "exp"])
def test_outer_token_must_name_the_user_and_its_lifetime(guard: Guard, addin: Signer, missing: str) -> None:
    refused(guard, outer_token(actor_token(addin), drop=(missing,)), InvalidClaim)


def test_expired_outer_or_actor_token_is_refused(guard: Guard, addin: Signer) -> None:
    early = actor_token(addin, actor_claims(nbf=NOW - 7200, exp=NOW - 3600))
    refused(guard, early, TokenExpired)
    claims = retime(sample("sharepoint_high_trust_outer")["claims"], nbf=NOW - 3000, exp=NOW - 120,
                    actortoken=actor_token(addin, actor_claims(nbf=NOW - 3600)))
    refused(guard, unsecured({"typ": "JWT", "alg": "none"}, claims), TokenExpired)
    late = retime(sample("sharepoint_high_trust_outer")["claims"], nbf=NOW + 600, exp=NOW + 1800,
                  actortoken=actor_token(addin))
    refused(guard, unsecured({"typ": "JWT", "alg": "none"}, late), TokenNotYetValid)


@pytest.mark.parametrize("aud", [
    f"00000003-0000-0ff1-ce00-000000000000/intranet@{REALM}",                      # another host
    f"00000004-0000-0ff1-ce00-000000000000/{HOST}@{REALM}",                        # another principal
    f"00000003-0000-0ff1-ce00-000000000000/{HOST}@aaaaaaaa-a98e-4b79-a6e3-c637c6482471",  # another realm
    "api://orders",
])
def test_audience_must_be_the_configured_principal_host_and_realm(guard: Guard, addin: Signer, aud: str) -> None:
    refused(guard, actor_token(addin, actor_claims(delegation=False, aud=aud)), InvalidAudience)


def test_app_in_another_realm_or_not_allowed_is_refused(guard: Guard, addin: Signer) -> None:
    elsewhere = actor_claims(delegation=False, nameid=f"{CLIENT}@aaaaaaaa-a98e-4b79-a6e3-c637c6482471")
    refused(guard, actor_token(addin, elsewhere), InvalidClaim)
    other = actor_claims(delegation=False, nameid=f"{OTHER_CLIENT}@{REALM}")
    refused(guard, actor_token(addin, other), InvalidClaim)  # not a broker: only its client_ids
    refused(guard, actor_token(addin, actor_claims(delegation=False, nameid=CLIENT)), InvalidClaim)


def test_issuer_is_matched_exactly(guard: Guard, addin: Signer) -> None:
    upper = actor_claims(delegation=False, iss=f"{ISSUER_ID}@{REALM.upper()}")
    refused(guard, actor_token(addin, upper), UnknownIssuer)


@pytest.mark.parametrize("value", ["１７００００３６００", "١٧٠٠٠٠٣٦٠٠", "1.7e9", " 1700003600", "-1", "",
                                   "0x6553f100", "1700003600.0"])
def test_time_strings_must_be_plain_ascii_digits(guard: Guard, addin: Signer, value: str) -> None:
    refused(guard, actor_token(addin, actor_claims(delegation=False, exp=value)), InvalidClaim)


def test_other_profiles_still_refuse_digit_string_times(stranger: Signer, public_jwk: Any) -> None:
    guard = guard_for([{"issuer": "https://idp.example.com", "algorithms": ["RS256"],
                        "jwks": {"keys": [public_jwk(stranger.key, kid="k1")]}}])
    token = stranger.sign({"alg": "RS256", "kid": "k1"}, {
        "iss": "https://idp.example.com", "aud": "api://orders", "client_id": "app",
        "sub": "app", "exp": str(NOW + 600)})
    refused(guard, token, InvalidClaim)


def test_self_issued_actor_token_forgery_is_refused(guard: Guard, addin: Signer) -> None:
    """The 2023/2025 SharePoint bypass shape: an actor token naming SharePoint itself, junk signature."""
    sp = f"00000003-0000-0ff1-ce00-000000000000@{REALM}"
    forged_actor = unsecured({"alg": "RS256", "typ": "JWT", "x5t": addin.x5t},
                             {"nameid": sp, "nbf": NOW - 60, "exp": NOW + 3600}, b"\x00\x00\x00")
    outer = retime(sample("sharepoint_high_trust_outer")["claims"], nbf=NOW - 30, exp=NOW + 1800,
                   iss=sp, actortoken=forged_actor, trustedfordelegation="true")
    refused(guard, unsecured({"alg": "none", "typ": "JWT"}, outer), UnknownIssuer)
    forged_actor = unsecured({"alg": "RS256", "typ": "JWT", "x5t": addin.x5t},
                             actor_claims(), b"\x00\x00\x00")
    outer["actortoken"], outer["iss"] = forged_actor, f"{CLIENT}@{REALM}"
    refused(guard, unsecured({"alg": "none", "typ": "JWT"}, outer), BadSignature)
