"""RFC 7662 responses through the profiles' mapping: SPiD-style server and user token responses."""

from __future__ import annotations

from typing import Any

import pytest
from profile_support import NOW, retime, sample

from s2s_guard import (InvalidAudience, InvalidClaim, InvalidToken, TokenExpired, TokenNotYetValid,
                       UnknownIssuer, load_config)
from s2s_guard.core.profiles import PROFILES, check_introspected, introspected_principal, profile_for
from s2s_guard.principal import Principal

ISS = "https://login.schibsted.com/"
AUD = ("https://orders.example.com",)


def principal(response: dict[str, Any], audiences: tuple[str, ...] = AUD, **kwargs: Any) -> Principal:
    return introspected_principal(response, profile=kwargs.pop("profile", PROFILES["jwt"]),
                                  audiences=audiences, issuer=ISS, issuer_name="spid",
                                  token_sha256="0" * 64, leeway=60, now=NOW, **kwargs)


def test_client_credentials_token_with_a_resource_indicator_is_app_only() -> None:
    result = principal(retime(sample("spid_introspection")["server_token"]))
    assert result.policy == "app-only" and result.app is not None
    assert result.app.client_id == "4e8463569caf7ca019000007"
    assert result.scopes == {"profile", "email"} and result.issuer == ISS


def test_user_token_response_is_user_and_app() -> None:
    response = retime(sample("spid_introspection")["user_token"], aud=list(AUD))
    result = principal(response)
    assert result.policy == "user+app" and result.user is not None
    assert result.user.id == "5d75167d-8841-5072-89cb-985915e2dbb3"


def test_username_names_the_user() -> None:
    response = retime(sample("spid_introspection")["user_token"], aud=list(AUD), username="jdoe")
    assert principal(response).user.name == "jdoe"  # type: ignore[union-attr]


def test_act_in_a_response_keeps_the_chain() -> None:
    response = retime(sample("spid_introspection")["user_token"], aud=list(AUD),
                      act={"sub": "gateway", "act": {"sub": "mobile-app"}})
    result = principal(response)
    assert result.app.client_id == "gateway" and len(result.actors) == 2  # type: ignore[union-attr]


def test_token_introspected_for_another_audience_is_refused() -> None:
    response = retime(sample("spid_introspection")["user_token"])  # aud: http://example.com
    with pytest.raises(InvalidAudience):
        principal(response)


def test_response_naming_no_audience_is_refused() -> None:
    response = retime(sample("spid_introspection")["server_token"], aud=None)
    with pytest.raises(InvalidAudience):
        principal(response)


@pytest.mark.parametrize("active", [False, "true", 1, None])
def test_only_json_true_is_active(active: Any) -> None:
    response = retime(sample("spid_introspection")["server_token"], active=active)
    with pytest.raises(InvalidToken):
        principal(response)


@pytest.mark.parametrize("changes, error", [
    ({"exp": NOW - 120}, TokenExpired),
    ({"nbf": NOW + 600}, TokenNotYetValid),
    ({"exp": "1700003600"}, InvalidClaim),          # RFC 7662 times are numbers
    ({"iss": "https://evil.example.com/"}, UnknownIssuer),
    ({"client_id": 42}, InvalidClaim),
])
def test_response_claims_are_checked(changes: dict[str, Any], error: type[Exception]) -> None:
    response = {**retime(sample("spid_introspection")["server_token"]), **changes}
    with pytest.raises(error):
        check_introspected(response, audiences=AUD, issuer=ISS, leeway=60, now=NOW)


def test_configured_profile_maps_introspection_results() -> None:
    config = load_config({"audience": list(AUD), "issuers": [{
        "issuer": ISS, "algorithms": ["RS256"], "jwks_uri": "https://login.schibsted.com/oauth/jwks",
        "claims": {"scopes": "scope", "user": "user_id"}}]})
    response = retime(sample("spid_introspection")["server_token"], user_id="u-1")
    result = principal(response, profile=profile_for(config.issuers[0]))
    assert result.user is not None and result.user.id == "u-1"
