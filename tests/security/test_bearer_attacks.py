"""Named attacks on how the token travels (RFC 6750 §2): headers, schemes, query strings, reflection."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from s2s_guard import Guard

from security_kit import Forge, bearer, call, call_raw, expect_accepted, expect_refused

BAD_REQUEST = (400, "invalid_request")


def test_no_credentials_is_a_bare_challenge(guard: Guard) -> None:
    """RFC 6750 §3.1: without credentials, 401 with ``WWW-Authenticate: Bearer`` and no error code."""
    expect_refused(guard, None, 401, None, "missing_token")


@pytest.mark.parametrize("value", ["Basic ZGFlbW9uOnNlY3JldA==", "Digest username=\"x\"", "DPoP abc.def.ghi",
                                   "Negotiate YII=", "MAC id=\"x\""])
def test_other_schemes_are_not_bearer(guard: Guard, value: str) -> None:
    """RFC 6750 §3.1, RFC 9110 §11.6.2: another scheme is "no Bearer token": a bare 401 challenge."""
    expect_refused(guard, value, 401, None, "missing_token")


def test_two_authorization_headers(guard: Guard, forge: Forge) -> None:
    """RFC 6750 §2, RFC 9110 §5.3: two credentials (a smuggled second header) are 400 invalid_request."""
    token = bearer(forge.token())
    expect_refused(guard, [token, bearer(forge.token(forge.claims(sub="admin")))], *BAD_REQUEST)
    expect_refused(guard, [token, token], *BAD_REQUEST)


def test_comma_joined_credentials(guard: Guard, forge: Forge) -> None:
    """RFC 9110 §5.3: a proxy joining two Authorization values with ", " leaves no single token68."""
    expect_refused(guard, f"{bearer(forge.token())}, Bearer {forge.token()}", *BAD_REQUEST)


def test_query_token_refused_by_default(guard: Guard, forge: Forge) -> None:
    """RFC 6750 §2.3 and §5.3: tokens in URLs leak into logs; refused unless explicitly enabled."""
    expect_refused(guard, None, *BAD_REQUEST, params={"access_token": forge.token()})


def test_header_and_query_token_together(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 6750 §2: a client must not use more than one method; header + query is 400 even when allowed."""
    guard = guard_with(top={"allow_query_token": True})
    expect_refused(guard, bearer(forge.token()), *BAD_REQUEST, params={"access_token": forge.token()})


def test_body_token_is_not_read(guard: Guard, forge: Forge) -> None:
    """RFC 6750 §2.2: form-encoded body tokens are not supported; the request is unauthenticated (401)."""
    response = call(guard, None)  # the guard never reads the body; this is the same request
    assert response.status_code == 401 and "error=" not in response.headers["www-authenticate"]


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer      ", "bearer\t"])
def test_bearer_without_a_token(guard: Guard, value: str) -> None:
    """RFC 6750 §2.1: ``Bearer`` must be followed by a token: 400 invalid_request."""
    expect_refused(guard, value, *BAD_REQUEST)


@pytest.mark.parametrize("suffix", [" extra", "\"", ",x", ";x", "\\", "\x0b"], ids=repr)
def test_characters_outside_token68(guard: Guard, forge: Forge, suffix: str) -> None:
    """RFC 6750 §2.1 (b64token): spaces, quotes, commas and non-ASCII are not a Bearer token: 400."""
    expect_refused(guard, bearer(forge.token()) + suffix, *BAD_REQUEST)


@pytest.mark.parametrize("raw", [b"\r\nX-Injected: 1", b"\x00", b"\n", b"\xff\xfe", b"\x1b[2J", b"\xe9",
                                 b"\xa0", b"\x85"], ids=repr)
def test_control_and_8bit_bytes_in_the_header(guard: Guard, forge: Forge, raw: bytes) -> None:
    """RFC 9110 §5.5 (field values; OWS is SP/HTAB only), RFC 6750 §2.1: CR/LF, NUL, NEL, NBSP, 8-bit: 400."""
    value = f"Bearer {forge.token()}".encode() + raw
    expect_refused(guard, value.decode("latin-1"), *BAD_REQUEST)
    response = call_raw(guard, [(b"authorization", value)])
    assert response.status == 400 and json.loads(response.body)["error"] == "invalid_request"
    assert b"X-Injected" not in response.body and "x-injected" not in response.headers


def test_scheme_is_case_insensitive(guard: Guard, forge: Forge) -> None:
    """RFC 9110 §11.1 positive control: "bearer" and "BEARER" are the Bearer scheme."""
    for scheme in ("bearer", "BEARER", "BeArEr"):
        expect_accepted(guard, f"{scheme} {forge.token()}")


def test_token_without_a_scheme(guard: Guard, forge: Forge) -> None:
    """RFC 6750 §2.1: a bare JWT in Authorization (no "Bearer") is a malformed credential: 400."""
    expect_refused(guard, forge.token(), *BAD_REQUEST)


def test_refusals_never_reflect_the_token_or_its_contents(guard: Guard, forge: Forge) -> None:
    """RFC 6750 §3 (fixed error_description charset), CWE-209: nothing from the token comes back."""
    marker = "<script>alert(1)</script>"
    token = forge.token(forge.claims(iss=marker, sub=marker), forge.header("RS256", kid=marker))
    response = call(guard, bearer(token))
    assert response.status_code == 401
    text = response.text + json.dumps(dict(response.headers))
    assert marker not in text and token not in text and "alert" not in text


def test_realm_and_scope_in_challenge_stay_quoted_strings(guard_with: Callable[..., Guard], forge: Forge) -> None:
    """RFC 6750 §3: realm and scope are quoted-strings; a configured '"' or '\\' cannot break the header."""
    guard = guard_with(top={"realm": 'orders" error="none'})
    response = call(guard, None)
    challenge = response.headers["www-authenticate"]
    assert challenge.count('"') % 2 == 0 and 'error="none"' not in challenge
