"""RFC 6750 end to end: a local issuer, a guarded API on a real uvicorn server, real requests.

``s2s-guard demo`` sends every :data:`CASES` row to the matching :data:`ROUTES` entry and
prints what came back. The table is data: a later token family (introspection, SharePoint,
Entra) adds its routes and rows here and, if it needs one, a field on :class:`DemoContext`.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from .asgi import GuardMiddleware, requires
from .core.keys import b64url
from .guard import Guard
from .principal import Policy, Principal
from .testing import LocalIssuer, SigningKey, generate_key

__all__ = ["AUDIENCE", "CASES", "ROUTES", "CaseResult", "DemoCase", "DemoContext", "DemoRoute",
           "demo_app", "demo_config", "run_cases", "run_demo", "serve"]

AUDIENCE = "api://orders"
SCOPE = "orders.read"


@dataclass(frozen=True, slots=True)
class DemoRoute:
    """A protected (or public, when ``policy`` is ``None``) route of the demo API."""

    path: str
    policy: Policy | None
    scopes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The route's policy as the table shows it (``public`` when there is none)."""
        return self.policy or "public"


ROUTES: tuple[DemoRoute, ...] = (
    DemoRoute("/health", None),
    DemoRoute("/app-only", "app-only", (SCOPE,)),
    DemoRoute("/user-and-app", "user+app", (SCOPE,)),
    DemoRoute("/user-only", "user-only"),
)


@dataclass(frozen=True, slots=True)
class DemoContext:
    """What a row needs to build its ``Authorization`` value: the issuer and a foreign key."""

    issuer: LocalIssuer
    foreign_key: SigningKey


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoCase:
    """One request: the ``Authorization`` value to send (``None``: no header) and what must come back.

    ``challenge_has`` / ``challenge_lacks`` are substrings the ``WWW-Authenticate`` value must
    (not) contain; a 401 must carry a challenge and a 2xx must not.
    """

    name: str
    token_kind: str
    path: str
    expected_status: int
    authorization: Callable[[DemoContext], str | None]
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


# -- the rows ------------------------------------------------------------------------------------

def _bearer(make: Callable[[DemoContext], str]) -> Callable[[DemoContext], str | None]:
    return lambda ctx: "Bearer " + make(ctx)


def _app(ctx: DemoContext, **kwargs: Any) -> str:
    return ctx.issuer.app_token("daemon-app", scopes=SCOPE, **kwargs)


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


_INVALID = 'error="invalid_token"'
_FORBIDDEN = ('error="insufficient_scope"', f'scope="{SCOPE}"')

CASES: tuple[DemoCase, ...] = (
    DemoCase(name="app-only token, app-only route", token_kind="app-only", path="/app-only",
             expected_status=200, authorization=_bearer(_app)),
    DemoCase(name="user+app token, user+app route", token_kind="user+app", path="/user-and-app",
             expected_status=200,
             authorization=_bearer(lambda c: c.issuer.user_token("alice", "web-app", scopes=SCOPE))),
    DemoCase(name="user token, user-only route", token_kind="user-only", path="/user-only",
             expected_status=200, authorization=_bearer(lambda c: c.issuer.mint({"sub": "alice"}))),
    DemoCase(name="user+app token, app-only route", token_kind="user+app", path="/app-only",
             expected_status=403, challenge_has=_FORBIDDEN,
             authorization=_bearer(lambda c: c.issuer.user_token("alice", "web-app", scopes=SCOPE))),
    DemoCase(name="app-only token, user+app route", token_kind="app-only", path="/user-and-app",
             expected_status=403, challenge_has=_FORBIDDEN, authorization=_bearer(_app)),
    DemoCase(name="missing scope", token_kind="app, no scope", path="/app-only",
             expected_status=403, challenge_has=_FORBIDDEN,
             authorization=_bearer(lambda c: c.issuer.app_token("daemon-app", scopes="orders.write"))),
    DemoCase(name="expired token", token_kind="app, expired", path="/app-only", expected_status=401,
             challenge_has=(_INVALID, "expired"), authorization=_bearer(_expired)),
    DemoCase(name="wrong audience", token_kind="app, other aud", path="/app-only", expected_status=401,
             challenge_has=(_INVALID, "wrong audience"),
             authorization=_bearer(lambda c: _app(c, claims={"aud": "api://billing"}))),
    DemoCase(name="bad signature", token_kind="app, forged sig", path="/app-only", expected_status=401,
             challenge_has=(_INVALID, "bad signature"), authorization=_bearer(_forged)),
    DemoCase(name="unknown issuer", token_kind="app, other iss", path="/app-only", expected_status=401,
             challenge_has=(_INVALID, "unknown issuer"),
             authorization=_bearer(lambda c: _app(c, claims={"iss": "https://rogue.example"}))),
    DemoCase(name="alg none", token_kind="app, unsigned", path="/app-only", expected_status=401,
             challenge_has=(_INVALID, "disallowed algorithm"), authorization=_bearer(_alg_none)),
    DemoCase(name="no Authorization header", token_kind="(none)", path="/app-only",
             expected_status=401, challenge_lacks=("error=",), authorization=lambda c: None),
    DemoCase(name="malformed Authorization header", token_kind="'Bearer' alone", path="/app-only",
             expected_status=400, challenge_has=('error="invalid_request"',),
             authorization=lambda c: "Bearer"),
    DemoCase(name="public /health, no token", token_kind="(none)", path="/health",
             expected_status=200, authorization=lambda c: None),
)


# -- the API and its server -------------------------------------------------------------------

def demo_config(ctx: DemoContext, routes: Sequence[DemoRoute] = ROUTES) -> dict[str, Any]:
    """The guard configuration: one issuer whose JWKS is fetched over HTTP from ``jwks_uri``."""
    issuer = ctx.issuer
    return {
        "audience": [AUDIENCE],
        "public_paths": [r.path for r in routes if r.policy is None],
        "issuers": [{"name": "local", "issuer": issuer.issuer, "algorithms": list(issuer.algorithms),
                     "jwks_uri": issuer.jwks_uri, "typ": "at+jwt"}],
    }


def _endpoint(route: DemoRoute) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        user = request.user
        who = user.to_dict() if isinstance(user, Principal) else None
        return JSONResponse({"route": route.path, "principal": who})

    if route.policy is None:
        return endpoint
    return requires(policy=route.policy, scopes=route.scopes)(endpoint)


def demo_app(guard: Guard, routes: Sequence[DemoRoute] = ROUTES) -> ASGIApp:
    """A Starlette API with one endpoint per route, wrapped by :class:`GuardMiddleware`."""
    return GuardMiddleware(Starlette(routes=[Route(r.path, _endpoint(r)) for r in routes]), guard=guard)


@contextlib.contextmanager
def serve(app: ASGIApp, *, timeout: float = 10.0) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server on a free loopback port; yield its base URL."""
    import uvicorn  # the "server" extra: imported only when a demo actually runs

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", ws="none", log_config=None,
                            log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="s2s-guard-demo", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the demo server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


# -- running the rows ---------------------------------------------------------------------------

def _problems(case: DemoCase, status: int, challenge: str | None) -> tuple[str, ...]:
    problems = [] if status == case.expected_status else [f"got {status}, expected {case.expected_status}"]
    if case.expected_status == 401 and challenge is None:
        problems.append("no WWW-Authenticate challenge")  # RFC 7235 §3.1: a 401 must carry one
    if case.expected_status < 300 and challenge is not None:
        problems.append("unexpected WWW-Authenticate challenge")
    text = challenge or ""
    problems += [f"challenge lacks {s!r}" for s in case.challenge_has if s not in text]
    problems += [f"challenge has {s!r}" for s in case.challenge_lacks if s in text]
    return tuple(problems)


def _run_case(client: httpx.Client, case: DemoCase, ctx: DemoContext) -> CaseResult:
    authorization = case.authorization(ctx)
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get(case.path, headers=headers)
    challenge = response.headers.get("www-authenticate")
    return CaseResult(case, response.status_code, challenge,
                      _problems(case, response.status_code, challenge))


def run_cases(cases: Sequence[DemoCase] = CASES, routes: Sequence[DemoRoute] = ROUTES) -> list[CaseResult]:
    """Start the issuer and the guarded API, send every case over HTTP, stop both."""
    with LocalIssuer(audience=AUDIENCE) as issuer:
        ctx = DemoContext(issuer=issuer, foreign_key=generate_key("ES256", kid="foreign"))
        guard = Guard.from_config(demo_config(ctx, routes))
        with serve(demo_app(guard, routes)) as url, \
                httpx.Client(base_url=url, timeout=10.0, trust_env=False) as client:
            return [_run_case(client, case, ctx) for case in cases]


def run_demo(out: TextIO = sys.stdout, *, cases: Sequence[DemoCase] = CASES,
             routes: Sequence[DemoRoute] = ROUTES) -> int:
    """Run the demo and print its table: 0 when every row matched, 1 otherwise."""
    try:
        results = run_cases(cases, routes)
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        print(f"demo failed: {type(exc).__name__}: {exc}", file=out)
        return 1
    out.write(render(results, routes, realm=AUDIENCE))
    return 0 if all(r.ok for r in results) else 1


# -- the table -----------------------------------------------------------------------------------

WIDTH = 100
_WIDTHS = (32, 16, 13, 14, 5)
_INDENT = "    "
_PARAM_SEP = re.compile(r'(?<="), ')  # between auth-params: a quoted value never holds '"'


def _row(*cells: str) -> str:
    return " ".join(f"{cell:<{width}}" for cell, width in zip(cells, _WIDTHS)).rstrip()


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, width=WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False)


def _challenge_lines(challenge: str | None, realm: str) -> list[str]:
    """The challenge without the shared realm, broken between auth-params to fit :data:`WIDTH`."""
    if challenge is None:
        return []
    shown = challenge.replace(f'realm="{realm}", ', "").replace(f' realm="{realm}"', "")
    pieces = _PARAM_SEP.split(shown)
    pieces = [piece + "," for piece in pieces[:-1]] + pieces[-1:]
    lines = [_INDENT + pieces[0]]
    for piece in pieces[1:]:
        if len(lines[-1]) + 1 + len(piece) <= WIDTH:
            lines[-1] += " " + piece
        else:
            lines += _wrap(piece, _INDENT + "  ", _INDENT + "    ")
    return lines


def _result_lines(result: CaseResult, policies: dict[str, str], realm: str) -> list[str]:
    case = result.case
    status = str(result.status) if result.status == case.expected_status else \
        f"{result.status} (want {case.expected_status})"
    line = _row(case.name, case.token_kind, policies.get(case.path, "?"), status,
                "ok" if result.ok else "FAIL")
    return [line, *_challenge_lines(result.challenge, realm)]


def _summary(results: Sequence[CaseResult]) -> list[str]:
    failed = [r for r in results if not r.ok]
    if not failed:
        return [f"All {len(results)} cases matched."]
    lines = [f"{len(failed)} of {len(results)} cases did not match:"]
    for result in failed:
        lines += _wrap(f"{result.case.name}: {'; '.join(result.problems)}", "  - ", "    ")
    return lines


def render(results: Sequence[CaseResult], routes: Sequence[DemoRoute], *, realm: str) -> str:
    """The routes, then one row per case (challenge on the next line), then the verdict."""
    lines = ["Routes of the demo API:"]
    for route in routes:
        scopes = f"scopes: {' '.join(route.scopes)}" if route.scopes else ""
        lines.append(f"  {route.path:<16} {route.label:<10} {scopes}".rstrip())
    lines += ["", f'Challenges below omit realm="{realm}".', "",
              _row("case", "token kind", "route policy", "HTTP status", "check"),
              _INDENT + "WWW-Authenticate", _row(*("-" * width for width in _WIDTHS))]
    policies = {route.path: route.label for route in routes}
    for result in results:
        lines += _result_lines(result, policies, realm)
    return "\n".join([*lines, "", *_summary(results)]) + "\n"
