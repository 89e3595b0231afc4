"""RFC 7515 §7.1 strict compact parsing: parts, canonical base64url, strict JSON, size and depth."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from s2s_guard import Guard
from s2s_guard.core.jws import b64url_decode, parse_compact, parse_json_object
from s2s_guard.core.keys import b64url
from s2s_guard.errors import MalformedToken, TokenTooLarge

RawJws = Callable[..., str]
HEADER = {"alg": "RS256", "kid": "k1"}
PAYLOAD = {"iss": "https://issuer.example", "sub": "alice"}


def test_parse_compact_decodes_all_parts(raw_jws: RawJws) -> None:
    token = raw_jws(HEADER, PAYLOAD, b"\x00\xffsig")
    jws = parse_compact(token)
    assert jws.header == HEADER
    assert jws.payload == PAYLOAD
    assert jws.signature == b"\x00\xffsig"
    assert jws.signing_input == token.rsplit(".", 1)[0].encode()


@pytest.mark.parametrize("token", [
    "", "abc", "a.b", "a.b.c.d", "a.b.c.d.e",  # JWE compact has five parts
    "..", ".e30.", "e30..",
])
def test_exactly_three_valid_parts_required(token: str) -> None:
    with pytest.raises(MalformedToken):
        parse_compact(token)


@pytest.mark.parametrize(("encoded", "decoded"), [
    ("", b""), ("YQ", b"a"), ("YWI", b"ab"), ("YWJj", b"abc"), ("-_8", b"\xfb\xff"),
])
def test_canonical_base64url_decodes(encoded: str, decoded: bytes) -> None:
    assert b64url_decode(encoded) == decoded


@pytest.mark.parametrize("encoded", [
    "YR",      # "a" with unused low bits set (canonical: "YQ"), RFC 4648 §3.5
    "YWJ",     # "ab" with unused low bits set (canonical: "YWI")
    "Y",       # a single character never encodes a byte
    "YQ==",    # padding is refused (RFC 7515 §2)
    "YQ=",
    "YW+j",    # base64 (not base64url) alphabet
    "YW/j",
    "YW j",
    "YWJj\n",
    "YWJ\u0435",  # a non-ASCII look-alike letter
])
def test_non_canonical_or_invalid_base64url_refused(encoded: str) -> None:
    with pytest.raises(MalformedToken):
        b64url_decode(encoded)


def test_non_canonical_signature_refused(raw_jws: RawJws) -> None:
    token = raw_jws(HEADER, PAYLOAD, b"a")
    assert token.endswith(".YQ")
    with pytest.raises(MalformedToken):
        parse_compact(token[:-1] + "R")


@pytest.mark.parametrize("raw", [
    b"\xff\xfe{}",                              # not UTF-8
    b'{"alg": "RS256", "x": "\xc3\x28"}',       # invalid UTF-8 inside a string
    b"[]", b'["alg", "RS256"]', b'"RS256"', b"42", b"null", b"true",  # not an object
    b"", b"{", b'{"alg": "RS256",}',            # not JSON
    b'{"alg": "RS256", "alg": "none"}',          # RFC 7515 §5.2: duplicate member names
    b'{"a": {"b": 1, "b": 2}}',                  # duplicates nested too
    b'{"exp": NaN}', b'{"exp": Infinity}', b'{"exp": -Infinity}',
])
def test_strict_json_objects(raw: bytes) -> None:
    with pytest.raises(MalformedToken):
        parse_json_object(raw, "header")


@pytest.mark.parametrize("part", ["header", "payload"])
def test_duplicate_members_refused_in_token(raw_jws: RawJws, part: str) -> None:
    duplicate = b'{"alg": "RS256", "iss": "a", "iss": "b"}'
    token = raw_jws(duplicate, PAYLOAD) if part == "header" else raw_jws(HEADER, duplicate)
    with pytest.raises(MalformedToken):
        parse_compact(token)


@pytest.mark.parametrize("raw", [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    b'{"a": ' + b'{"a": ' * 40 + b"1" + b"}" * 41,
])
def test_deep_nesting_refused(raw: bytes) -> None:
    with pytest.raises(MalformedToken):
        parse_json_object(raw, "payload")


def test_deep_nesting_refused_in_token(raw_jws: RawJws) -> None:
    token = raw_jws(HEADER, b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")
    with pytest.raises(MalformedToken):
        parse_compact(token, max_bytes=len(token))


def test_brackets_inside_strings_are_not_nesting() -> None:
    value = {"note": "[" * 100 + "{" * 100 + '\\"[', "nested": [[[1]]]}
    assert parse_json_object(json.dumps(value).encode(), "payload") == value


def test_moderate_nesting_accepted() -> None:
    raw = b'{"a": ' + b"[" * 30 + b"]" * 30 + b"}"
    assert parse_json_object(raw, "payload") == json.loads(raw)


def test_default_size_limit_is_16_kib() -> None:
    with pytest.raises(TokenTooLarge):
        parse_compact("a" * (16 * 1024 + 1))
    with pytest.raises(MalformedToken) as info:  # at the limit: parsed (and refused for its shape)
        parse_compact("a" * (16 * 1024))
    assert not isinstance(info.value, TokenTooLarge)


def test_size_limit_from_config(raw_jws: RawJws) -> None:
    config = {"audience": "api://orders", "max_token_bytes": 200,
              "issuers": [{"issuer": "https://issuer.example", "algorithms": ["RS256"],
                           "jwks": {"keys": []}}]}
    guard = Guard.from_config(config, clock=lambda: 1_700_000_000)
    token = raw_jws(HEADER, {**PAYLOAD, "pad": "x" * 200})
    with pytest.raises(TokenTooLarge) as info:
        guard.authenticate_sync(f"Bearer {token}")
    assert info.value.status_code == 401
    assert info.value.error == "invalid_token"
    assert token not in str(info.value)


def test_oversize_check_runs_before_parsing() -> None:
    token = ".".join([b64url(b"{" * 5000), "e30", ""])
    with pytest.raises(TokenTooLarge):
        parse_compact(token, max_bytes=1000)
