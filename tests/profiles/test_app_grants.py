"""App grants and rights: ``[[grants]]``, the GrantStore protocol, the user_permissions hook,
and ``requires(policy=..., right="Write", resource=...)`` end to end with high-trust tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from profile_support import NOW, Signer, guard_for, retime, sample, unsecured
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from s2s_guard import ConfigurationError, GuardMiddleware, InsufficientScope, Requirement, load_config, requires
from s2s_guard.grants import ConfigGrantStore, Grant, Right, covers, parse_right
from s2s_guard.principal import AppPrincipal, Principal, UserPrincipal

REALM = "200a8e79-a98e-4b79-a6e3-c637c6482471"
ISSUER_ID = "11111111-1111-1111-1111-111111111111"
CLIENT = "4ebb8f86-b40c-4cc5-8255-4ebeea018dc5"
DOCS = "/sites/hr/lists/docs"

APP = AppPrincipal(client_id=CLIENT, issuer="iss")
USER = UserPrincipal(id="alice", issuer="iss")
APP_ONLY = Principal(app=APP, user=None, issuer="iss", issuer_name="farm")
USER_APP = Principal(app=APP, user=USER, issuer="iss", issuer_name="farm")
USER_ONLY = Principal(app=None, user=USER, issuer="iss", issuer_name="farm")


def test_rights_are_ordered() -> None:
    assert Right.Read < Right.Write < Right.Manage < Right.FullControl
    assert parse_right("Manage") is Right.Manage and parse_right(Right.Read) is Right.Read
    for bad in ("write", "Owner", 2, None):
        with pytest.raises(ConfigurationError):
            parse_right(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix, resource, expected", [
    (DOCS, DOCS, True),
    (DOCS, DOCS + "/items/7", True),
    (DOCS + "/", DOCS, True),
    (DOCS, "/sites/hr/lists/docs2", False),        # segment by segment, not by characters
    (DOCS, "/sites/hr/lists", False),
    (DOCS, DOCS + "/../../finance", False),         # dot-dot is never covered
    (DOCS, "/sites/hr/./lists//docs/x", True),      # empty and "." segments are ignored
    ("/", "/anything/at/all", True),
])
def test_prefix_coverage(prefix: str, resource: str, expected: bool) -> None:
    assert covers(prefix, resource) is expected


def test_store_returns_the_highest_covering_right() -> None:
    store = ConfigGrantStore([
        Grant(app=CLIENT, resource="/sites/hr", right=Right.Read, app_only=True),
        Grant(app=CLIENT, resource=DOCS, right=Right.Manage),
        Grant(app="other", resource="/", right=Right.FullControl, app_only=True),
    ])
    assert store.app_right(CLIENT, DOCS + "/1", app_only=False) is Right.Manage
    assert store.app_right(CLIENT, DOCS + "/1", app_only=True) is Right.Read  # only app_only grants
    assert store.app_right(CLIENT, "/sites/finance", app_only=False) is None


def test_grant_scoped_to_an_issuer() -> None:
    store = ConfigGrantStore([Grant(app=CLIENT, resource="/", right=Right.Write, issuer="farm")])
    assert store.app_right(CLIENT, "/x", app_only=False, issuers=("farm", "iss")) is Right.Write
    assert store.app_right(CLIENT, "/x", app_only=False, issuers=("acs", "iss2")) is None


GRANTS = ConfigGrantStore([Grant(app=CLIENT, resource=DOCS, right=Right.Write, app_only=True),
                           Grant(app=CLIENT, resource="/sites/hr", right=Right.FullControl)])


def alice(user: UserPrincipal, resource: str) -> str | None:
    return "Read" if resource.startswith(DOCS) else "FullControl"


@pytest.mark.parametrize("principal, policy, resource, right, allowed", [
    (APP_ONLY, "app-only", DOCS, "Write", True),
    (APP_ONLY, "app-only", DOCS, "Manage", False),        # the app-only grant is only Write
    (APP_ONLY, "app-only", "/sites/hr", "Read", False),  # the FullControl grant does not allow app-only
    (USER_APP, "user+app", DOCS, "Read", True),
    (USER_APP, "user+app", DOCS, "Write", False),        # app may Write, alice only Read
    (USER_APP, "user+app", "/sites/hr/x", "FullControl", True),
    (USER_APP, "user-only", DOCS, "Read", True),         # only the user's right counts
    (USER_APP, "user-only", "/elsewhere", "FullControl", True),
    (USER_ONLY, "user-only", DOCS, "Write", False),
    (USER_APP, None, DOCS, "Write", False),              # no policy named: the token's (user+app)
    (APP_ONLY, None, DOCS, "Write", True),
])
def test_rights_follow_the_policy(principal: Principal, policy: Any, resource: str, right: str,
                                  allowed: bool) -> None:
    requirement = Requirement(policy=policy, right=right, resource=resource)
    if allowed:
        requirement.check(principal, grants=GRANTS, user_permissions=alice)
    else:
        with pytest.raises(InsufficientScope):
            requirement.check(principal, grants=GRANTS, user_permissions=alice)


def test_without_grants_or_hook_nobody_holds_a_right() -> None:
    for principal in (APP_ONLY, USER_APP, USER_ONLY):
        with pytest.raises(InsufficientScope):
            Requirement(right="Read", resource="/").check(principal)
    with pytest.raises(InsufficientScope):  # the app's grant alone is not enough for user+app
        Requirement(right="Read", resource=DOCS).check(USER_APP, grants=GRANTS)


def test_requirement_arguments_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        Requirement(right="Write")  # a right needs its resource
    with pytest.raises(ConfigurationError):
        Requirement(resource="/x")
    with pytest.raises(ConfigurationError):
        Requirement(right="Edit", resource="/x")
    callable_req = Requirement(right="Read", resource=lambda request: f"/sites/{request}")
    with pytest.raises(ConfigurationError):
        callable_req.check(APP_ONLY, grants=GRANTS)  # unresolved: the adapter must resolve it
    assert callable_req.resolve("hr").resource == "/sites/hr"
    with pytest.raises(ConfigurationError):
        Requirement(right="Read", resource=lambda request: 7).resolve(None)  # type: ignore[arg-type]


def test_grants_configuration() -> None:
    config = load_config({"audience": ["a"], "issuers": [{"issuer": "i", "algorithms": ["HS256"], "secret": "s" * 32}],
                          "grants": [{"app": CLIENT, "resource": DOCS, "right": "Write", "app_only": True},
                                     {"app": CLIENT, "resource": "/", "right": "Read", "issuer": "farm"}]})
    assert config.grants[0] == Grant(app=CLIENT, resource=DOCS, right=Right.Write, app_only=True)
    assert config.grants[1].issuer == "farm" and not config.grants[1].app_only


@pytest.mark.parametrize("grant, key", [
    ({"app": "a", "resource": "/x", "right": "Edit"}, "grants[0].right"),
    ({"app": "a", "resource": "sites/x", "right": "Read"}, "grants[0].resource"),
    ({"app": "a", "right": "Read"}, "grants[0].resource"),
    ({"app": "a", "resource": "/x", "right": "Read", "app_only": "yes"}, "grants[0].app_only"),
    ({"app": "a", "resource": "/x", "right": "Read", "scope": "x"}, "grants[0].scope"),
])
def test_grants_configuration_errors(grant: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config({"audience": ["a"], "issuers": [{"issuer": "i", "algorithms": ["HS256"], "secret": "s" * 32}],
                     "grants": [grant]})
    assert info.value.key == key


# -- end to end: a Starlette app behind GuardMiddleware, high-trust tokens ------------------------

def actor(addin: Signer, delegation: bool) -> str:
    claims = sample("sharepoint_high_trust_actor")["claims"]
    if not delegation:
        del claims["trustedfordelegation"]
    return addin.sign({"typ": "JWT", "alg": "RS256", "x5t": addin.x5t}, retime(claims))


def user_token(addin: Signer, nameid: str) -> str:
    outer = retime(sample("sharepoint_high_trust_outer")["claims"], nbf=NOW - 30, exp=NOW + 1800,
                   nameid=nameid, actortoken=actor(addin, True))
    return unsecured({"typ": "JWT", "alg": "none"}, outer)


class Permissions:
    """The application's own user permission table (what SharePoint keeps per site)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, user: UserPrincipal, resource: str) -> str | None:
        self.calls.append((user.id, resource))
        return {"s-1-5-21-1": "Write", "s-1-5-21-2": "Read"}.get(user.id)


def build_app(cert_file: Path, permissions: Permissions) -> Starlette:
    guard = guard_for([{"profile": "sharepoint-high-trust", "issuer_id": ISSUER_ID, "realm": REALM,
                        "algorithms": ["RS256"], "certificates": [str(cert_file)],
                        "client_ids": [CLIENT], "hosts": ["sharepoint"]}],
                      grants=[{"app": CLIENT, "resource": "/sites/hr", "right": "Write", "app_only": True}],
                      user_permissions=permissions)

    @requires(right="Write", resource=lambda request: request.url.path)
    async def write(request: Request) -> JSONResponse:
        return JSONResponse({"policy": request.user.policy})

    @requires(policy="app-only", right="Read", resource="/sites/hr")
    async def app_read(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/sites/{site}/lists/{name}", write, methods=["POST"]),
                            Route("/app-read", app_read)])
    app.add_middleware(GuardMiddleware, guard=guard)
    return app


def test_rights_end_to_end(addin_cert_file: Path, addin: Signer) -> None:
    permissions = Permissions()
    client = TestClient(build_app(addin_cert_file, permissions))

    def post(path: str, token: str) -> int:
        return client.post(path, headers={"Authorization": f"Bearer {token}"}).status_code

    assert post("/sites/hr/lists/docs", actor(addin, False)) == 200           # app-only grant
    assert post("/sites/finance/lists/docs", actor(addin, False)) == 403      # not covered
    assert post("/sites/hr/lists/docs", user_token(addin, "s-1-5-21-1")) == 200  # app AND user Write
    assert post("/sites/hr/lists/docs", user_token(addin, "s-1-5-21-2")) == 403  # user only Read
    assert ("s-1-5-21-2", "/sites/hr/lists/docs") in permissions.calls
    assert client.get("/app-read", headers={"Authorization": f"Bearer {actor(addin, False)}"}).status_code == 200
    response = client.get("/app-read", headers={"Authorization": f"Bearer {user_token(addin, 's-1-5-21-1')}"})
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"


def test_guard_takes_a_grant_store_and_the_hook(addin_cert_file: Path) -> None:
    store = ConfigGrantStore([Grant(app="x", resource="/", right=Right.Read)])
    guard = guard_for([{"profile": "sharepoint-high-trust", "issuer_id": ISSUER_ID, "realm": REALM,
                        "algorithms": ["RS256"], "certificates": [str(addin_cert_file)],
                        "hosts": ["sharepoint"]}], grant_store=store, user_permissions=alice)
    assert guard.grants is store and guard.user_permissions is alice
    guard.authorize(Principal(app=AppPrincipal(client_id="x", issuer="i"), user=USER),
                    Requirement(policy="user+app", right="Read", resource="/sites/y"))
