"""revocation_entries: what revoke(jti=...), revoke(token=...) and revoke(sha256=...) store."""

from __future__ import annotations

import hashlib

import pytest

from s2s_guard.core.revocation import revocation_entries

DIGEST = hashlib.sha256(b"some-token").hexdigest()


def test_sha256_keyword_stores_the_digest() -> None:
    assert revocation_entries(sha256=DIGEST) == (DIGEST,)


def test_sha256_keyword_in_upper_case_is_stored_as_token_hashes_are_compared() -> None:
    assert revocation_entries(sha256=DIGEST.upper()) == (DIGEST, DIGEST.upper())


@pytest.mark.parametrize("value", ["", DIGEST[:-1], DIGEST + "0", "z" * 64, "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"])
def test_sha256_keyword_refuses_anything_but_64_hex_digits_without_echoing_it(value: str) -> None:
    with pytest.raises(ValueError) as info:
        revocation_entries(sha256=value)
    assert "64 hex digits" in str(info.value) and "revoke(token=...)" in str(info.value)
    assert not value or value not in str(info.value)


def test_sha256_keyword_refuses_a_non_string() -> None:
    with pytest.raises(ValueError, match="64 hex digits"):
        revocation_entries(sha256=b"x" * 64)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"sha256": DIGEST, "jti": "j"}, {"sha256": DIGEST, "token": "t"},
                                    {"value": "j", "sha256": DIGEST}, {}])
def test_exactly_one_kind_is_given(kwargs: dict[str, str]) -> None:
    with pytest.raises(TypeError, match="token=, jti= or sha256="):
        revocation_entries(**kwargs)  # type: ignore[arg-type]


def test_the_other_keywords_still_say_what_they_take() -> None:
    assert revocation_entries(jti="j-1") == ("j-1",)
    assert revocation_entries(token="some-token") == (DIGEST,)
    assert revocation_entries(DIGEST) == (DIGEST,)
