"""Named attacks on the token's encoding: JSON ambiguity, base64 malleability, UTF-8, size, depth.

Each forged token is validly signed over its odd bytes, so the parser, not the signature,
is what refuses it.
"""

from __future__ import annotations

import json

import pytest

from s2s_guard import Guard
from s2s_guard.core.keys import b64url

from security_kit import Forge, bearer, expect_accepted, expect_refused

INVALID = (401, "invalid_token")
BAD_REQUEST = (400, "invalid_request")
HEADER = b'{"alg":"RS256","typ":"at+jwt","kid":"rsa-1"}'


def _payload(forge: Forge, **overrides: object) -> bytes:
    return json.dumps(forge.claims(**overrides)).encode()


# -- duplicate member names (RFC 7515 §5.2) ------------------------------------------------------

@pytest.mark.parametrize("header", [
    b'{"alg":"none","alg":"RS256","typ":"at+jwt","kid":"rsa-1"}',
    b'{"alg":"RS256","kid":"nope","kid":"rsa-1"}',
    b'{"alg":"RS256","kid":"rsa-1","a\\u006cg":"HS256"}',
    b'{"alg":"RS256","kid":"rsa-1","crit":["x"],"crit":[]}',
], ids=["alg", "kid", "escaped-alg", "crit"])
def test_duplicate_header_members(guard: Guard, forge: Forge, header: bytes) -> None:
    """RFC 7515 §5.2, RFC 8259 §4: duplicate header names are ambiguous across parsers; refused."""
    expect_refused(guard, bearer(forge.token(header=header)), *INVALID, "malformed")


@pytest.mark.parametrize("member", ["exp", "aud", "iss", "sub", "scope"])
def test_duplicate_claims(guard: Guard, forge: Forge, member: str) -> None:
    """RFC 7519 §4 (names must be unique), RFC 7515 §5.2: a second ``exp``/``aud``/... is refused."""
    values = {"exp": "9999999999", "aud": '"api://orders"', "iss": '"https://issuer.example"',
              "sub": '"admin"', "scope": '"orders.admin"'}
    payload = _payload(forge)[:-1] + f', "{member}": {values[member]}}}'.encode()
    expect_refused(guard, bearer(forge.token(payload, HEADER)), *INVALID, "malformed")


# -- base64url: one encoding per token (RFC 7515 §2, RFC 4648 §3.5) ------------------------------

def test_padded_base64url_refused(guard: Guard, forge: Forge) -> None:
    """RFC 7515 §2: base64url without padding; '=' inside the token is not even token68 (400)."""
    head, body, sig = forge.token().split(".")
    padded = head + "=" * (-len(head) % 4 or 4)
    expect_refused(guard, bearer(f"{padded}.{body}.{sig}"), *BAD_REQUEST)
    expect_refused(guard, bearer(f"{head}.{body}.{sig}=="), *INVALID, "malformed")


def test_standard_base64_alphabet_refused(guard: Guard, forge: Forge) -> None:
    """RFC 7515 §2: '+' and '/' are base64, not base64url; refused even though they are token68."""
    head, body, sig = forge.token().split(".")
    swapped = sig.replace("-", "+").replace("_", "/")
    if swapped == sig:
        swapped = "+" + sig[1:]
    expect_refused(guard, bearer(f"{head}.{body}.{swapped}"), *INVALID, "malformed")


def test_signature_with_nonzero_trailing_bits_refused(guard: Guard, forge: Forge) -> None:
    """RFC 4648 §3.5: unused bits must be zero, else one signature has many spellings (hash-list bypass)."""
    token = forge.token(alg="ES256")  # 64-byte signature: 86 chars, the last carries 4 unused bits
    head, body, sig = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = sig[:-1] + alphabet[alphabet.index(sig[-1]) | 1]
    assert twin != sig
    expect_accepted(guard, bearer(token))
    expect_refused(guard, bearer(f"{head}.{body}.{twin}"), *INVALID, "malformed")


def test_impossible_base64_length_refused(guard: Guard, forge: Forge) -> None:
    """RFC 4648 §4: a length of 4n+1 characters cannot be base64."""
    head, body, sig = forge.token().split(".")
    short = sig[: len(sig) // 4 * 4 + 1]
    assert len(short) % 4 == 1
    expect_refused(guard, bearer(f"{head}.{body}.{short}"), *INVALID, "malformed")


# -- character encoding (RFC 8725 §3.7: UTF-8 only) ------------------------------------------------

@pytest.mark.parametrize("where", ["header", "payload"])
@pytest.mark.parametrize("raw", [
    b"\xff",                              # never valid UTF-8
    b"\xc0\xaf",                          # overlong '/'
    b"\xed\xa0\x80",                      # an encoded surrogate (CESU-8)
    b"\xe9",                              # Latin-1 'é'
], ids=["ff", "overlong", "cesu8-surrogate", "latin1"])
def test_non_utf8_json_refused(guard: Guard, forge: Forge, where: str, raw: bytes) -> None:
    """RFC 8725 §3.7, RFC 8259 §8.1: JOSE JSON is UTF-8; other bytes are malformed, not guessed at."""
    if where == "header":
        token = forge.token(header=b'{"alg":"RS256","kid":"rsa-1","x":"' + raw + b'"}')
    else:
        token = forge.token(_payload(forge)[:-1] + b', "name": "' + raw + b'"}', HEADER)
    expect_refused(guard, bearer(token), *INVALID, "malformed")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_json_in_another_unicode_encoding_refused(guard: Guard, forge: Forge, encoding: str) -> None:
    """RFC 8259 §8.1: no BOM and no UTF-16/32; the same JSON in another encoding is malformed."""
    payload = json.dumps(forge.claims()).encode(encoding)
    expect_refused(guard, bearer(forge.token(payload, HEADER)), *INVALID, "malformed")


@pytest.mark.parametrize("claim", ["sub", "client_id", "iss", "scope"])
def test_lone_surrogate_escape_in_claims_refused(guard: Guard, forge: Forge, claim: str) -> None:
    """RFC 8259 §8.2, RFC 7493 §2.1: "\\ud800" is not a Unicode string (it cannot be re-encoded as UTF-8)."""
    payload = json.dumps({**forge.claims(), claim: "x"}).encode().replace(b'"x"', b'"a\\ud800b"')
    expect_refused(guard, bearer(forge.token(payload, HEADER)), *INVALID)


# -- size and depth --------------------------------------------------------------------------

def test_huge_token_refused_before_decoding(guard: Guard, forge: Forge) -> None:
    """CWE-400 (resource exhaustion): over ``max_token_bytes`` (16 KiB) is refused unparsed, even 1 MiB."""
    for size in (16 * 1024 + 1, 1024 * 1024):
        token = forge.token(forge.claims(pad="x" * size))
        expect_refused(guard, bearer(token), *INVALID, "too_large")


def test_huge_header_under_the_limit_is_harmless(guard: Guard, forge: Forge) -> None:
    """RFC 7515 §4: unknown header members are ignored; a 10 KB one changes nothing (positive control)."""
    expect_accepted(guard, bearer(forge.token(header=forge.header("RS256", x="y" * 10_000))))


@pytest.mark.parametrize("where", ["header", "payload"])
@pytest.mark.parametrize("depth", [33, 5000])
def test_deeply_nested_json_refused(guard: Guard, forge: Forge, where: str, depth: int) -> None:
    """CWE-674 (uncontrolled recursion): a RecursionError would be a 500; nesting beyond 32 is malformed."""
    nested = b"[" * depth + b"]" * depth
    if where == "header":
        token = forge.token(header=HEADER[:-1] + b',"x":' + nested + b"}")
    else:
        token = forge.token(_payload(forge)[:-1] + b',"x":' + nested + b"}", HEADER)
    expect_refused(guard, bearer(token), *INVALID, "malformed")


def test_brackets_inside_strings_do_not_count_as_depth(guard: Guard, forge: Forge) -> None:
    """Positive control for the depth rule: "[[[[" inside a string is text, not nesting."""
    expect_accepted(guard, bearer(forge.token(forge.claims(note="[" * 200 + "{" * 200))))


def test_huge_integer_refused(guard: Guard, forge: Forge) -> None:
    """CVE-2020-10735 (quadratic int parsing): a 5000-digit exp is malformed, not a slow conversion."""
    payload = _payload(forge, exp=0).replace(b'"exp": 0', b'"exp": ' + b"9" * 5000)
    expect_refused(guard, bearer(forge.token(payload, HEADER)), *INVALID, "malformed")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_json_number_literals_refused(guard: Guard, forge: Forge, literal: bytes) -> None:
    """RFC 8259 §6: NaN and Infinity are not JSON (Python's json accepts them by default)."""
    payload = _payload(forge, exp=0).replace(b'"exp": 0', b'"exp": ' + literal)
    expect_refused(guard, bearer(forge.token(payload, HEADER)), *INVALID, "malformed")


@pytest.mark.parametrize("value", [b"[]", b'"a string"', b"42", b"null", b"true", b"", b"{} trailing"])
def test_json_that_is_not_one_object_refused(guard: Guard, forge: Forge, value: bytes) -> None:
    """RFC 7519 §7.2: header and claims are each exactly one JSON object."""
    expect_refused(guard, bearer(forge.token(value, HEADER)), *INVALID, "malformed")
    expect_refused(guard, bearer(forge.token(header=value)), *INVALID, "malformed")


@pytest.mark.parametrize("token", ["a.b", "a.b.c.d", "..", "...", "a..c", "eyJ9.eyJ9", "."])
def test_wrong_number_of_parts_refused(guard: Guard, token: str) -> None:
    """RFC 7515 §7.1: a compact JWS has exactly three parts."""
    expect_refused(guard, bearer(token), *INVALID, "malformed")


def test_payload_respelled_to_dodge_a_hash_list_fails(guard: Guard, forge: Forge) -> None:
    """RFC 7515 §5.2: re-serializing the payload (spaces, key order) to dodge a hash list breaks the signature."""
    head, _, sig = forge.token().split(".")
    body = b64url(json.dumps(forge.claims(), separators=(",", ":"), sort_keys=True).encode())
    expect_refused(guard, bearer(f"{head}.{body}.{sig}"), *INVALID, "bad_signature")
