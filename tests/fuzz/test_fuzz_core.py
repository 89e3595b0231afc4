"""Property tests of the sans-I/O core: every input ends in a result or the documented AuthError.

``parse_authorization``/``extract_bearer`` (RFC 6750 §2.1), ``b64url_decode``/``parse_compact``
(RFC 7515 §7.1) and ``check_claims`` (RFC 7519 §4.1) never raise anything else (no
``TypeError``, ``OverflowError``, ``RecursionError``...), and what they accept has the shape
they promise. The whole guard, and every token profile fed correctly signed tokens with
arbitrary claims, return a Principal or an AuthError.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from s2s_guard import (AuthError, Guard, InvalidAudience, InvalidClaim, InvalidRequest, MalformedToken,
                       MissingToken, Principal, TokenExpired, TokenIssuedInFuture, TokenNotYetValid,
                       TokenTooLarge, UnknownIssuer)
from s2s_guard.core.bearer import extract_bearer, parse_authorization
from s2s_guard.core.claims import check_claims
from s2s_guard.core.jws import b64url_decode, parse_compact
from s2s_guard.core.keys import b64url

from fuzz_kit import (AUD, CERT_PEM, GUARD, ISS, NOW, VALID, authorization_values, claim_sets, json_values,
                      mutated_tokens, profile_claims, profiles_guard, sign_claims, unsigned_outer)

TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
CLAIM_ERRORS = (InvalidClaim, TokenExpired, TokenNotYetValid, TokenIssuedInFuture, InvalidAudience,
                UnknownIssuer)


# -- RFC 6750 §2.1: the Authorization header ------------------------------------------------------

@given(st.one_of(st.none(), st.text(), authorization_values()))
def test_parse_authorization_returns_a_token68_or_refuses(header: str | None) -> None:
    """Any value: a token68 that was in the header, or MissingToken (401) / InvalidRequest (400)."""
    try:
        token = parse_authorization(header)
    except (MissingToken, InvalidRequest):
        return
    assert header is not None and token in header and TOKEN68.fullmatch(token)


@given(st.lists(st.text(max_size=30), max_size=3), st.lists(st.text(max_size=30), max_size=3), st.booleans())
def test_extract_bearer_picks_one_token_or_refuses(headers: list[str], query: list[str], allow: bool) -> None:
    """RFC 6750 §2: one credential, from one place; otherwise a 400 or a bare 401."""
    try:
        token = extract_bearer(headers, query, allow_query=allow)
    except (MissingToken, InvalidRequest):
        return
    assert TOKEN68.fullmatch(token)
    assert (len(headers), len(query)) in ((1, 0), (0, 1))
    assert not query or allow


# -- RFC 7515 §2 / §7.1: base64url and the compact serialization ------------------------------------

@given(st.binary(max_size=200))
def test_b64url_round_trips(data: bytes) -> None:
    """RFC 4648 §5: decode(encode(b)) == b for every byte string."""
    assert b64url_decode(b64url(data)) == data


@given(st.text(max_size=80))
def test_b64url_accepts_exactly_one_spelling(text: str) -> None:
    """RFC 4648 §3.5: whatever decodes re-encodes to the same text (no padding, no spare bits)."""
    try:
        data = b64url_decode(text)
    except MalformedToken:
        return
    assert b64url(data) == text


@given(st.one_of(st.text(max_size=300), mutated_tokens()), st.integers(min_value=64, max_value=4096))
def test_parse_compact_decodes_or_refuses(token: str, max_bytes: int) -> None:
    """Any text: three decoded parts, or MalformedToken / TokenTooLarge, never another exception."""
    try:
        jws = parse_compact(token, max_bytes)
    except (MalformedToken, TokenTooLarge):
        return
    assert isinstance(jws.header, dict) and isinstance(jws.payload, dict)
    assert len(token) <= max_bytes and token.startswith(jws.signing_input.decode())


@given(st.dictionaries(st.text(max_size=10), json_values(finite=True), max_size=6),
       st.dictionaries(st.text(max_size=10), json_values(finite=True), max_size=6), st.binary(max_size=80))
def test_parse_compact_round_trips_json_objects(header: dict[str, Any], payload: dict[str, Any],
                                               signature: bytes) -> None:
    """RFC 7515 §7.1: what json.dumps wrote comes back equal."""
    texts = [json.dumps(part, allow_nan=False) for part in (header, payload)]
    token = ".".join([b64url(texts[0].encode()), b64url(texts[1].encode()), b64url(signature)])
    jws = parse_compact(token, 1 << 20)
    assert jws.header == json.loads(texts[0]) and jws.payload == json.loads(texts[1])
    assert jws.signature == signature


# -- RFC 7519 §4.1: claims ---------------------------------------------------------------------------

@given(claim_sets(), st.floats(min_value=0, max_value=3600))
def test_check_claims_accepts_only_well_formed_fresh_claims(claims: dict[str, Any], leeway: float) -> None:
    """Any claims: a documented InvalidToken leaf, or exp/nbf/iat/iss/aud that truly hold at ``now``."""
    try:
        check_claims(claims, issuer=ISS, audiences=[AUD], leeway=leeway, now=NOW)
    except CLAIM_ERRORS:
        return
    exp = claims["exp"]
    assert type(exp) in (int, float) and math.isfinite(exp) and NOW - leeway < exp
    for name in ("nbf", "iat"):
        value = claims.get(name, 0)
        assert type(value) in (int, float) and value <= NOW + leeway
    assert claims["iss"] == ISS
    aud = claims["aud"]
    assert aud == AUD or (isinstance(aud, list) and AUD in aud and all(isinstance(a, str) for a in aud))


# -- the whole guard, sync driver -------------------------------------------------------------------

@given(st.one_of(authorization_values(), st.lists(authorization_values(), max_size=2)))
def test_guard_returns_a_principal_or_an_auth_error(header: str | list[str]) -> None:
    """Guard.authenticate_sync: a Principal or an AuthError (incl. 503), never another exception."""
    try:
        principal = GUARD.authenticate_sync(header)
    except AuthError as exc:
        assert exc.status_code in (400, 401, 503)
        return
    assert isinstance(principal, Principal)


@given(mutated_tokens())
def test_a_mutated_token_is_never_accepted(token: str) -> None:
    """RFC 7515 §5.2: any change to a signed token (one character, a part swap) is refused."""
    assume(token not in VALID)
    with pytest.raises(AuthError):
        GUARD.authenticate_sync("Bearer " + token)


# -- every profile, signed tokens with arbitrary claims -------------------------------------------

@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> Guard:
    path = tmp_path_factory.mktemp("fuzz") / "issuer.pem"
    path.write_bytes(CERT_PEM)
    return profiles_guard(str(path))


@given(profile_claims(), st.one_of(st.none(), profile_claims()))
def test_every_profile_maps_or_refuses_signed_claims(profiles: Guard, claims: dict[str, Any],
                                                     outer: dict[str, Any] | None) -> None:
    """jwt, entra, sharepoint-high-trust and -acs: correctly signed but arbitrary claims (and an
    unsigned outer token around them) give a Principal or an AuthError, never a crash."""
    token = sign_claims(claims)
    if outer is not None:
        token = unsigned_outer({**outer, "actortoken": token})
    try:
        principal = profiles.authenticate_sync("Bearer " + token)
    except AuthError as exc:
        assert exc.status_code in (400, 401)
        return
    assert isinstance(principal, Principal) and (principal.app is not None or principal.user is not None)
