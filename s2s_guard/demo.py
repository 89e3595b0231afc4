"""RFC 6750 end to end: a local issuer, a guarded API on a real uvicorn server, real requests.

``s2s-guard demo`` sends every :data:`~s2s_guard.demo_cases.CASES` row to the matching
:data:`~s2s_guard.demo_cases.ROUTES` entry and prints what came back
(:mod:`s2s_guard.demo_table`). The guard trusts every token family the local issuer mints
(:func:`~s2s_guard.testing.trust_config`), with ``[[grants]]`` for the SharePoint routes.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TextIO

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from .asgi import GuardMiddleware, requires
from .client import TokenError
from .demo_cases import (AUDIENCE, CASES, GRANTS, MIDDLE_TIER, ROUTES, SHAREPOINT_HOST, CaseResult,
                         DemoCase, DemoContext, DemoRoute, user_permissions)
from .demo_cases import SCOPE, dpop_issuer
from .demo_table import render
from .guard import Guard
from .principal import Principal
from .testing import LocalIssuer, generate_key, trust_config
from .testing.dpop import DPoPAuth, DPoPKey, bound_token

__all__ = ["AUDIENCE", "CASES", "ROUTES", "CaseResult", "DemoCase", "DemoContext", "DemoRoute",
           "demo_app", "demo_config", "demo_context", "render", "run_cases", "run_demo", "serve"]


def demo_context(issuer: LocalIssuer, token_client: httpx.Client) -> DemoContext:
    """Register the demo's clients at ``issuer`` and gather what the rows need."""
    secret = secrets.token_urlsafe(16)
    issuer.register_client(MIDDLE_TIER, secret=secret)  # exchanges user tokens (RFC 8693)
    key = DPoPKey()
    token = bound_token(issuer, key, scopes=SCOPE, claims={"iss": dpop_issuer(issuer)})
    return DemoContext(issuer=issuer, foreign_key=generate_key("ES256", kid="foreign"),
                       token_client=token_client, secrets={MIDDLE_TIER: secret},
                       dpop=DPoPAuth(token, key))


def demo_config(ctx: DemoContext, routes: Sequence[DemoRoute] = ROUTES) -> dict[str, Any]:
    """The guard configuration: every family of the issuer, public routes, the add-in's grants."""
    config = trust_config(ctx.issuer, host=SHAREPOINT_HOST, grants=list(GRANTS),
                          public_paths=[r.path for r in routes if r.policy is None])
    dpop = {**config["issuers"][0], "name": "local-dpop", "issuer": dpop_issuer(ctx.issuer),
            "dpop": "allowed"}
    return {**config, "issuers": [*config["issuers"], dpop], "dpop": {"algorithms": ["ES256"]}}


def _endpoint(route: DemoRoute) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        user = request.user
        who = user.to_dict() if isinstance(user, Principal) else None
        return JSONResponse({"route": route.path, "principal": who})

    if route.policy is None:
        return endpoint
    resource = route.path if route.right is not None else None
    return requires(policy=route.policy, scopes=route.scopes, right=route.right, resource=resource)(endpoint)


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
    credentials = case.authorization(ctx)
    if isinstance(credentials, httpx.Auth):
        response = client.get(case.path, auth=credentials)  # the caller's side obtains the token
    else:
        headers = {} if credentials is None else {"Authorization": credentials}
        response = client.get(case.path, headers=headers)
    challenge = response.headers.get("www-authenticate")
    return CaseResult(case, response.status_code, challenge,
                      _problems(case, response.status_code, challenge))


def run_cases(cases: Sequence[DemoCase] = CASES, routes: Sequence[DemoRoute] = ROUTES) -> list[CaseResult]:
    """Start the issuer and the guarded API, send every case over HTTP, stop both."""
    with LocalIssuer(audience=AUDIENCE) as issuer, \
            httpx.Client(timeout=10.0, trust_env=False) as token_client:
        ctx = demo_context(issuer, token_client)
        guard = Guard.from_config(demo_config(ctx, routes), user_permissions=user_permissions)
        try:
            with serve(demo_app(guard, routes)) as url, \
                    httpx.Client(base_url=url, timeout=10.0, trust_env=False) as client:
                return [_run_case(client, case, ctx) for case in cases]
        finally:
            guard.close()


def run_demo(out: TextIO = sys.stdout, *, cases: Sequence[DemoCase] = CASES,
             routes: Sequence[DemoRoute] = ROUTES) -> int:
    """Run the demo and print its table: 0 when every row matched, 1 otherwise."""
    try:
        results = run_cases(cases, routes)
    except (RuntimeError, OSError, httpx.HTTPError, TokenError) as exc:
        print(f"demo failed: {type(exc).__name__}: {exc}", file=out)
        return 1
    out.write(render(results, routes, realm=AUDIENCE))
    return 0 if all(r.ok for r in results) else 1
