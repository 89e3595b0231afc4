"""Named attacks on the claims of a correctly signed token: wrong types, issuer and audience tricks.

A signed token whose claims are of the wrong JSON type is still refused: a string ``exp`` that
one library compares as text, or a float ``nan`` that compares false to everything, must not
turn into "never expires".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from s2s_guard import Guard, Requirement

from security_kit import (AUD, ISS, NOW, Forge, bearer, expect_accepted, expect_refused, make_guard,
                          public_jwk)

INVALID = (401, "invalid_token")


@dataclass(frozen=True)
class Raw:
    """JSON text put into the payload as is (``1e400``: valid JSON that Python reads as inf)."""

    text: str


#: JSON values that are not a NumericDate (RFC 7519 §2).
NOT_NUMERIC_DATES: list[object] = [
    str(NOW + 300), "9999999999", "1e10", "", True, False, None, [NOW + 300], {"t": NOW + 300},
    Raw("1e400"), Raw("-1e400"), Raw("1E+999"), -1, 10**20, 253402300800]


def _with(forge: Forge, **claims: object) -> str:
    raw = {name: value.text for name, value in claims.items() if isinstance(value, Raw)}
    body = json.dumps(forge.claims(**{k: f"@@{k}@@" if k in raw else v for k, v in claims.items()}))
    for name, text in raw.items():
        body = body.replace(f'"@@{name}@@"', text)
    return bearer(forge.token(body.encode()))


def _token_without(forge: Forge, name: str) -> str:
    return bearer(forge.token(drop=[name]))


# -- NumericDate claims (RFC 7519 §2, §4.1.4-4.1.6) ---------------------------------------------

@pytest.mark.parametrize("value", NOT_NUMERIC_DATES, ids=repr)
def test_exp_of_the_wrong_type(guard: Guard, forge: Forge, value: object) -> None:
    """RFC 7519 §4.1.4: exp is a NumericDate; a string, bool, null, list, inf or out-of-range is refused."""
    expect_refused(guard, _with(forge, exp=value), *INVALID, "invalid_claim")


@pytest.mark.parametrize("value", NOT_NUMERIC_DATES, ids=repr)
def test_nbf_of_the_wrong_type(guard: Guard, forge: Forge, value: object) -> None:
    """RFC 7519 §4.1.5: nbf is a NumericDate; a null or string nbf does not mean "no nbf"."""
    expect_refused(guard, _with(forge, nbf=value), *INVALID, "invalid_claim")


@pytest.mark.parametrize("value", NOT_NUMERIC_DATES, ids=repr)
def test_iat_of_the_wrong_type(guard: Guard, forge: Forge, value: object) -> None:
    """RFC 7519 §4.1.6: iat is a NumericDate."""
    expect_refused(guard, _with(forge, iat=value), *INVALID, "invalid_claim")


def test_exp_missing(guard: Guard, forge: Forge) -> None:
    """RFC 9068 §2.2: an access token must expire; no exp is refused, not "valid forever"."""
    expect_refused(guard, _token_without(forge, "exp"), *INVALID, "invalid_claim")


def test_expired_beyond_the_leeway(guard: Guard, forge: Forge) -> None:
    """RFC 7519 §4.1.4: on or after exp (+ leeway 60 s) the token must not be accepted."""
    expect_refused(guard, _with(forge, exp=NOW - 60), *INVALID, "expired")
    expect_accepted(guard, _with(forge, exp=NOW - 59))


def test_not_yet_valid_beyond_the_leeway(guard: Guard, forge: Forge) -> None:
    """RFC 7519 §4.1.5: before nbf (- leeway) the token must not be accepted."""
    expect_refused(guard, _with(forge, nbf=NOW + 61), *INVALID, "not_yet_valid")


def test_issued_in_the_future(guard: Guard, forge: Forge) -> None:
    """RFC 7519 §4.1.6: an iat beyond now + leeway is a forged or mis-clocked token."""
    expect_refused(guard, _with(forge, iat=NOW + 3600), *INVALID, "issued_in_future")


def test_expired_token_is_not_revived_by_the_verified_cache(forge: Forge) -> None:
    """RFC 7519 §4.1.4: a token accepted (and cached) before exp is refused once exp + leeway has passed."""
    now = [NOW]
    guard = Guard.from_config({"audience": [AUD], "issuers": [{"issuer": ISS, "algorithms": ["RS256"],
                                                               "jwks": forge.jwks()}]}, clock=lambda: now[0])
    token = _with(forge, exp=NOW + 10)
    expect_accepted(guard, token)
    now[0] = NOW + 10 + 60
    expect_refused(guard, token, *INVALID, "expired")


# -- other registered claims of the wrong type ---------------------------------------------------

@pytest.mark.parametrize("aud", [123, [123], [], {}, True, None, [["api://orders"]], [AUD, 1]], ids=repr)
def test_aud_of_the_wrong_type(guard: Guard, forge: Forge, aud: object) -> None:
    """RFC 7519 §4.1.3: aud is a string or an array of strings; a list hiding ours among junk is refused."""
    expect_refused(guard, _with(forge, aud=aud), *INVALID, "invalid_claim")


def test_aud_missing(guard: Guard, forge: Forge) -> None:
    """RFC 9068 §2.2, RFC 8725 §3.9: an access token without aud could be meant for any API."""
    expect_refused(guard, _token_without(forge, "aud"), *INVALID, "invalid_claim")


@pytest.mark.parametrize("scope", [["orders.read"], 1, True, None, {"orders.read": True}], ids=repr)
def test_scope_of_the_wrong_type(guard: Guard, forge: Forge, scope: object) -> None:
    """RFC 8693 §4.2, RFC 9068 §2.2.3: scope is one space-separated string."""
    expect_refused(guard, _with(forge, scope=scope), *INVALID, "invalid_claim")


@pytest.mark.parametrize("scp", [[1], 1, {"orders.read": True}, [["orders.read"]]], ids=repr)
def test_scp_of_the_wrong_type(guard: Guard, forge: Forge, scp: object) -> None:
    """Microsoft identity platform ``scp``: a string (or list of strings); anything else is refused."""
    expect_refused(guard, _with(forge, scp=scp), *INVALID, "invalid_claim")


@pytest.mark.parametrize("claim", ["sub", "client_id", "jti", "azp"])
@pytest.mark.parametrize("value", [1, None, ["daemon"], {"id": "daemon"}, True], ids=repr)
def test_identity_claims_of_the_wrong_type(guard: Guard, forge: Forge, claim: str, value: object) -> None:
    """RFC 7519 §4.1.2/§4.1.7, RFC 8693 §4.3: sub, client_id, jti, azp are strings."""
    expect_refused(guard, _with(forge, **{claim: value}), *INVALID, "invalid_claim")


def test_digit_string_times_only_in_sharepoint_profiles(guard: Guard, forge: Forge) -> None:
    """[MS-XOAUTH] digit-string nbf/exp are a SharePoint quirk; the jwt profile refuses them (RFC 7519 §2)."""
    expect_refused(guard, _with(forge, exp=str(NOW + 300), nbf=str(NOW)), *INVALID, "invalid_claim")


# -- issuer tricks (RFC 8725 §3.8) -------------------------------------------------------------

@pytest.mark.parametrize("iss", [
    ISS + "/", ISS + ".evil.example", ISS + "@evil.example", ISS + "#", ISS + "?", ISS[:-1],
    "https://evil.example/" + ISS, "xhttps://issuer.example", ISS.upper(), " " + ISS, ISS + " ",
    "https://issuer.example:443", "https://issu\u0435r.example", "https://issuer.example\u0000",
], ids=repr)
def test_issuer_prefix_suffix_and_lookalike_tricks(guard: Guard, forge: Forge, iss: str) -> None:
    """CVE-2024-53861 (PyJWT partial iss match), RFC 8725 §3.8: iss is compared exactly, byte for byte."""
    expect_refused(guard, _with(forge, iss=iss), *INVALID, "unknown_issuer")


@pytest.mark.parametrize("iss", [[ISS], 1, None, {"iss": ISS}], ids=repr)
def test_issuer_of_the_wrong_type(guard: Guard, forge: Forge, iss: object) -> None:
    """RFC 7519 §4.1.1: iss is a string; ``["https://issuer.example"]`` must not match by ``in``."""
    expect_refused(guard, _with(forge, iss=iss), *INVALID, "unknown_issuer")


def test_issuer_cannot_borrow_another_issuers_key(forge: Forge, attacker: Forge) -> None:
    """RFC 8725 §3.8: keys are per issuer; a token claiming issuer A signed with issuer B's key fails."""
    other = "https://other.example"
    guard = Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": ISS, "algorithms": ["RS256"], "jwks": forge.jwks()},
        {"issuer": other, "algorithms": ["RS256"],
         "jwks": {"keys": [public_jwk(attacker.rsa, kid="other-1", use="sig")]}}]}, clock=lambda: NOW)
    header = attacker.header("RS256", kid="other-1")
    expect_accepted(guard, bearer(attacker.token(attacker.claims(iss=other), header)))
    token = attacker.token(attacker.claims(iss=ISS), attacker.header("RS256", kid="other-1"))
    expect_refused(guard, bearer(token), *INVALID, "unknown_kid")


# -- audience confusion and token reuse (RFC 8725 §3.9, RFC 8707) ----------------------------------

@pytest.mark.parametrize("aud", [
    "api://billing", "api://order", "api://orders-admin", "API://ORDERS", "api://orders/",
    " api://orders", ["api://billing", "api://reports"], "https://issuer.example", "daemon",
], ids=repr)
def test_audience_confusion(guard: Guard, forge: Forge, aud: object) -> None:
    """RFC 8725 §3.9, RFC 7519 §4.1.3: aud must contain this API exactly; near misses are refused."""
    expect_refused(guard, _with(forge, aud=aud), *INVALID, "bad_audience")


def test_audience_list_containing_this_api(guard: Guard, forge: Forge) -> None:
    """RFC 7519 §4.1.3 positive control: one of several audiences being ours is enough."""
    expect_accepted(guard, _with(forge, aud=["api://billing", AUD]))


def test_token_reuse_across_resources(forge: Forge) -> None:
    """RFC 8707 §1, RFC 9068 §4: a token minted for the billing API is refused by the orders API."""
    orders = make_guard(forge)
    billing = make_guard(forge, top={"audience": ["api://billing"]})
    token = _with(forge, aud="api://billing")
    expect_accepted(billing, token)
    expect_refused(orders, token, *INVALID, "bad_audience")


def test_per_issuer_audience_override_is_exclusive(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 8725 §3.9: an issuer configured with its own audience does not also accept the global one."""
    guard = guard_with(audience=["api://orders-internal"])
    expect_refused(guard, _with(forge, aud=AUD), *INVALID, "bad_audience")
    expect_accepted(guard, _with(forge, aud="api://orders-internal"))


# -- authorization is 403, never 401 (RFC 6750 §3.1) --------------------------------------------

def test_missing_scope_is_403_insufficient_scope(guard: Guard, forge: Forge) -> None:
    """RFC 6750 §3.1: a valid token lacking the route's scope gets 403 insufficient_scope with the scope."""
    error = expect_refused(guard, _with(forge, scope="orders.read"), 403, "insufficient_scope",
                           requirement=Requirement(scopes=["orders.write"]))
    assert error.scope == "orders.write"


def test_scope_smuggled_in_another_claim_does_not_count(guard: Guard, forge: Forge) -> None:
    """RFC 9068 §2.2.3: only ``scope`` (or ``scp``) grants; ``scopes``/``roles`` on an app token do not."""
    token = _with(forge, scope="orders.read", scopes="orders.write", roles=["orders.write"])
    expect_refused(guard, token, 403, "insufficient_scope", requirement=Requirement(scopes=["orders.write"]))


def test_user_token_on_an_app_only_route_is_403(guard: Guard, forge: Forge) -> None:
    """RFC 6750 §3.1: a delegated (user+app) token where app-only is required is 403, not 401."""
    token = _with(forge, sub="alice", client_id="web-app")
    expect_refused(guard, token, 403, "insufficient_scope", requirement=Requirement(policy="app-only"))


def test_app_token_posing_as_a_user_is_app_only(guard: Guard, forge: Forge) -> None:
    """RFC 9068 §2.2: sub equal to client_id is the client itself; it does not satisfy user+app."""
    token = _with(forge, sub="daemon", client_id="daemon")
    expect_refused(guard, token, 403, "insufficient_scope", requirement=Requirement(policy="user+app"))


# -- profile claims of the wrong type (regressions found by tests/fuzz) -------------------------------

ENTRA_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ENTRA_ISS = f"https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0"


@pytest.mark.parametrize("ver", [[], {}, ["2.0"], 2.0, None, "3.0"], ids=repr)
def test_entra_ver_of_the_wrong_type(forge: Forge, ver: object) -> None:
    """Microsoft identity platform claims (ver is "1.0" or "2.0"): a list ``ver`` crashed with a 500; now 401."""
    guard = Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": ENTRA_ISS, "profile": "entra", "algorithms": ["RS256"], "jwks": forge.jwks()}]},
        clock=lambda: NOW)
    claims = {"iss": ENTRA_ISS, "aud": AUD, "iat": NOW, "nbf": NOW, "exp": NOW + 300, "tid": ENTRA_TENANT,
              "azp": "daemon", "idtyp": "app", "oid": "o-1", "sub": "o-1", "ver": "2.0"}
    expect_accepted(guard, bearer(forge.token(claims)))
    expect_refused(guard, bearer(forge.token({**claims, "ver": ver})), *INVALID, "invalid_claim")
