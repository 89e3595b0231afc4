"""Starlette: the pure ASGI ``GuardMiddleware`` (deny by default) and ``@requires`` per route.

Run: ``python examples/starlette_app.py`` (serves with uvicorn), ``--check`` for a self-test.
"""

from __future__ import annotations

import sys
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from _demo import HOST, PORT, bearer, check, local_config, print_usage, sample_tokens, start_issuer
from s2s_guard import Guard, GuardMiddleware, requires


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@requires(policy="app-only", scopes=["orders.read"])
async def orders(request: Request) -> JSONResponse:
    return JSONResponse({"orders": [], "app": request.user.identity})


@requires(policy="user+app", scopes=["orders.read"])
async def me(request: Request) -> JSONResponse:
    return JSONResponse(request.user.to_dict())


def create_app(config: dict[str, Any]) -> Starlette:
    app = Starlette(routes=[Route("/health", health), Route("/orders", orders), Route("/me", me)])
    app.add_middleware(GuardMiddleware, guard=Guard.from_config(config))
    return app


def main(argv: list[str]) -> int:
    issuer = start_issuer()
    app, tokens = create_app(local_config(issuer)), sample_tokens(issuer)
    if "--check" in argv:
        from starlette.testclient import TestClient

        with TestClient(app) as client:
            def call(path: str, token: str | None) -> tuple[int, str]:
                response = client.get(path, headers=bearer(token))
                return response.status_code, response.text
            return check(call, tokens)
    import uvicorn

    print_usage(tokens)
    uvicorn.run(app, host=HOST, port=PORT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
