"""Issue 14: a refusal explained for a person names its real cause, with expected vs actual values.

Each kind of refusal is produced by a real guard against a real local issuer on 127.0.0.1 (keys
fetched over HTTP), then explained by :func:`s2s_guard.diagnose.explain_refusal`; the Entra
tenant case is checked sans-I/O with :func:`s2s_guard.explain.explain`. The explanation never
names the user and never echoes the token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from s2s_guard import Guard, Requirement
from s2s_guard.config import load_config
from s2s_guard.diagnose import explain_refusal
from s2s_guard.errors import AuthError, InvalidClaim, UnknownIssuer
from s2s_guard.explain import explain, findings
from s2s_guard.testing import LocalIssuer

AUD = "api://orders"
NOW = float(int(time.time()))


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("RS256",), clock=lambda: NOW) as iss:
        yield iss


def refused(issuer: LocalIssuer, token: str, requirement: Requirement | None = None,
            **config: Any) -> tuple[AuthError, list[str]]:
    guard = Guard.from_config({**issuer.guard_config(), **config}, clock=lambda: NOW)
    try:
        with pytest.raises(AuthError) as info:
            guard.authenticate_sync(f"Bearer {token}", requirement)
        lines = explain_refusal(guard, info.value, authorization=f"Bearer {token}", requirement=requirement)
    finally:
        guard.close()
    text = "\n".join(lines)
    assert token not in text and token.split(".")[2] not in text  # never the token
    assert "alice" not in text  # never the user (PII)
    return info.value, lines


def cause(lines: list[str]) -> str:
    return "\n".join(line for line in lines if line.startswith("cause: "))


def test_wrong_issuer_lists_the_configured_ones(issuer: LocalIssuer) -> None:
    error, lines = refused(issuer, issuer.app_token(claims={"iss": "https://elsewhere.example/"}))
    assert error.reason == "unknown_issuer"
    assert lines[0].startswith("refused: 401 invalid_token (unknown_issuer)")
    assert 'iss "https://elsewhere.example/" is not a configured issuer' in cause(lines)
    assert f"local = {issuer.issuer!r}" in cause(lines)


def test_trailing_slash_twin_gets_a_hint(issuer: LocalIssuer) -> None:
    _, lines = refused(issuer, issuer.app_token(claims={"iss": issuer.issuer + "/"}))
    assert "hint: iss is almost issuer 'local'" in cause(lines) and "trailing slash" in cause(lines)


def test_scheme_mismatch_gets_a_hint(issuer: LocalIssuer) -> None:
    other = issuer.issuer.replace("http://", "https://", 1)
    _, lines = refused(issuer, issuer.app_token(claims={"iss": other}))
    assert "the scheme differs (https vs http)" in cause(lines)


def test_wrong_audience_shows_both(issuer: LocalIssuer) -> None:
    error, lines = refused(issuer, issuer.app_token(claims={"aud": "api://billing"}))
    assert error.reason == "bad_audience"
    assert "aud \"api://billing\" is not among the audiences this API accepts: ['api://orders']" in cause(lines)


def test_expired_says_how_long_ago_and_the_leeway(issuer: LocalIssuer) -> None:
    error, lines = refused(issuer, issuer.app_token(claims={"iat": NOW - 900, "nbf": NOW - 900, "exp": NOW - 93}))
    assert error.reason == "expired"
    assert cause(lines) == "cause: exp: expired 93 s ago (leeway 60 s)"


def test_not_yet_valid(issuer: LocalIssuer) -> None:
    error, lines = refused(issuer, issuer.app_token(claims={"nbf": NOW + 300, "exp": NOW + 900}))
    assert error.reason == "not_yet_valid"
    assert "nbf: valid in 300 s (leeway 60 s)" in cause(lines)


def test_issued_in_future(issuer: LocalIssuer) -> None:
    error, lines = refused(issuer, issuer.app_token(claims={"iat": NOW + 600, "exp": NOW + 900}))
    assert error.reason == "issued_in_future"
    assert "iat: issued 600 s in the future" in cause(lines)


def test_policy_names_what_the_route_wants_and_what_the_token_is(issuer: LocalIssuer) -> None:
    token = issuer.user_token("alice", "web-app", scopes="orders.read")
    error, lines = refused(issuer, token, Requirement(policy="app-only", scopes=["orders.read"]))
    assert error.reason == "policy_mismatch"
    assert cause(lines) == ("cause: policy: the route wants app-only, the token is user+app "
                            "(app 'web-app' and a user)")
    assert not any("scopes:" in line for line in lines)  # the scope is there: not blamed


def test_missing_scope_lists_missing_wanted_and_granted(issuer: LocalIssuer) -> None:
    error, lines = refused(issuer, issuer.app_token(scopes="orders.read"),
                           Requirement(scopes=["orders.read", "orders.write"]))
    assert error.reason == "insufficient_scope"
    assert cause(lines) == ("cause: scopes: missing orders.write; the route wants orders.read orders.write, "
                            "the token grants orders.read")


def test_unknown_kid_lists_the_known_ones(issuer: LocalIssuer) -> None:
    error, lines = refused(issuer, issuer.app_token(headers={"kid": "rotated-away"}))
    assert error.reason == "unknown_kid"
    assert (f"kid \"rotated-away\" is not among issuer 'local'\'s key ids: {issuer.key_for('RS256').kid}"
            in cause(lines))


def test_bad_signature_names_the_key_and_where_it_came_from(issuer: LocalIssuer) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = issuer.key_for("RS256").kid
    error, lines = refused(issuer, issuer.app_token(key=stranger, headers={"kid": kid}))
    assert error.reason == "bad_signature"
    assert f"issuer 'local''s key \"{kid}\" from jwks_uri {issuer.jwks_uri}" in cause(lines)
    assert "signed by another key with the same kid" in cause(lines)


def test_disallowed_algorithm(issuer: LocalIssuer) -> None:
    config = issuer.guard_config()
    config["issuers"][0]["algorithms"] = ["ES256"]
    error, lines = refused(issuer, issuer.app_token(), issuers=config["issuers"])
    assert error.reason == "disallowed_algorithm"
    assert "alg \"RS256\" is not among issuer 'local''s algorithms ['ES256']" in cause(lines)


def test_wrong_typ(issuer: LocalIssuer) -> None:
    error, lines = refused(issuer, issuer.app_token(headers={"typ": "JWT"}))
    assert error.reason == "bad_type"
    assert "typ \"JWT\" but issuer 'local' requires 'at+jwt'" in cause(lines)


def test_malformed_token(issuer: LocalIssuer) -> None:
    error, lines = refused(issuer, "abc.def.ghi")
    assert error.reason == "malformed" and "not a well-formed compact JWS" in cause(lines)


def test_other_problems_follow_the_cause(issuer: LocalIssuer) -> None:
    token = issuer.app_token(claims={"aud": "api://billing", "exp": NOW - 93, "iat": NOW - 900, "nbf": NOW - 900})
    error, lines = refused(issuer, token)
    assert error.reason in ("expired", "bad_audience")
    assert [line.split(":")[0] for line in lines[1:3]] == ["cause", "also"]


# -- sans-I/O: Entra tenants, values from the token kept on one line ------------------------------

TENANT, OTHER = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
ENTRA = load_config({"audience": "api://orders", "issuers": [{
    "name": "entra", "profile": "entra", "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
    "algorithms": ["RS256"], "jwks_uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys",
    "tenants": [TENANT]}]})


def test_tenant_not_allowed_names_tid_and_the_allowed_tenants() -> None:
    claims = {"iss": f"https://login.microsoftonline.com/{OTHER}/v2.0", "tid": OTHER, "aud": "api://orders",
              "exp": NOW + 600, "ver": "2.0", "azp": "app", "roles": ["orders.read"], "oid": "o", "sub": "s"}
    lines = explain(InvalidClaim("tid is not an allowed tenant"), {"alg": "RS256", "kid": "k"}, claims, ENTRA,
                    now=NOW)
    assert f"tid \"{OTHER}\" is not among issuer 'entra''s allowed tenants ['{TENANT}']" in cause(lines)


def test_a_hostile_claim_stays_on_one_line() -> None:
    lines = explain(UnknownIssuer(), {"alg": "RS256"}, {"iss": "x\r\nrefused: 200 ok", "exp": NOW + 60},
                    ENTRA, now=NOW)
    assert all("\n" not in line and "\r" not in line for line in lines)


def test_findings_without_an_error_are_what_inspect_flags() -> None:
    claims = {"iss": "https://login.microsoftonline.com/" + TENANT + "/v2.0", "tid": TENANT, "aud": "api://x",
              "exp": NOW - 10_000}
    codes = [f.code for f in findings({"alg": "HS256"}, claims, ENTRA, now=NOW)]
    assert codes == ["disallowed_algorithm", "bad_audience", "expired"]


# -- the DEBUG log -------------------------------------------------------------------------------

def test_debug_log_explains_and_info_stays_quiet(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    token = issuer.app_token(claims={"aud": "api://billing"})
    caplog.set_level(logging.INFO, logger="s2s_guard")
    refused(issuer, token)
    assert not [r for r in caplog.records if "explained" in r.getMessage()]  # nothing at INFO
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="s2s_guard")
    refused(issuer, token)
    [record] = [r for r in caplog.records if "explained" in r.getMessage()]
    assert record.levelno == logging.DEBUG and record.name == "s2s_guard"
    assert "aud \"api://billing\" is not among the audiences" in record.getMessage()
    assert token not in caplog.text


def test_debug_log_explains_a_route_refusal(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    guard = Guard.from_config(issuer.guard_config(), clock=lambda: NOW)
    principal = guard.authenticate_sync("Bearer " + issuer.user_token("alice", scopes="orders.read"))
    caplog.set_level(logging.DEBUG, logger="s2s_guard")
    with pytest.raises(AuthError):
        guard.authorize(principal, Requirement(policy="app-only"))
    guard.close()
    [record] = [r for r in caplog.records if "explained" in r.getMessage()]
    assert "policy: the route wants app-only, the token is user+app" in record.getMessage()
    assert "alice" not in caplog.text
