"""Issue 13: profiles for the identity providers APIs sit behind, and the generic ``jwt`` daemon rule.

Each IdP's tokens (``tests/fixtures/profiles/idp_tokens.json``) are minted by
:class:`s2s_guard.testing.LocalIssuer` and verified against its real JWKS on 127.0.0.1, with both
drivers (sync and async) agreeing. Sources, one per vendor:

* Auth0, "Access Token Profiles": https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles
  (``azp`` or ``client_id``; M2M ``sub = <client_id>@clients`` and ``gty``; RBAC ``permissions``;
  ``iss`` = ``https://<tenant>/`` with its trailing slash).
* Okta, access token payload: https://developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/
  (``cid``; ``uid`` only for users; ``scp`` a JSON array; org ``https://<org>`` and custom
  ``https://<org>/oauth2/<id>`` authorization servers).
* Keycloak, "Using a service account": https://www.keycloak.org/docs/latest/server_admin/#_service_accounts
  (``azp``; ``preferred_username = service-account-<client>``; ``realm_access``/``resource_access``).
* Amazon Cognito, "Understanding the access token":
  https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html
  and aws-jwt-verify (https://github.com/awslabs/aws-jwt-verify: ``tokenUse``, ``clientId``): no ``aud``.
* Duende IdentityServer, scope claim format:
  https://docs.duendesoftware.com/identityserver/apis/aspnetcore/authorization (``scope`` a JSON array).

Every test here but the three positive controls fails on f84b319 (unknown profile, a daemon classified
user+app, a Cognito or Duende token refused, or no warning).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from profile_support import accepted, refused

from s2s_guard import (ConfigurationError, Guard, InsufficientScope, InvalidAudience, InvalidClaim,
                       InvalidTokenType, Requirement, load_config)
from s2s_guard.testing import LocalIssuer

API = "https://orders.example.com"
USER_APP = Requirement(policy="user+app")
APP_ONLY = Requirement(policy="app-only")
AUTH0_ISS = "https://dev-orders.eu.auth0.com/"
OKTA_ISS = "https://dev-1234567.okta.com/oauth2/default"
KEYCLOAK_ISS = "https://sso.example.com/realms/demo"
COGNITO_ISS = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
DUENDE_ISS = "https://identity.example.com"
COGNITO_CLIENT = "1example23456789"
SAMPLES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "profiles" / "idp_tokens.json").read_text())


def sample(name: str, **changes: Any) -> dict[str, Any]:
    """A documented claim set (fresh copy); ``changes`` applied, ``None`` removes a claim."""
    claims = {**SAMPLES[name], **changes}
    return {k: v for k, v in claims.items() if v is not None}


def guard_of(issuer: LocalIssuer, **options: Any) -> Guard:
    """A guard trusting ``issuer`` through its loopback JWKS, without the verified-token cache.

    Configured as each vendor's tokens are: only Duende's declare ``typ`` ``at+jwt`` (and then
    carry RFC 9068 §2.2's claims, less ``sub`` for daemons); Auth0, Okta, Keycloak and Cognito
    access tokens do not, so their issuers require no ``typ``."""
    config = issuer.guard_config(audience=API, **options)
    if options.get("profile") != "duende":
        del config["issuers"][0]["typ"]
    config["cache"] = {"verified": False}
    return Guard.from_config(config)


def started(iss: str) -> Iterator[LocalIssuer]:
    with LocalIssuer(issuer=iss, algorithms=("RS256",), audience=API) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def auth0() -> Iterator[LocalIssuer]:
    yield from started(AUTH0_ISS)


@pytest.fixture(scope="module")
def okta() -> Iterator[LocalIssuer]:
    yield from started(OKTA_ISS)


@pytest.fixture(scope="module")
def keycloak() -> Iterator[LocalIssuer]:
    yield from started(KEYCLOAK_ISS)


@pytest.fixture(scope="module")
def cognito() -> Iterator[LocalIssuer]:
    yield from started(COGNITO_ISS)


@pytest.fixture(scope="module")
def duende() -> Iterator[LocalIssuer]:
    yield from started(DUENDE_ISS)


# -- Auth0 ------------------------------------------------------------------------------------

def test_auth0_client_credentials_token_is_app_only(auth0: LocalIssuer) -> None:
    """Auth0 Access Token Profiles: an M2M token (``gty``, ``sub = <azp>@clients``) names no user;
    it is refused on a user+app route, the daemon a generic reading let through."""
    guard = guard_of(auth0, profile="auth0")
    token = auth0.mint(sample("auth0_client_credentials"))
    principal = accepted(guard, token, APP_ONLY)
    assert principal.policy == "app-only" and principal.user is None
    assert principal.app is not None and principal.app.client_id == "awZfdIir8YFdGZWkvCejDoUb7SjTDicx"
    assert principal.scopes == {"read:orders"}
    refused(guard, token, InsufficientScope, USER_APP)


def test_auth0_user_token_is_user_and_app_with_rbac_permissions(auth0: LocalIssuer) -> None:
    """Auth0 Access Token Profiles: user = ``sub``, app = ``azp``; RBAC ``permissions`` count as scopes."""
    guard = guard_of(auth0, profile="auth0")
    token = auth0.mint(sample("auth0_user"))
    principal = accepted(guard, token, USER_APP)
    assert principal.user is not None and principal.user.id == "auth0|6553da60a54af58e29493993"
    assert principal.app is not None and principal.app.client_id == "K1AUPhZq8mRi0Q0pjhkfu1D7y6KjDQja"
    assert principal.scopes == {"openid", "profile", "read:orders", "write:orders"}
    refused(guard, token, InsufficientScope, APP_ONLY)


def test_auth0_rfc9068_dialect_names_the_app_by_client_id(auth0: LocalIssuer) -> None:
    """Auth0 RFC 9068 token profile: the client is ``client_id``; ``gty`` still marks the daemon."""
    principal = accepted(guard_of(auth0, profile="auth0"), auth0.mint(sample("auth0_rfc9068_client_credentials")))
    assert principal.policy == "app-only" and principal.app.client_id == "awZfdIir8YFdGZWkvCejDoUb7SjTDicx"  # type: ignore[union-attr]


def test_auth0_token_without_a_client_is_refused(auth0: LocalIssuer) -> None:
    """Auth0 Access Token Profiles: ``azp``/``client_id`` is always present; without it the token is malformed."""
    refused(guard_of(auth0, profile="auth0"), auth0.mint(sample("auth0_user", azp=None)), InvalidClaim)


def test_auth0_issuer_without_trailing_slash_is_a_configuration_error() -> None:
    """Auth0 ``iss`` is ``https://<tenant>/``; RFC 8725 §3.8 exact match would refuse every token, so say it at start-up."""
    with pytest.raises(ConfigurationError) as info:
        load_config({"audience": [API], "issuers": [{"issuer": AUTH0_ISS.rstrip("/"), "profile": "auth0",
                                                      "algorithms": ["RS256"], "jwks_uri": AUTH0_ISS + ".well-known/jwks.json"}]})
    assert info.value.key == "issuers[0].issuer" and AUTH0_ISS in str(info.value)


# -- Okta -------------------------------------------------------------------------------------

@pytest.mark.parametrize("server", ["org", "custom"])
def test_okta_client_credentials_token_is_app_only(server: str) -> None:
    """Okta access token: no ``uid`` (client credentials, ``sub == cid``): app-only, app = ``cid``, scopes = ``scp``.
    Org (``https://<org>``) and custom (``/oauth2/<id>``) authorization servers alike."""
    iss = "https://dev-1234567.okta.com" if server == "org" else OKTA_ISS
    for okta in started(iss):
        guard = guard_of(okta, profile="okta")
        token = okta.mint(sample("okta_client_credentials"))
        principal = accepted(guard, token, APP_ONLY)
        assert principal.app is not None and principal.app.client_id == "0oa1hk1jr9nR6ZZ1v0h8"
        assert principal.scopes == {"orders.read"} and principal.user is None
        refused(guard, token, InsufficientScope, USER_APP)


def test_okta_user_token_names_the_user_by_uid(okta: LocalIssuer) -> None:
    """Okta access token: ``uid`` is the user (named by ``sub``, the login), ``cid`` the app; ``scp`` an array."""
    guard = guard_of(okta, profile="okta")
    token = okta.mint(sample("okta_user"))
    principal = accepted(guard, token, USER_APP)
    assert principal.user is not None and (principal.user.id, principal.user.name) == (
        "00uid4BxXw6I6TV4m0g3", "alice@example.com")
    assert principal.app is not None and principal.app.client_id == "0oa1hk1jr9nR6ZZ1v0h8"
    assert principal.scopes == {"openid", "profile", "orders.read"}
    refused(guard, token, InsufficientScope, APP_ONLY)


# -- Keycloak ---------------------------------------------------------------------------------

def test_keycloak_service_account_token_is_app_only(keycloak: LocalIssuer) -> None:
    """Keycloak "Using a service account": ``sub`` is the service-account user, ``preferred_username``
    ``service-account-<client>``: the token names no person and is refused on a user+app route."""
    guard = guard_of(keycloak, profile="keycloak")
    token = keycloak.mint(sample("keycloak_service_account"))
    principal = accepted(guard, token, APP_ONLY)
    assert principal.app is not None and principal.app.client_id == "orders-job"
    assert principal.user is None and principal.scopes == {"email", "profile"}
    refused(guard, token, InsufficientScope, USER_APP)


@pytest.mark.parametrize("marker", [{"preferred_username": None}, {"client_id": None, "clientHost": None}])
def test_keycloak_either_service_account_marker_suffices(keycloak: LocalIssuer, marker: dict[str, Any]) -> None:
    """Keycloak: the ``service_account`` scope's ``client_id`` or the ``service-account-`` username alone marks a daemon."""
    principal = accepted(guard_of(keycloak, profile="keycloak"),
                         keycloak.mint(sample("keycloak_service_account", **marker)))
    assert principal.policy == "app-only"


def test_keycloak_introspected_user_is_not_a_service_account() -> None:
    """RFC 7662 §2.2 / Keycloak introspection: the response adds ``client_id`` and ``username`` for a user's
    token too, so the ``service-account-`` username decides, not ``client_id``."""
    from s2s_guard.core.profiles import PROFILES

    response = {**sample("keycloak_user"), "active": True, "client_id": "orders-web", "username": "alice"}
    principal = PROFILES["keycloak"].principal(response, issuer=KEYCLOAK_ISS, issuer_name="kc", token_sha256="0" * 64)
    assert principal.policy == "user+app" and principal.user is not None and principal.user.name == "alice"


def test_keycloak_user_token_is_user_and_app(keycloak: LocalIssuer) -> None:
    """Keycloak: a signed-in user's token names ``azp`` and the user ``sub`` (``preferred_username`` its name)."""
    guard = guard_of(keycloak, profile="keycloak")
    token = keycloak.mint(sample("keycloak_user"))
    principal = accepted(guard, token, USER_APP)
    assert principal.user is not None and principal.user.name == "alice"
    assert principal.user.id == "f1e0a2c4-5b6d-4e8f-9a0b-1c2d3e4f5a6b" and principal.user.roles == frozenset()
    assert principal.app is not None and principal.app.client_id == "orders-web"
    refused(guard, token, InsufficientScope, APP_ONLY)


def test_keycloak_roles_only_when_asked(keycloak: LocalIssuer) -> None:
    """Keycloak realm and client roles (``realm_access``, ``resource_access.<client>``), opt-in per issuer;
    never scopes (RFC 6749 §3.3 scopes are what the client was granted)."""
    guard = guard_of(keycloak, profile="keycloak", realm_roles=True, client_roles=["orders-api"])
    user = accepted(guard, keycloak.mint(sample("keycloak_user")))
    assert user.user is not None and user.user.roles == {"offline_access", "orders-admin", "orders.approve"}
    assert "orders.approve" not in user.scopes
    daemon = accepted(guard, keycloak.mint(sample("keycloak_service_account")))
    assert daemon.app is not None and "orders.sync" in daemon.app.permissions
    assert "orders.sync" not in daemon.scopes


def test_keycloak_token_with_no_marker_either_way_is_refused(keycloak: LocalIssuer) -> None:
    """Fail closed (RFC 8725 §3.11 spirit): no ``preferred_username`` and no service-account claim cannot be classified."""
    claims = sample("keycloak_user", preferred_username=None)
    refused(guard_of(keycloak, profile="keycloak"), keycloak.mint(claims), InvalidClaim)


def test_keycloak_role_options_only_for_keycloak() -> None:
    """Positive control (passes on f84b319 too, where the key is unknown): ``realm_roles``/``client_roles``
    are Keycloak keys, refused for other profiles with the key named."""
    with pytest.raises(ConfigurationError) as info:
        load_config({"audience": [API], "issuers": [{"issuer": OKTA_ISS, "profile": "okta", "realm_roles": True,
                                                      "algorithms": ["RS256"], "jwks_uri": OKTA_ISS + "/v1/keys"}]})
    assert info.value.key == "issuers[0].realm_roles"


# -- Amazon Cognito ---------------------------------------------------------------------------

def test_cognito_client_credentials_token_without_aud_is_accepted(cognito: LocalIssuer) -> None:
    """Cognito access tokens carry no ``aud``; aws-jwt-verify checks ``client_id`` instead. A client-credentials
    token (no ``username``, ``sub == client_id``) is app-only."""
    guard = guard_of(cognito, profile="cognito", client_ids=[COGNITO_CLIENT])
    token = cognito.mint(sample("cognito_client_credentials"), omit=("aud",))
    principal = accepted(guard, token, APP_ONLY)
    assert principal.app is not None and principal.app.client_id == COGNITO_CLIENT
    assert principal.scopes == {"orders/read"}
    refused(guard, token, InsufficientScope, USER_APP)


def test_cognito_user_access_token(cognito: LocalIssuer) -> None:
    """Cognito access token: user = ``sub`` named by ``username``, ``cognito:groups`` as roles, app = ``client_id``."""
    guard = guard_of(cognito, profile="cognito", client_ids=[COGNITO_CLIENT])
    token = cognito.mint(sample("cognito_user"), omit=("aud",))
    principal = accepted(guard, token, USER_APP)
    assert principal.user is not None and principal.user.id == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    assert principal.user.name == "janedoe" and principal.user.roles == {"admin"}
    assert principal.scopes == {"aws.cognito.signin.user.admin", "orders/read"}
    refused(guard, token, InsufficientScope, APP_ONLY)


def test_cognito_other_app_client_is_refused(cognito: LocalIssuer) -> None:
    """aws-jwt-verify ``clientId``: the app client is the audience; another client's token is the wrong audience."""
    guard = guard_of(cognito, profile="cognito", client_ids=["7otherclient0000"])
    refused(guard, cognito.mint(sample("cognito_user"), omit=("aud",)), InvalidAudience)


def test_cognito_id_token_is_refused(cognito: LocalIssuer) -> None:
    """RFC 8725 §3.11 (cross-JWT confusion), aws-jwt-verify ``tokenUse: "access"``: an ID token
    (``token_use = id``, ``aud`` = the app client) is not an access token."""
    guard = guard_of(cognito, profile="cognito", client_ids=[COGNITO_CLIENT])
    refused(guard, cognito.mint(sample("cognito_id_token")), InvalidTokenType)


def test_cognito_resource_bound_token_must_name_this_api(cognito: LocalIssuer) -> None:
    """RFC 7519 §4.1.3 / RFC 8707: a Cognito token that does carry ``aud`` must name this API."""
    guard = guard_of(cognito, profile="cognito", client_ids=[COGNITO_CLIENT])
    claims = sample("cognito_client_credentials")
    refused(guard, cognito.mint({**claims, "aud": "https://elsewhere.example.com"}), InvalidAudience)
    assert accepted(guard, cognito.mint(claims)).policy == "app-only"  # aud = API


def test_cognito_needs_client_ids() -> None:
    """Configuration (aws-jwt-verify makes ``clientId`` mandatory): without ``client_ids`` any app client would pass."""
    with pytest.raises(ConfigurationError) as info:
        load_config({"audience": [API], "issuers": [{"issuer": COGNITO_ISS, "profile": "cognito",
                                                      "algorithms": ["RS256"], "jwks_uri": COGNITO_ISS + "/.well-known/jwks.json"}]})
    assert info.value.key == "issuers[0].client_ids"


# -- Duende IdentityServer --------------------------------------------------------------------

def test_duende_scope_array_is_accepted(duende: LocalIssuer) -> None:
    """Duende scope claim format: a JSON array by default. A client-credentials token (no ``sub``) is app-only."""
    guard = guard_of(duende, profile="duende")
    token = duende.mint(sample("duende_client_credentials"))
    principal = accepted(guard, token, APP_ONLY)
    assert principal.app is not None and principal.app.client_id == "orders.worker"
    assert principal.scopes == {"orders.read", "orders.write"}
    refused(guard, token, InsufficientScope, USER_APP)


def test_duende_user_token(duende: LocalIssuer) -> None:
    """Duende: user = ``sub``, named by ``name``, ``role`` as roles; scopes from the array (or the string form)."""
    guard = guard_of(duende, profile="duende")
    principal = accepted(guard, duende.mint(sample("duende_user")), USER_APP)
    assert principal.user is not None and (principal.user.id, principal.user.name) == ("818727", "Alice Smith")
    assert principal.user.roles == {"admin", "buyer"} and principal.scopes == {"openid", "profile", "orders.read"}
    spaced = accepted(guard, duende.mint(sample("duende_user", scope="openid orders.read")))
    assert spaced.scopes == {"openid", "orders.read"}


@pytest.mark.parametrize("scope", [["orders.read", 7], {"orders.read": True}, 7])
def test_duende_malformed_scope_is_refused(duende: LocalIssuer, scope: Any) -> None:
    """RFC 8693 §4.2 / Duende: ``scope`` is a string or an array of strings; anything else is refused."""
    refused(guard_of(duende, profile="duende"), duende.mint(sample("duende_user", scope=scope)), InvalidClaim)


# -- the generic jwt profile ------------------------------------------------------------------

def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "s2s_guard" and r.levelno == logging.WARNING]


@pytest.mark.parametrize("vendor, name", [("auth0", "auth0_client_credentials"),
                                          ("keycloak", "keycloak_service_account")])
def test_generic_profile_classifies_vendor_daemons_app_only(caplog: pytest.LogCaptureFixture, vendor: str,
                                                            name: str) -> None:
    """Issue 13: under ``profile = "jwt"`` an Auth0 M2M token (``gty``, ``@clients``) or a Keycloak service
    account (``service-account-``) has ``sub != client``; failing safe it is app-only, and the issuer is
    named once at WARNING with the profile to configure."""
    caplog.set_level(logging.WARNING, "s2s_guard")
    for issuer in started("https://idp.example.com/"):
        guard = guard_of(issuer)
        token = issuer.mint(sample(name))
        assert accepted(guard, token).policy == "app-only"
        refused(guard, token, InsufficientScope, USER_APP)
        accepted(guard, issuer.mint(sample(name)))  # a second token: no second warning
    (message,) = warnings_of(caplog)
    assert "https://idp.example.com/" in message and f'profile = "{vendor}"' in message


def test_generic_profile_okta_daemon_is_app_only_not_a_user(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13: an Okta client-credentials token under the generic profile (``claims`` forgotten) was a
    user-only principal whose "user" was the client id; ``cid`` now names the app, so it is app-only."""
    caplog.set_level(logging.WARNING, "s2s_guard")
    for issuer in started("https://idp.example.com"):
        principal = accepted(guard_of(issuer), issuer.mint(sample("okta_client_credentials")))
        assert principal.policy == "app-only" and principal.app.client_id == "0oa1hk1jr9nR6ZZ1v0h8"  # type: ignore[union-attr]
    assert any('profile = "okta"' in m for m in warnings_of(caplog))


def test_generic_profile_warns_about_cognito_tokens(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13: ``token_use`` is Cognito's marker; the generic profile says to configure ``profile = "cognito"``."""
    caplog.set_level(logging.WARNING, "s2s_guard")
    for issuer in started("https://idp.example.com"):
        accepted(guard_of(issuer), issuer.mint(sample("cognito_user")))  # this one carries aud = API
    assert any('profile = "cognito"' in m for m in warnings_of(caplog))


def test_generic_profile_token_naming_no_client_stays_user_only(caplog: pytest.LogCaptureFixture) -> None:
    """Positive control (passes on f84b319 too), RFC 9068 §2.2 requires ``client_id``: a token with only ``sub``
    is user-only by design (the ``user-only`` policy); without a vendor marker nothing is logged."""
    caplog.set_level(logging.WARNING, "s2s_guard")
    for issuer in started("https://idp.example.com"):
        assert accepted(guard_of(issuer), issuer.mint({"sub": "ida"})).policy == "user-only"
    assert warnings_of(caplog) == []


def test_generic_profile_warns_at_first_sight_of_a_vendor_issuer(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13: an issuer URL that is plainly Okta's (or Auth0's, Cognito's, Keycloak's) under the generic
    profile is named at WARNING when its profile is first set up, before any vendor token is seen."""
    caplog.set_level(logging.WARNING, "s2s_guard")
    for issuer in started(OKTA_ISS):
        accepted(guard_of(issuer), issuer.app_token("0oa1hk1jr9nR6ZZ1v0h8"))  # RFC 9068-shaped
    assert [m for m in warnings_of(caplog) if OKTA_ISS in m and 'profile = "okta"' in m]


def test_generic_profile_rfc9068_tokens_classified_as_before(caplog: pytest.LogCaptureFixture) -> None:
    """Positive control (passes on f84b319 too), RFC 9068 §2.2: ``sub == client_id`` is app-only, any other
    ``sub`` a user; no warning for a plain RFC 9068 issuer."""
    caplog.set_level(logging.WARNING, "s2s_guard")
    for issuer in started("https://idp.example.com"):
        guard = guard_of(issuer)
        assert accepted(guard, issuer.app_token("daemon", scopes="orders.read")).policy == "app-only"
        user = accepted(guard, issuer.user_token("alice", "web"), USER_APP)
        assert user.user is not None and user.user.id == "alice"
    assert warnings_of(caplog) == []
