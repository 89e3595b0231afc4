"""Issue 14: a 403 says which check failed (policy, scope, right or delegation), in a fixed description.

RFC 6750 §3's ``error`` stays ``insufficient_scope`` for all four; the ``scope`` parameter keeps
naming what the route needs; the description is fixed per kind, in the RFC 6750 character set,
and carries nothing from the token.
"""

from __future__ import annotations

import re

import pytest

from s2s_guard.errors import (AuthError, DelegationNotAllowed, InsufficientScope, MissingRight, MissingScope,
                              PolicyMismatch)
from s2s_guard.policy import Requirement
from s2s_guard.principal import AppPrincipal, Principal, UserPrincipal

ISS = "https://issuer.example"
APP_ONLY = Principal(app=AppPrincipal(client_id="daemon-7f3a", issuer=ISS), user=None,
                     scopes=frozenset({"orders.read"}))
USER_APP = Principal(app=AppPrincipal(client_id="web-9c1d", issuer=ISS),
                     user=UserPrincipal(id="alice-0b2e", issuer=ISS), scopes=frozenset({"orders.read"}))
RFC6750_CHARSET = re.compile(r'^[\x20\x21\x23-\x5b\x5d-\x7e]*$')


def refusal(requirement: Requirement, principal: Principal) -> InsufficientScope:
    with pytest.raises(InsufficientScope) as info:
        requirement.check(principal)
    return info.value


CASES = {
    # The token holds the scope; the route wants a user: the description must not blame the scope.
    "policy": (Requirement(policy="user+app", scopes=["orders.read"]), APP_ONLY, PolicyMismatch, "orders.read"),
    "scope": (Requirement(scopes=["orders.read", "orders.write"]), APP_ONLY, MissingScope,
              "orders.read orders.write"),
    "right": (Requirement(right="Write", resource="/sites/hr"), APP_ONLY, MissingRight, None),
    "delegation": (Requirement(actors=["another-app"]), USER_APP, DelegationNotAllowed, None),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_each_kind_has_its_own_class_reason_and_description(kind: str) -> None:
    requirement, principal, cls, scope = CASES[kind]
    error = refusal(requirement, principal)
    assert type(error) is cls
    assert (error.status_code, error.error, error.scope) == (403, "insufficient_scope", scope)
    assert kind in (error.description or "")  # "policy", "scope", "right", "delegation"


def test_descriptions_and_reasons_differ_per_kind() -> None:
    errors = [refusal(requirement, principal) for requirement, principal, _, _ in CASES.values()]
    assert len({e.description for e in errors}) == len({e.reason for e in errors}) == len(CASES)


def test_a_scope_refusal_keeps_its_reason() -> None:
    """Metrics and dashboards keyed on ``insufficient_scope`` keep counting missing scopes."""
    assert MissingScope.reason == "insufficient_scope"
    assert (PolicyMismatch.reason, MissingRight.reason) == ("policy_mismatch", "insufficient_right")


@pytest.mark.parametrize("kind", list(CASES))
def test_descriptions_are_fixed_safe_and_echo_nothing(kind: str) -> None:
    requirement, principal, _, _ = CASES[kind]
    error = refusal(requirement, principal)
    assert error.description == type(error).description  # fixed per class
    assert RFC6750_CHARSET.match(error.description or "")
    for text in (error.www_authenticate or "", error.body().decode()):
        for value in ("daemon-7f3a", "web-9c1d", "alice-0b2e", "/sites/hr", "another-app"):
            assert value not in text
    assert error.detail  # the log keeps the detail


def test_the_leaves_are_insufficient_scope() -> None:
    """Code catching ``InsufficientScope`` (or checking ``error``) sees every 403 as before."""
    for cls in (PolicyMismatch, MissingScope, MissingRight, DelegationNotAllowed):
        assert issubclass(cls, InsufficientScope) and issubclass(cls, AuthError)
        assert (cls.status_code, cls.error) == (403, "insufficient_scope")
