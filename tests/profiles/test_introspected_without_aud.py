"""RFC 7662 responses that name no audience, as django-oauth-toolkit sends them.

Shapes from django-oauth-toolkit 3.4.1, ``oauth2_provider/views/introspect.py``
(``IntrospectTokenView.get_token_response``) and its ``docs/resource_server.rst`` example:
``active``, ``scope``, ``exp``, ``client_id`` (the token's application), ``username`` only when
the token has a user (never for the client credentials grant, whose ``request.user`` is set to
``None`` in ``OAuth2Validator._save_bearer_token``), and ``aud`` only when the client asked for
RFC 8707 resource indicators (``AccessToken.resource``). No ``sub``, ``iss`` or ``iat``.
"""

from __future__ import annotations

from typing import Any

import pytest
from profile_support import NOW

from s2s_guard import ConfigurationError, InvalidAudience, load_config
from s2s_guard.core.profiles import PROFILES, introspected_principal, profile_for
from s2s_guard.principal import Principal

ISS = "http://127.0.0.1:8000/o"
AUD = ("https://orders.example",)
TRUSTED = ("orders-daemon", "orders-web")


def dot(**changes: Any) -> dict[str, Any]:
    """A django-oauth-toolkit client credentials response (no resource indicator: no aud)."""
    response = {"active": True, "scope": "orders.read", "exp": NOW + 36000, "client_id": "orders-daemon"}
    response.update(changes)
    return response


def principal(response: dict[str, Any], clients: tuple[str, ...] = ()) -> Principal:
    trust = {"clients_without_aud": clients} if clients else {}
    return introspected_principal(response, profile=PROFILES["jwt"], audiences=AUD, issuer=ISS,
                                  issuer_name="dot", token_sha256="0" * 64, leeway=60, now=NOW, **trust)


def test_no_audience_is_refused_by_default() -> None:
    with pytest.raises(InvalidAudience) as info:
        principal(dot())
    assert info.value.description == "The access token has the wrong audience"
    assert "accept_missing_aud_for_clients" in info.value.detail  # the log says what to configure


def test_trusted_client_stands_for_the_audience() -> None:
    result = principal(dot(), TRUSTED)
    assert result.policy == "app-only" and result.app is not None and result.user is None
    assert result.app.client_id == "orders-daemon" and result.scopes == {"orders.read"}


@pytest.mark.parametrize("response", [
    dot(client_id="billing-daemon"),           # another client of the same server
    {k: v for k, v in dot().items() if k != "client_id"},  # no client to trust
    dot(client_id="ORDERS-DAEMON"),            # compared exactly
])
def test_other_clients_still_need_an_audience(response: dict[str, Any]) -> None:
    with pytest.raises(InvalidAudience):
        principal(response, TRUSTED)


@pytest.mark.parametrize("aud", [["https://billing.example"], "https://billing.example"])
def test_an_audience_that_is_present_must_still_match(aud: Any) -> None:
    """RFC 8707: a token the trusted client asked for another resource is not for this API."""
    with pytest.raises(InvalidAudience):
        principal(dot(aud=aud), TRUSTED)


def test_matching_audience_needs_no_trust() -> None:
    result = principal(dot(client_id="billing-daemon", aud=list(AUD)))
    assert result.policy == "app-only" and result.app.client_id == "billing-daemon"  # type: ignore[union-attr]


def test_user_token_names_its_user_by_username() -> None:
    """RFC 7662 §2.2: username is the resource owner; without sub it is the user (never a daemon)."""
    result = principal(dot(client_id="orders-web", username="alice", aud=list(AUD)))
    assert result.policy == "user+app" and result.user is not None and result.app is not None
    assert result.user.id == "alice" and result.user.name == "alice" and result.app.client_id == "orders-web"


def test_trusted_users_token_without_audience_is_user_and_app() -> None:
    result = principal(dot(client_id="orders-web", username="alice"), TRUSTED)
    assert result.policy == "user+app" and result.user.id == "alice"  # type: ignore[union-attr]


def test_sub_wins_over_username() -> None:
    result = principal(dot(client_id="orders-web", username="alice", sub="u-42", aud=list(AUD)))
    assert result.user is not None and result.user.id == "u-42" and result.user.name == "alice"


def test_configured_user_claim_is_the_only_one_read() -> None:
    config = load_config({"audience": list(AUD), "issuers": [{
        "issuer": ISS, "validation": "introspect", "claims": {"user": "uid"}}],
        "introspection": {"endpoint": ISS + "/introspect/", "client_id": "orders-api",
                          "client_secret": "x" * 32}})
    result = introspected_principal(dot(username="alice"), profile=profile_for(config.issuers[0]),
                                    audiences=AUD, issuer=ISS, issuer_name="dot", token_sha256="0" * 64,
                                    leeway=60, now=NOW, clients_without_aud=TRUSTED)
    assert result.policy == "app-only"  # the operator said which claim is the user


def _config(**introspection: Any) -> dict[str, Any]:
    return {"audience": list(AUD), "issuers": [{"issuer": ISS, "validation": "introspect"}],
            "introspection": {"endpoint": ISS + "/introspect/", "client_id": "orders-api",
                              "client_secret": "x" * 32, **introspection}}


def test_config_key() -> None:
    assert load_config(_config()).introspection.accept_missing_aud_for_clients == ()  # type: ignore[union-attr]
    config = load_config(_config(accept_missing_aud_for_clients=["orders-daemon", "orders-web"]))
    assert config.introspection.accept_missing_aud_for_clients == TRUSTED  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [True, [""], [1], {"orders-daemon": True}])
def test_config_key_is_checked(value: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config(_config(accept_missing_aud_for_clients=value))
    assert info.value.key == "introspection.accept_missing_aud_for_clients"
