"""The rows of ``s2s-guard demo`` (RFC 6750): every token family against routes with each policy.

Rows are data. A :class:`DemoCase` names a route, how its request is authorized (an
``Authorization`` value, an ``httpx.Auth`` that obtains the token as a real caller would, or
nothing) and what must come back. A new family (DPoP, ...) adds its rows here and, if it needs
one, a field on :class:`DemoContext`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .client import HighTrustAuth, TokenCache, TokenExchangeAuth
from .core.keys import b64url
from .grants import Right, covers
from .principal import Policy, UserPrincipal
from .testing import LocalIssuer, SigningKey, mint_token
from .testing.dpop import DPoPAuth

__all__ = ["ADD_IN", "AUDIENCE", "CASES", "GRANTS", "ROUTES", "SCOPE", "SHAREPOINT_HOST", "CaseResult",
           "Credentials", "DemoCase", "DemoContext", "DemoRoute", "user_permissions"]

AUDIENCE = "api://orders"
SCOPE = "orders.read"
SITE = "/sites/hr"
ADD_IN = "hr-add-in"  # the SharePoint add-in holding a grant on SITE
MIDDLE_TIER = "web-app"  # the client that exchanges a user's token (RFC 8693)
SHAREPOINT_HOST = "localhost"

#: SharePoint tokens carry no scopes: the API grants the add-in a right on the site ([[grants]]).
GRANTS: tuple[dict[str, Any], ...] = ({"app": ADD_IN, "resource": SITE, "right": "Write", "app_only": True},)
_USER_RIGHTS = {"alice": {SITE: Right.Write}}


def user_permissions(user: UserPrincipal, resource: str) -> Right | None:
    """The application's hook: the demo user's own right on ``resource`` (user+app calls)."""
    rights = [right for prefix, right in _USER_RIGHTS.get(user.id, {}).items() if covers(prefix, resource)]
    return max(rights, default=None)


@dataclass(frozen=True, slots=True)
class DemoRoute:
    """A protected (or public, when ``policy`` is ``None``) route; ``right`` is demanded on its path."""

    path: str
    policy: Policy | None
    scopes: tuple[str, ...] = ()
    right: str | None = None

    @property
    def label(self) -> str:
        """The route's policy as the table shows it (``public`` when there is none)."""
        return self.policy or "public"

    @property
    def demands(self) -> str:
        """What the route needs besides its policy: scopes, or a right on its own path."""
        if self.right is not None:
            return f"right: {self.right} on its path ([[grants]])"
        return f"scopes: {' '.join(self.scopes)}" if self.scopes else ""


ROUTES: tuple[DemoRoute, ...] = (
    DemoRoute("/health", None),
    DemoRoute("/app-only", "app-only", (SCOPE,)),
    DemoRoute("/user-and-app", "user+app", (SCOPE,)),
    DemoRoute("/user-only", "user-only"),
    DemoRoute(f"{SITE}/reports", "app-only", right="Read"),
    DemoRoute(f"{SITE}/docs", "user+app", right="Write"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoContext:
    """What rows build their credentials from: the issuer, a foreign key, client secrets."""

    issuer: LocalIssuer
    foreign_key: SigningKey
    token_client: httpx.Client  # for the caller-side auth classes' requests to the issuer's /token
    secrets: dict[str, str]  # client_id -> secret registered at the issuer
    dpop: DPoPAuth  # a DPoP-bound token and its client's key (RFC 9449)


#: An ``Authorization`` value, an ``httpx.Auth`` that obtains one, or ``None`` (no header).
Credentials = str | httpx.Auth | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoCase:
    """One request: how it is authorized and what must come back.

    ``challenge_has`` / ``challenge_lacks`` are substrings the ``WWW-Authenticate`` value must
    (not) contain; a 401 must carry a challenge and a 2xx must not.
    """

    name: str
    token_kind: str
    path: str
    expected_status: int
    authorization: Callable[[DemoContext], Credentials]
    challenge_has: tuple[str, ...] = ()
    challenge_lacks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What one row got, and what did not match (empty when it matched)."""

    case: DemoCase
    status: int
    challenge: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the row got exactly what it expected."""
        return not self.problems


# -- credentials -------------------------------------------------------------------------------

def _bearer(make: Callable[[DemoContext], str]) -> Callable[[DemoContext], Credentials]:
    return lambda ctx: "Bearer " + make(ctx)


def _minted(family: str, **options: Any) -> Callable[[DemoContext], Credentials]:
    return _bearer(lambda ctx: mint_token(ctx.issuer, family, **options))


def _app(ctx: DemoContext, **kwargs: Any) -> str:
    return ctx.issuer.app_token("daemon-app", scopes=SCOPE, **kwargs)


def _user(ctx: DemoContext) -> str:
    return ctx.issuer.user_token("alice", "web-app", scopes=SCOPE)


def _expired(ctx: DemoContext) -> str:
    now = int(time.time())
    return _app(ctx, claims={"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})


def _forged(ctx: DemoContext) -> str:
    # Signed by a key the issuer never published, under the kid of one it did.
    kid = ctx.issuer.key_for("ES256").kid
    return _app(ctx, alg="ES256", key=ctx.foreign_key.key, headers={"kid": kid})


def _alg_none(ctx: DemoContext) -> str:
    _, payload, _ = _app(ctx).split(".")
    return b64url(b'{"alg":"none","typ":"at+jwt"}') + "." + payload + "."


def _exchanged(ctx: DemoContext) -> Credentials:
    """RFC 8693: the middle tier trades the user's token (issued to a front end) for one to this API."""
    subject = ctx.issuer.user_token("alice", "front-end", scopes=SCOPE)
    return TokenExchangeAuth(ctx.issuer.token_url, MIDDLE_TIER, client_secret=ctx.secrets[MIDDLE_TIER],
                             subject_token=subject, resource=AUDIENCE, cache=TokenCache(),
                             http_client=ctx.token_client)


def _revoked_opaque(ctx: DemoContext) -> str:
    token = mint_token(ctx.issuer, "opaque", scopes=SCOPE)
    ctx.issuer.revoke(token)  # introspection now answers {"active": false} (RFC 7662 §2.2)
    return token


def _high_trust(user: str | None, client_id: str = ADD_IN) -> Callable[[DemoContext], Credentials]:
    """The add-in's side: :class:`HighTrustAuth` signs with the issuer's trusted certificate."""
    def make(ctx: DemoContext) -> Credentials:
        sp = ctx.issuer.sharepoint
        return HighTrustAuth(client_id=client_id, issuer_id=sp.issuer_id, realm=sp.realm, private_key=sp.key,
                             certificate=sp.certificate, user=user, host=SHAREPOINT_HOST)
    return make


# -- the rows ------------------------------------------------------------------------------------

_INVALID = 'error="invalid_token"'
_FORBIDDEN = ('error="insufficient_scope"', f'scope="{SCOPE}"')
_NO_RIGHT = ('error="insufficient_scope"',)


def _case(name: str, kind: str, path: str, status: int, authorization: Callable[[DemoContext], Credentials],
          *has: str, lacks: tuple[str, ...] = ()) -> DemoCase:
    return DemoCase(name=name, token_kind=kind, path=path, expected_status=status,
                    authorization=authorization, challenge_has=has, challenge_lacks=lacks)


CASES: tuple[DemoCase, ...] = (
    # RFC 9068 JWTs and the refusals every profile shares
    _case("app-only token, app-only route", "app-only", "/app-only", 200, _bearer(_app)),
    _case("user+app token, user+app route", "user+app", "/user-and-app", 200, _bearer(_user)),
    _case("user token, user-only route", "user-only", "/user-only", 200,
          _bearer(lambda c: c.issuer.mint({"sub": "alice", "client_id": "web-app"}))),  # RFC 9068 §2.2
    _case("user+app token, app-only route", "user+app", "/app-only", 403, _bearer(_user), *_FORBIDDEN),
    _case("app-only token, user+app route", "app-only", "/user-and-app", 403, _bearer(_app), *_FORBIDDEN),
    _case("missing scope", "app, no scope", "/app-only", 403,
          _bearer(lambda c: c.issuer.app_token("daemon-app", scopes="orders.write")), *_FORBIDDEN),
    _case("expired token", "app, expired", "/app-only", 401, _bearer(_expired), _INVALID, "expired"),
    _case("wrong audience", "app, other aud", "/app-only", 401,
          _bearer(lambda c: _app(c, claims={"aud": "api://billing"})), _INVALID, "wrong audience"),
    _case("bad signature", "app, forged sig", "/app-only", 401, _bearer(_forged), _INVALID, "bad signature"),
    _case("unknown issuer", "app, other iss", "/app-only", 401,
          _bearer(lambda c: _app(c, claims={"iss": "https://rogue.example"})), _INVALID, "unknown issuer"),
    _case("alg none", "app, unsigned", "/app-only", 401, _bearer(_alg_none), _INVALID, "disallowed algorithm"),
    _case("no Authorization header", "(none)", "/app-only", 401, lambda c: None, lacks=("error=",)),
    _case("malformed Authorization header", "'Bearer' alone", "/app-only", 400, lambda c: "Bearer",
          'error="invalid_request"'),
    _case("public /health, no token", "(none)", "/health", 200, lambda c: None),
    # every other token family
    _case("user+app via token exchange", "JWT, exchanged", "/user-and-app", 200, _exchanged),
    _case("introspected opaque token", "opaque", "/app-only", 200, _minted("opaque", scopes=SCOPE)),
    _case("revoked opaque token", "opaque, revoked", "/app-only", 401, _bearer(_revoked_opaque), _INVALID),
    _case("SharePoint high-trust app-only", "SP high-trust", f"{SITE}/reports", 200, _high_trust(None)),
    _case("SharePoint high-trust user+app", "SP high-trust", f"{SITE}/docs", 200, _high_trust("alice")),
    _case("add-in without a grant", "SP high-trust", f"{SITE}/reports", 403,
          _high_trust(None, "other-add-in"), *_NO_RIGHT),
    _case("high-trust forgery, no actor", "SP alg none", f"{SITE}/docs", 401,
          _minted("sharepoint-without-actor", client_id=ADD_IN, host=SHAREPOINT_HOST), _INVALID),
    _case("SharePoint ACS user+app", "SP ACS", f"{SITE}/docs", 200,
          _minted("acs-user+app", client_id=ADD_IN, host=SHAREPOINT_HOST)),
    _case("Entra v2 app-only", "Entra v2 app", "/app-only", 200, _minted("entra-v2-app", scopes=SCOPE)),
    _case("Entra v2 delegated", "Entra v2 user+app", "/user-and-app", 200,
          _minted("entra-v2-delegated", scopes=SCOPE)),
    # sender-constrained (RFC 9449); the replay reuses the previous row's proof
    _case("DPoP-bound token, fresh proof", "app, DPoP", "/app-only", 200, lambda c: c.dpop),
    _case("same DPoP proof replayed", "DPoP, replayed", "/app-only", 401, lambda c: c.dpop.replay(),
          'error="invalid_dpop_proof"', 'algs="ES256"'),
    _case("DPoP-bound token, no proof", "DPoP, as Bearer", "/app-only", 401,
          lambda c: "Bearer " + c.dpop.token, _INVALID, "DPoP realm=", 'algs="ES256"'),
)


def dpop_issuer(issuer: LocalIssuer) -> str:
    """The iss of the demo's DPoP-bound tokens: an [[issuers]] entry with dpop = "allowed"."""
    return issuer.issuer + "/dpop"
