"""RFC 7515 §4.1 / RFC 8725 protected-header checks: alg allow-list, crit, b64, cty, typ, kid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from s2s_guard import Guard
from s2s_guard.core.jwt import check_header
from s2s_guard.errors import (AuthError, DisallowedAlgorithm, InvalidTokenType, MalformedToken,
                              UnsupportedCritical)

ALLOWED = ("RS256", "ES256")
DROP = object()


def header(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"alg": "RS256", "kid": "k1", "typ": "at+jwt"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


def test_allowed_header_returns_alg() -> None:
    assert check_header(header(), ALLOWED) == "RS256"
    assert check_header(header(alg="ES256"), ALLOWED, "at+jwt") == "ES256"


@pytest.mark.parametrize("alg", [
    "none", "None", "NONE", "nOnE", DROP, None, "", 256, ["RS256"], {"alg": "RS256"}, True,
    "rs256", "RS256 ", "HS256", "PS256", "RS512",  # not in this issuer's allow-list
])
def test_disallowed_algorithms(alg: object) -> None:
    with pytest.raises(DisallowedAlgorithm) as info:  # RFC 8725 §3.1
        check_header(header(alg=alg), ALLOWED)
    assert info.value.status_code == 401


@pytest.mark.parametrize("changes", [
    {"crit": ["exp"]}, {"crit": []}, {"crit": ["b64"], "b64": False}, {"crit": "b64"},
    {"b64": False}, {"b64": "false"}, {"b64": None}, {"b64": 0},
])
def test_critical_extensions_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedCritical):  # RFC 7515 §4.1.11, RFC 7797
        check_header(header(**changes), ALLOWED)


def test_b64_true_is_the_default() -> None:
    assert check_header(header(b64=True), ALLOWED) == "RS256"


@pytest.mark.parametrize("cty", ["JWT", "jwt", "application/jwt", "Application/JWT"])
def test_nested_jwt_refused(cty: str) -> None:
    with pytest.raises(MalformedToken):  # RFC 8725 §2.8; RFC 7515 §4.1.10 "application/" prefix
        check_header(header(cty=cty), ALLOWED)


def test_other_cty_is_ignored() -> None:
    assert check_header(header(cty="application/json"), ALLOWED) == "RS256"


@pytest.mark.parametrize("name", ["kid", "x5t", "x5t#S256"])
@pytest.mark.parametrize("value", [1, None, ["k1"], {"kid": "k1"}, True])
def test_key_identifiers_must_be_strings(name: str, value: object) -> None:
    with pytest.raises(MalformedToken):
        check_header(header(**{name: value}), ALLOWED)


@pytest.mark.parametrize(("typ", "error"), [
    ("at+jwt", None),
    ("AT+JWT", None),                     # RFC 7515 §4.1.9: media types are case-insensitive
    ("application/at+jwt", None),
    ("Application/AT+JWT", None),
    ("JWT", InvalidTokenType),            # RFC 9068 §4: an ID token or generic JWT is not an access token
    ("jwt", InvalidTokenType),
    ("at+jwt ", InvalidTokenType),
    ("application/jwt", InvalidTokenType),
    ("text/at+jwt", InvalidTokenType),
    ("", InvalidTokenType),
    (DROP, InvalidTokenType),
    (None, InvalidTokenType),
    (["at+jwt"], InvalidTokenType),
])
def test_explicit_typing(typ: object, error: type[AuthError] | None) -> None:
    if error is None:
        assert check_header(header(typ=typ), ALLOWED, "at+jwt") == "RS256"
    else:
        with pytest.raises(error):
            check_header(header(typ=typ), ALLOWED, "at+jwt")


def test_configured_typ_may_carry_the_prefix() -> None:
    assert check_header(header(typ="at+jwt"), ALLOWED, "application/at+jwt") == "RS256"


@pytest.mark.parametrize("typ", ["JWT", "anything", DROP])
def test_typ_unchecked_when_not_configured(typ: object) -> None:
    assert check_header(header(typ=typ), ALLOWED) == "RS256"


@pytest.mark.parametrize(("changes", "error"), [
    ({"alg": "none"}, DisallowedAlgorithm),
    ({"alg": "HS256"}, DisallowedAlgorithm),
    ({"crit": ["exp"]}, UnsupportedCritical),
    ({"typ": "JWT"}, InvalidTokenType),
    ({"kid": 7}, MalformedToken),
])
def test_header_checks_run_in_the_guard(raw_jws: Callable[..., str], changes: dict[str, Any],
                                        error: type[AuthError]) -> None:
    iss = "https://issuer.example"
    guard = Guard.from_config({
        "audience": "api://orders",
        "issuers": [{"issuer": iss, "algorithms": ["RS256"], "typ": "at+jwt", "jwks": {"keys": []}}]})
    token = raw_jws(header(**changes), {"iss": iss, "aud": "api://orders", "exp": 2_000_000_000})
    with pytest.raises(error) as info:
        guard.authenticate_sync(f"Bearer {token}")
    assert info.value.realm == "api://orders"
