"""The generic ``jwt`` profile: RFC 9068 access tokens, RFC 8693 ``act`` chains, claim names per issuer."""

from __future__ import annotations

from typing import Any

import pytest
from profile_support import NOW, Signer, accepted, guard_for, refused, retime, sample

from s2s_guard import ConfigurationError, Guard, InvalidClaim, InvalidTokenType, load_config

ISS = "https://as.example.com"


def entry(signer: Signer, public_jwk: Any, **changes: Any) -> dict[str, Any]:
    return {"issuer": ISS, "algorithms": ["RS256"], "jwks": {"keys": [public_jwk(signer.key, kid="k1")]},
            **changes}


def mint(signer: Signer, claims: dict[str, Any], typ: str | None = "at+jwt") -> str:
    header = {"alg": "RS256", "kid": "k1", **({"typ": typ} if typ else {})}
    base = {"iss": ISS, "aud": "api://orders", "iat": NOW - 5, "exp": NOW + 300, "jti": "j1"}
    return signer.sign(header, {**base, **claims})


@pytest.fixture(scope="module")
def guard(idp: Signer, public_jwk: Any) -> Guard:
    return guard_for([entry(idp, public_jwk)])


def test_sub_equal_to_client_id_is_app_only(guard: Guard, idp: Signer) -> None:
    principal = accepted(guard, mint(idp, {"client_id": "daemon", "sub": "daemon", "scope": "orders.read"}))
    assert principal.policy == "app-only" and principal.scopes == {"orders.read"}
    user = accepted(guard, mint(idp, {"client_id": "web", "sub": "alice", "scope": "orders.read"}))
    assert user.policy == "user+app" and user.user.id == "alice"  # type: ignore[union-attr]


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
def test_require_typ_accepts_rfc9068_typ(idp: Signer, public_jwk: Any, typ: str) -> None:
    guard = guard_for([entry(idp, public_jwk, require_typ=True)])
    assert accepted(guard, mint(idp, {"client_id": "c", "sub": "c"}, typ=typ)).app is not None


@pytest.mark.parametrize("typ", ["JWT", None, "id_token+jwt"])
def test_require_typ_refuses_other_types(idp: Signer, public_jwk: Any, typ: str | None) -> None:
    guard = guard_for([entry(idp, public_jwk, require_typ=True)])
    refused(guard, mint(idp, {"client_id": "c", "sub": "c"}, typ=typ), InvalidTokenType)
    assert accepted(guard_for([entry(idp, public_jwk)]), mint(idp, {"client_id": "c", "sub": "c"}, typ=typ))


def test_act_makes_the_actor_the_app_and_keeps_the_chain(guard: Guard, idp: Signer) -> None:
    nested = retime(sample("rfc8693_act")["nested"], nbf=NOW - 10, exp=NOW + 300)
    principal = accepted(guard, mint(idp, {**nested, "iss": ISS, "aud": "api://orders", "client_id": "web"}))
    assert principal.policy == "user+app"
    assert principal.user is not None and principal.user.id == "user@example.com"
    assert principal.app is not None and principal.app.client_id == "https://service16.example.com"
    assert [a["sub"] for a in principal.actors] == ["https://service16.example.com",
                                                     "https://service77.example.com"]
    assert all("act" not in actor for actor in principal.actors)


def test_act_with_client_id_names_the_app_by_it(guard: Guard, idp: Signer) -> None:
    claims = {"sub": "alice", "act": {"sub": "svc-account-7", "client_id": "billing"}}
    assert accepted(guard, mint(idp, claims)).app.client_id == "billing"  # type: ignore[union-attr]


@pytest.mark.parametrize("act", ["admin@example.com", ["a"], {"iss": "x"}, {"sub": "a", "act": "b"},
                                 {"sub": 7}])
def test_malformed_act_is_refused(guard: Guard, idp: Signer, act: Any) -> None:
    refused(guard, mint(idp, {"sub": "alice", "client_id": "web", "act": act}), InvalidClaim)


def test_act_without_a_subject_is_refused(guard: Guard, idp: Signer) -> None:
    refused(guard, mint(idp, {"client_id": "web", "act": {"sub": "svc"}}), InvalidClaim)


def test_claim_names_per_issuer(idp: Signer, public_jwk: Any) -> None:
    """Okta-style tokens: the app in ``cid``, the user in ``uid``, scopes as a ``scp`` list."""
    guard = guard_for([entry(idp, public_jwk, claims={"app": "cid", "user": "uid", "scopes": "scp"})])
    principal = accepted(guard, mint(idp, {"cid": "0oa1", "uid": "00u1", "sub": "alice@example.com",
                                           "scp": ["orders.read", "openid"]}))
    assert (principal.app.client_id, principal.user.id) == ("0oa1", "00u1")  # type: ignore[union-attr]
    assert principal.scopes == {"orders.read", "openid"}
    app_only = accepted(guard, mint(idp, {"cid": "0oa1", "sub": "0oa1", "scp": ["orders.read"]}))
    assert app_only.policy == "app-only"
    refused(guard, mint(idp, {"cid": "0oa1", "uid": "00u1", "scp": "a b", "client_id": 5}), InvalidClaim)


@pytest.mark.parametrize("claims, key", [
    ({"bogus": "x"}, "issuers[0].claims.bogus"),
    ({"app": ""}, "issuers[0].claims.app"),
    ("cid", "issuers[0].claims"),
])
def test_claim_names_configuration_errors(claims: Any, key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config({"audience": ["a"], "issuers": [{"issuer": ISS, "algorithms": ["RS256"],
                                                     "jwks_uri": "https://as.example.com/jwks",
                                                     "claims": claims}]})
    assert info.value.key == key


def test_claim_names_only_for_the_jwt_profile() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config({"audience": ["a"], "issuers": [{
            "issuer": ISS, "profile": "entra", "algorithms": ["RS256"],
            "jwks_uri": "https://as.example.com/jwks", "claims": {"app": "cid"}}]})
    assert info.value.key == "issuers[0].claims"


def test_require_typ_sets_at_jwt_unless_typ_is_given() -> None:
    base = {"issuer": ISS, "algorithms": ["RS256"], "jwks_uri": "https://as.example.com/jwks"}
    config = load_config({"audience": ["a"], "issuers": [{**base, "require_typ": True}]})
    assert config.issuers[0].typ == "at+jwt" and config.issuers[0].require_typ
    with pytest.raises(ConfigurationError):
        load_config({"audience": ["a"], "issuers": [{**base, "require_typ": "yes"}]})
