"""RFC 6750 §2.1 and §3.1: extracting the Bearer token from header values and the query string."""

from __future__ import annotations

import pytest

from s2s_guard.core.bearer import extract_bearer, parse_authorization
from s2s_guard.errors import AuthError, InvalidRequest, MissingToken

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"),
    ("bearer abc", "abc"),  # RFC 9110 §11.1: the scheme is case-insensitive
    ("BEARER abc", "abc"),
    ("BeArEr abc", "abc"),
    (f"Bearer {JWT}", JWT),
    ("Bearer abc==", "abc=="),  # token68 allows trailing padding
    ("Bearer a-b.c_d~e+f/g", "a-b.c_d~e+f/g"),
    ("  Bearer abc  ", "abc"),
    ("Bearer  abc", "abc"),
])
def test_bearer_token_is_extracted(header: str, token: str) -> None:
    assert parse_authorization(header) == token


@pytest.mark.parametrize(("header", "error", "status", "code"), [
    (None, MissingToken, 401, None),
    ("", MissingToken, 401, None),
    ("   ", MissingToken, 401, None),
    ("Basic abc", MissingToken, 401, None),  # RFC 6750 §3.1: other scheme, no error code
    ("Basic", MissingToken, 401, None),
    ("Negotiate", MissingToken, 401, None),
    ("Bearer", InvalidRequest, 400, "invalid_request"),
    ("Bearer ", InvalidRequest, 400, "invalid_request"),
    ("Bearer a b", InvalidRequest, 400, "invalid_request"),
    ("Bearer abc$def", InvalidRequest, 400, "invalid_request"),
    ("Bearer tök", InvalidRequest, 400, "invalid_request"),
    ("Bearer =abc", InvalidRequest, 400, "invalid_request"),
    ("Bearer abc,def", InvalidRequest, 400, "invalid_request"),
    ("Bearer \"abc\"", InvalidRequest, 400, "invalid_request"),
    (JWT, InvalidRequest, 400, "invalid_request"),  # a raw token without its scheme
])
def test_bad_authorization_values(header: str | None, error: type[AuthError], status: int,
                                  code: str | None) -> None:
    with pytest.raises(error) as info:
        parse_authorization(header)
    assert type(info.value) is error
    assert info.value.status_code == status
    assert info.value.error == code


def test_missing_token_challenge_has_no_error_code() -> None:
    with pytest.raises(MissingToken) as info:
        parse_authorization("Basic abc")
    assert info.value.www_authenticate == "Bearer"
    assert "error" not in info.value.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("headers", "query", "allow", "token"), [
    (["Bearer abc"], (), False, "abc"),
    (["Bearer abc"], (), True, "abc"),
    ([], ["abc"], True, "abc"),
])
def test_extract_bearer_accepts_one_method(headers: list[str], query: list[str], allow: bool,
                                           token: str) -> None:
    assert extract_bearer(headers, query, allow_query=allow) == token


@pytest.mark.parametrize(("headers", "query", "allow", "error"), [
    ([], (), False, MissingToken),
    (["Bearer abc", "Bearer abc"], (), False, InvalidRequest),  # RFC 6750 §2: one method only
    (["Bearer abc", "Basic xyz"], (), False, InvalidRequest),
    ([], ["abc"], False, InvalidRequest),  # query tokens are off by default (RFC 6750 §2.3)
    (["Bearer abc"], ["abc"], True, InvalidRequest),  # header and query together
    (["Bearer abc"], ["abc"], False, InvalidRequest),
    ([], ["abc", "def"], True, InvalidRequest),
    ([], ["ab$c"], True, InvalidRequest),
    ([], [""], True, InvalidRequest),
])
def test_extract_bearer_refuses(headers: list[str], query: list[str], allow: bool,
                                error: type[AuthError]) -> None:
    with pytest.raises(error) as info:
        extract_bearer(headers, query, allow_query=allow)
    assert type(info.value) is error
