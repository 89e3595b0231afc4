"""RFC 8693 delegation policy: allowed actors and chain depth (global, per issuer, per route), may_act.

A valid token whose delegation the policy forbids is 403 (DelegationNotAllowed, an
insufficient_scope); a token whose ``act`` contradicts its own ``may_act`` is 401 invalid_token.
"""

from __future__ import annotations

from typing import Any

import pytest
from resource_kit import AUD

from s2s_guard import (ConfigurationError, Guard, InsufficientScope, InvalidClaim, InvalidToken,
                       Principal, Requirement, load_config)
from s2s_guard.errors import DelegationNotAllowed
from s2s_guard.testing import LocalIssuer, mint_token, trust_config


def guard_for(issuer: LocalIssuer, *, delegation: dict[str, Any] | None = None,
              **issuer_options: Any) -> Guard:
    config = issuer.guard_config(**issuer_options)
    config["issuers"][0].pop("typ")  # the families below mint "at+jwt"; keep the guard generic
    if delegation is not None:
        config["delegation"] = delegation
    return Guard.from_config(config)


def chain(issuer: LocalIssuer, client: str, *earlier: str, **claims: Any) -> str:
    """RFC 8693: sub alice, current actor ``client``, then the earlier actors, outermost first."""
    return mint_token(issuer, "act-chain", client_id=client, actors=earlier, claims=claims)


def refused(guard: Guard, token: str, requirement: Requirement | None = None) -> Exception:
    with pytest.raises((InvalidToken, InsufficientScope)) as info:
        guard.authenticate_sync(f"Bearer {token}", requirement)
    return info.value


# -- global: [delegation] --------------------------------------------------------------------------

def test_global_actors_restrict_the_app_of_every_delegated_token(issuer: LocalIssuer) -> None:
    guard = guard_for(issuer, delegation={"actors": ["gateway"]})
    assert guard.authenticate_sync("Bearer " + chain(issuer, "gateway", "edge")).app.client_id == "gateway"  # type: ignore[union-attr]
    assert guard.authenticate_sync("Bearer " + issuer.user_token("alice", "gateway")).policy == "user+app"
    for token in (chain(issuer, "web-app"), issuer.user_token("alice", "web-app")):
        error = refused(guard, token)
        assert isinstance(error, DelegationNotAllowed)
        assert (error.status_code, error.error, error.reason) == (403, "insufficient_scope", "delegation_not_allowed")
    # app-only tokens act for nobody: not concerned
    assert guard.authenticate_sync("Bearer " + issuer.app_token("batch")).policy == "app-only"


def test_only_the_current_actor_counts(issuer: LocalIssuer) -> None:
    """RFC 8693 §4.1: prior actors are informational; "web-app" deep in the chain is not checked."""
    guard = guard_for(issuer, delegation={"actors": ["gateway"]})
    assert guard.authenticate_sync("Bearer " + chain(issuer, "gateway", "web-app", "mobile")).user is not None


@pytest.mark.parametrize(("max_depth", "accepted"), [(0, ()), (1, (1,)), (2, (1, 2)), (3, (1, 2, 3))])
def test_global_max_depth_bounds_the_act_chain(issuer: LocalIssuer, max_depth: int,
                                               accepted: tuple[int, ...]) -> None:
    guard = guard_for(issuer, delegation={"max_depth": max_depth})
    assert guard.authenticate_sync("Bearer " + issuer.user_token()).policy == "user+app"  # depth 0
    for depth in (1, 2, 3):
        token = chain(issuer, "gateway", *[f"hop{i}" for i in range(depth - 1)])
        if depth in accepted:
            assert len(guard.authenticate_sync("Bearer " + token).actors) == depth
        else:
            assert isinstance(refused(guard, token), DelegationNotAllowed)


def test_a_refused_delegation_is_not_cached(issuer: LocalIssuer) -> None:
    guard = guard_for(issuer, delegation={"actors": []})
    token = issuer.user_token("alice", "web-app")
    for _ in range(3):
        assert isinstance(refused(guard, token), DelegationNotAllowed)
    assert guard.lookup(f"Bearer {token}".encode()) is None


def test_introspected_tokens_follow_the_same_policy(issuer: LocalIssuer) -> None:
    config = trust_config(issuer, delegation={"actors": ["gateway"]})
    guard = Guard.from_config(config)
    web = issuer.issue_opaque({"client_id": "web-app", "sub": "alice", "aud": AUD})
    gateway = issuer.issue_opaque({"client_id": "gateway", "sub": "alice", "aud": AUD})
    assert isinstance(refused(guard, web), DelegationNotAllowed)
    assert guard.authenticate_sync(f"Bearer {gateway}").app.client_id == "gateway"  # type: ignore[union-attr]


# -- per issuer: Entra delegated and on-behalf-of tokens --------------------------------------------

def entra_guard(issuer: LocalIssuer, actors: list[str]) -> Guard:
    config = trust_config(issuer)
    for entry in config["issuers"]:
        if entry["name"] == "entra-v2":
            entry["actors"] = actors
    return Guard.from_config(config)


def test_entra_issuer_names_the_apps_that_may_call_for_users(issuer: LocalIssuer) -> None:
    guard = entra_guard(issuer, ["middle-tier"])
    obo = mint_token(issuer, "entra-v2-delegated", client_id="middle-tier", scopes="orders.read")
    assert guard.authenticate_sync(f"Bearer {obo}").app.client_id == "middle-tier"  # type: ignore[union-attr]
    other = mint_token(issuer, "entra-v2-delegated", client_id="spa", scopes="orders.read")
    assert isinstance(refused(guard, other), DelegationNotAllowed)
    # app-only tokens, and the other issuers' tokens, are not concerned
    assert guard.authenticate_sync("Bearer " + mint_token(issuer, "entra-v2-app", client_id="spa")).user is None
    assert guard.authenticate_sync("Bearer " + mint_token(issuer, "entra-v1-delegated", client_id="spa")).user


# -- per route: Requirement(actors=..., max_delegation_depth=...) --------------------------------------

def test_route_rules_apply_to_cached_principals_too(issuer: LocalIssuer) -> None:
    guard = guard_for(issuer)  # verified-token cache on (the default)
    token = chain(issuer, "gateway", "edge")
    header = f"Bearer {token}".encode()
    assert guard.authenticate_sync(header.decode()).policy == "user+app"
    assert guard.lookup(header) is not None  # now on the warm path
    with pytest.raises(DelegationNotAllowed):
        guard.lookup(header, Requirement(actors=["web-app"]))
    with pytest.raises(DelegationNotAllowed):
        guard.lookup(header, Requirement(max_delegation_depth=1))
    assert guard.lookup(header, Requirement(actors="gateway", max_delegation_depth=2)) is not None


def test_route_and_global_rules_both_apply(issuer: LocalIssuer) -> None:
    guard = guard_for(issuer, delegation={"actors": ["gateway", "bff"]})
    route = Requirement(policy="user+app", actors=["bff"])
    assert isinstance(refused(guard, chain(issuer, "gateway"), route), DelegationNotAllowed)
    assert guard.authenticate_sync("Bearer " + chain(issuer, "bff"), route).app.client_id == "bff"  # type: ignore[union-attr]


def test_requirement_rules_on_principals() -> None:
    from s2s_guard import AppPrincipal, UserPrincipal

    def principal(app: str | None, user: str | None, depth: int = 0) -> Principal:
        return Principal(app=None if app is None else AppPrincipal(client_id=app, issuer="i"),
                         user=None if user is None else UserPrincipal(id=user, issuer="i"),
                         actors=tuple({"sub": f"a{i}"} for i in range(depth)))

    strict = Requirement(actors=[], max_delegation_depth=0)
    strict.check(principal("daemon", None))       # app-only: acts for nobody
    strict.check(principal(None, "alice"))        # user-only: no app in between
    with pytest.raises(DelegationNotAllowed):
        strict.check(principal("web", "alice"))
    Requirement(max_delegation_depth=0).check(principal("web", "alice"))
    with pytest.raises(DelegationNotAllowed):
        Requirement(max_delegation_depth=1).check(principal("gateway", "alice", depth=2))


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"max_delegation_depth": -1}, "max_delegation_depth"),
    ({"max_delegation_depth": True}, "max_delegation_depth"),
    ({"actors": [""]}, "actors"),
    ({"actors": [1]}, "actors"),
])
def test_bad_route_rules_are_configuration_errors(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Requirement(**kwargs)
    assert info.value.key == key


@pytest.mark.parametrize(("extra", "key"), [
    ({"delegation": {"actors": "gateway", "depth": 1}}, "delegation.depth"),
    ({"delegation": {"max_depth": -1}}, "delegation.max_depth"),
    ({"delegation": {"max_depth": 1.5}}, "delegation.max_depth"),
    ({"delegation": {"actors": [3]}}, "delegation.actors"),
    ({"delegation": ["gateway"]}, "delegation"),
])
def test_bad_global_rules_are_configuration_errors(extra: dict[str, Any], key: str) -> None:
    base = {"audience": [AUD], "issuers": [{"issuer": "https://idp", "algorithms": ["RS256"],
                                            "jwks_uri": "https://idp/jwks"}]}
    with pytest.raises(ConfigurationError) as info:
        load_config({**base, **extra})
    assert info.value.key == key


# -- may_act (RFC 8693 §4.4) ---------------------------------------------------------------------------

@pytest.mark.parametrize("may_act", [
    {"sub": "gateway"},
    {"sub": "gateway", "iss": "<issuer>"},  # an actor without iss is the token issuer's
])
def test_may_act_naming_the_current_actor_is_accepted(issuer: LocalIssuer, may_act: dict[str, str]) -> None:
    guard = guard_for(issuer)
    may_act = {k: issuer.issuer if v == "<issuer>" else v for k, v in may_act.items()}
    principal = guard.authenticate_sync("Bearer " + chain(issuer, "gateway", "edge", may_act=may_act))
    assert principal.app.client_id == "gateway"  # type: ignore[union-attr]


@pytest.mark.parametrize("may_act", [
    {"sub": "someone-else"},
    {"sub": "gateway", "iss": "https://other-issuer.example"},
    {"sub": "edge"},  # a prior actor is not the current one
    "gateway",        # not an object
    {},               # names nobody
])
def test_act_contradicting_may_act_is_an_invalid_token(issuer: LocalIssuer, may_act: Any) -> None:
    error = refused(guard_for(issuer), chain(issuer, "gateway", "edge", may_act=may_act))
    assert isinstance(error, InvalidClaim) and error.status_code == 401


def test_may_act_without_act_speaks_to_a_future_exchange(issuer: LocalIssuer) -> None:
    token = issuer.user_token("alice", "web-app", claims={"may_act": {"sub": "gateway"}})
    assert guard_for(issuer).authenticate_sync(f"Bearer {token}").app.client_id == "web-app"  # type: ignore[union-attr]
