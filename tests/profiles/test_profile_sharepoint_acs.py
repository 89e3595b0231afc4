"""SharePoint low-trust tokens issued by ACS, from the SharePoint add-in documentation samples.

User+add-in: ``actor = client_id@realm``, the user in ``nameid`` + ``identityprovider``.
Add-in-only: the app in ``nameid``, ``identityprovider`` = ACS, ``trustedfordelegation: "false"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from profile_support import (NOW, Signer, accepted, guard_for, json_server, refused, retime,
                             sample, unsecured)

from s2s_guard import (DisallowedAlgorithm, Guard, InvalidAudience, InvalidClaim, MalformedToken,
                       UnknownIssuer, UnknownKey)
from s2s_guard.core.profiles import PROFILES

REALM = "040f2415-e6e3-4480-96ce-26ef73275f73"
ACS_ISS = f"00000001-0000-0000-c000-000000000000@{REALM}"
USER_APP = "964de6ad-6d28-4dc7-8e05-3acd8006e5c9"
APP_ONLY = "c76da14e-07fd-4638-a723-1ff60ce70d63"


def acs_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "sharepoint-online", "profile": "sharepoint-acs", "realm": REALM,
                             "algorithms": ["RS256"], "hosts": ["company.sharepoint.com"]}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


@pytest.fixture(scope="module")
def guard(acs_cert_file: Path) -> Guard:
    return guard_for([acs_entry(certificates=[str(acs_cert_file)])])


def token(signer: Signer, name: str, drop: tuple[str, ...] = (), **changes: Any) -> str:
    doc = sample(name)
    return signer.sign({**doc["header"], "x5t": signer.x5t}, retime(doc["claims"], drop=drop, **changes))


def test_user_and_add_in_token(guard: Guard, acs: Signer) -> None:
    principal = accepted(guard, token(acs, "sharepoint_acs_user"))
    assert principal.policy == "user+app" and principal.issuer == ACS_ISS
    assert principal.app is not None and principal.app.client_id == USER_APP and principal.app.tenant == REALM
    assert principal.user is not None and principal.user.id == "2303000085ff9abc"
    assert principal.user.identity_provider == "urn:federation:microsoftonline"


def test_add_in_only_token(guard: Guard, acs: Signer) -> None:
    principal = accepted(guard, token(acs, "sharepoint_acs_app_only"))
    assert principal.policy == "app-only" and principal.user is None
    assert principal.app is not None and principal.app.client_id == APP_ONLY


def test_digit_string_times_as_in_context_tokens(guard: Guard, acs: Signer) -> None:
    assert accepted(guard, token(acs, "sharepoint_acs_user", nbf=str(NOW - 5), exp=str(NOW + 60))).user


def test_acs_metadata_document_supplies_the_signing_certificate(acs: Signer, stranger: Signer) -> None:
    document = sample("acs_metadata")
    document["keys"][0]["keyValue"]["value"] = acs.der_b64
    document["keys"][1]["keyValue"]["value"] = stranger.der_b64  # "encrypting": never a signing key
    with json_server({"/metadata/json/1": lambda: document}) as (url, hits):
        guard = guard_for([acs_entry(metadata_url=url + "/metadata/json/1")])
        assert accepted(guard, token(acs, "sharepoint_acs_app_only")).policy == "app-only"
        refused(guard, token(stranger, "sharepoint_acs_app_only"), UnknownKey)
        assert hits["/metadata/json/1"] >= 1


def test_client_ids_restrict_the_apps(acs_cert_file: Path, acs: Signer) -> None:
    guard = guard_for([acs_entry(certificates=[str(acs_cert_file)], client_ids=[APP_ONLY])])
    assert accepted(guard, token(acs, "sharepoint_acs_app_only")).app is not None
    refused(guard, token(acs, "sharepoint_acs_user"), InvalidClaim)


def test_actor_in_another_realm_is_refused(guard: Guard, acs: Signer) -> None:
    other = f"{USER_APP}@aaaaaaaa-e6e3-4480-96ce-26ef73275f73"
    refused(guard, token(acs, "sharepoint_acs_user", actor=other), InvalidClaim)


def test_app_only_nameid_must_be_an_app(guard: Guard, acs: Signer) -> None:
    refused(guard, token(acs, "sharepoint_acs_app_only", nameid="2303000085ff9abc"), InvalidClaim)


def test_app_only_token_must_not_claim_delegation(guard: Guard, acs: Signer) -> None:
    refused(guard, token(acs, "sharepoint_acs_app_only", trustedfordelegation="true"), InvalidClaim)


@pytest.mark.parametrize("missing", ["nameid", "identityprovider"])
def test_user_token_names_the_user_and_its_identity_provider(guard: Guard, acs: Signer, missing: str) -> None:
    refused(guard, token(acs, "sharepoint_acs_user", drop=(missing,)), InvalidClaim)


def test_tokens_not_issued_by_acs_are_refused(guard: Guard, acs: Signer) -> None:
    refused(guard, token(acs, "sharepoint_acs_user", iss=f"11111111-1111-1111-1111-111111111111@{REALM}"),
            UnknownIssuer)


def test_audience_must_be_the_configured_host(guard: Guard, acs: Signer) -> None:
    aud = f"00000003-0000-0ff1-ce00-000000000000/evil.sharepoint.com@{REALM}"
    refused(guard, token(acs, "sharepoint_acs_user", aud=aud), InvalidAudience)


def test_no_unsecured_outer_token_for_acs(guard: Guard, acs: Signer) -> None:
    inner = token(acs, "sharepoint_acs_app_only")
    outer = retime(sample("sharepoint_acs_user")["claims"], actortoken=inner)
    refused(guard, unsecured({"typ": "JWT", "alg": "none"}, outer), DisallowedAlgorithm)


def test_acs_tokens_name_their_certificate_by_x5t(guard: Guard, acs: Signer) -> None:
    claims = retime(sample("sharepoint_acs_user")["claims"])
    refused(guard, acs.sign({"typ": "JWT", "alg": "RS256", "kid": acs.x5t}, claims), MalformedToken)


def test_default_profile_maps_documented_claims_without_configuration() -> None:
    """``principal()`` works on a plain mapping (introspection results reuse it)."""
    claims = sample("sharepoint_acs_user")["claims"]
    principal = PROFILES["sharepoint-acs"].principal(claims, issuer=ACS_ISS, issuer_name="acs",
                                                     token_sha256="")
    assert (principal.app.client_id, principal.user.id) == (USER_APP, "2303000085ff9abc")  # type: ignore[union-attr]
