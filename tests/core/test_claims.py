"""RFC 7519 §4.1 registered claims at a fixed ``now``: types, time windows, issuer and audience."""

from __future__ import annotations

from typing import Any

import pytest

from s2s_guard.core.claims import audiences_of, check_claims
from s2s_guard.core.jws import parse_json_object
from s2s_guard.errors import (AuthError, InvalidAudience, InvalidClaim, TokenExpired,
                              TokenIssuedInFuture, TokenNotYetValid, UnknownIssuer)

NOW = 1_700_000_000
LEEWAY = 60
ISS = "https://login.example.com/tenant/v2.0"
AUD = ("api://orders", "https://orders.example.com")


def claims(**changes: Any) -> dict[str, Any]:
    """Valid access-token claims at NOW; ``name=...`` overrides, ``name=DROP`` removes."""
    base: dict[str, Any] = {"iss": ISS, "aud": AUD[0], "sub": "alice", "iat": NOW - 10,
                            "nbf": NOW - 10, "exp": NOW + 300}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()


def check(payload: dict[str, Any], *, leeway: float = LEEWAY) -> None:
    check_claims(payload, issuer=ISS, audiences=AUD, leeway=leeway, now=NOW)


def test_valid_claims_pass() -> None:
    check(claims())


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [
    str(NOW + 300), "9999999999",   # a numeric string is not a NumericDate
    True, False,                    # JSON booleans are not numbers
    None, [NOW + 300], {"t": NOW + 300},
    float("inf"), float("-inf"), float("nan"),
    -1, -0.5,
    10**30, pytest.param(10**400, id="10**400"),  # out of range; beyond float conversion
])
def test_time_claims_of_the_wrong_type_or_range(name: str, value: object) -> None:
    with pytest.raises(InvalidClaim) as info:
        check(claims(**{name: value}))
    assert info.value.status_code == 401
    assert info.value.error == "invalid_token"


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("raw", ["1e400", "-1e400"])
def test_json_overflow_to_infinity_is_invalid(name: str, raw: str) -> None:
    payload = parse_json_object(f'{{"{name}": {raw}}}'.encode(), "payload")
    with pytest.raises(InvalidClaim):
        check(claims(**payload))


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_finite_float_times_are_accepted(name: str) -> None:
    offset = 300.5 if name == "exp" else -0.5
    check(claims(**{name: NOW + offset}))


def test_exp_is_required() -> None:
    with pytest.raises(InvalidClaim):
        check(claims(exp=DROP))


def test_nbf_and_iat_are_optional() -> None:
    check(claims(nbf=DROP, iat=DROP))


@pytest.mark.parametrize(("exp", "leeway", "error"), [
    (NOW + 1, 0, None),
    (NOW, 0, TokenExpired),                       # RFC 7519 §4.1.4: now must be before exp
    (NOW - LEEWAY + 1, LEEWAY, None),
    (NOW - LEEWAY, LEEWAY, TokenExpired),          # exactly at exp + leeway
    (NOW - LEEWAY - 1, LEEWAY, TokenExpired),
    (NOW - LEEWAY + 0.001, LEEWAY, None),
])
def test_expiry_boundaries(exp: float, leeway: float, error: type[AuthError] | None) -> None:
    payload = claims(exp=exp, nbf=DROP, iat=DROP)
    if error is None:
        check(payload, leeway=leeway)
    else:
        with pytest.raises(error):
            check(payload, leeway=leeway)


@pytest.mark.parametrize(("name", "value", "leeway", "error"), [
    ("nbf", NOW, 0, None),                         # RFC 7519 §4.1.5: valid from nbf on
    ("nbf", NOW + 1, 0, TokenNotYetValid),
    ("nbf", NOW + LEEWAY, LEEWAY, None),
    ("nbf", NOW + LEEWAY + 1, LEEWAY, TokenNotYetValid),
    ("iat", NOW, 0, None),
    ("iat", NOW + 1, 0, TokenIssuedInFuture),
    ("iat", NOW + LEEWAY, LEEWAY, None),
    ("iat", NOW + LEEWAY + 1, LEEWAY, TokenIssuedInFuture),
    ("iat", NOW - 86_400 * 365, LEEWAY, None),     # an old iat is not an error on its own
])
def test_nbf_and_iat_boundaries(name: str, value: int, leeway: float,
                                error: type[AuthError] | None) -> None:
    payload = claims(**{name: value, "exp": NOW + 10_000})
    if error is None:
        check(payload, leeway=leeway)
    else:
        with pytest.raises(error) as info:
            check(payload, leeway=leeway)
        assert info.value.status_code == 401


@pytest.mark.parametrize("iss", [
    ISS + "/", ISS[:-1], ISS.upper(), "HTTPS://login.example.com/tenant/v2.0",
    ISS + "/evil", "https://login.example.com.evil.test/tenant/v2.0", " " + ISS, "",
])
def test_issuer_must_match_exactly(iss: str) -> None:
    with pytest.raises(UnknownIssuer):  # RFC 8725 §3.8
        check(claims(iss=iss))


@pytest.mark.parametrize("iss", [DROP, None, 42, [ISS], {"iss": ISS}])
def test_issuer_missing_or_wrong_type(iss: object) -> None:
    with pytest.raises((UnknownIssuer, InvalidClaim)):
        check(claims(iss=iss))


@pytest.mark.parametrize("aud", [
    AUD[0], AUD[1], [AUD[0]], [AUD[1]], ["api://other", AUD[1]], [AUD[0], AUD[1]],
])
def test_audience_any_accepted_value_matches(aud: object) -> None:
    check(claims(aud=aud))


@pytest.mark.parametrize("aud", [
    "api://other", ["api://other"], AUD[0].upper(), AUD[0] + "/", "", [""],
])
def test_audience_mismatch(aud: object) -> None:
    with pytest.raises(InvalidAudience):
        check(claims(aud=aud))


@pytest.mark.parametrize("aud", [DROP, None, [], [AUD[0], 1], [None], 42, True, {"aud": AUD[0]},
                                 [[AUD[0]]]])
def test_audience_of_the_wrong_shape(aud: object) -> None:
    with pytest.raises(InvalidClaim):
        check(claims(aud=aud))


def test_audiences_of_returns_a_tuple() -> None:
    assert audiences_of({"aud": "a"}) == ("a",)
    assert audiences_of({"aud": ["a", "b"]}) == ("a", "b")


@pytest.mark.parametrize(("name", "value"), [
    ("sub", 42), ("jti", ["x"]), ("client_id", None), ("azp", 1), ("scope", ["a", "b"]),
    ("scp", 42), ("scp", ["a", 1]), ("tid", {}),
])
def test_string_claims_have_string_types(name: str, value: object) -> None:
    with pytest.raises(InvalidClaim):
        check(claims(**{name: value}))


@pytest.mark.parametrize("scp", ["a b", ["a", "b"], []])
def test_scp_string_or_list_of_strings(scp: object) -> None:
    check(claims(scp=scp))
