"""FastAPI: ``Security(guard.require(...), scopes=[...])`` returns the Principal; OpenAPI shows the lock.

Run: ``python examples/fastapi_app.py`` (uvicorn; open /docs), ``--check`` for a self-test.
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures at runtime.
import sys
from typing import Annotated, Any

from fastapi import FastAPI, Security

from _demo import HOST, PORT, bearer, check, local_config, print_usage, sample_tokens, start_issuer
from s2s_guard import Principal
from s2s_guard.contrib.fastapi import FastAPIGuard


def create_app(config: dict[str, Any]) -> FastAPI:
    guard = FastAPIGuard.from_config(config)
    app = FastAPI(title="orders")
    guard.init_app(app)  # refusals become RFC 6750 responses

    AppCaller = Annotated[Principal, Security(guard.require(policy="app-only"), scopes=["orders.read"])]
    UserCaller = Annotated[Principal, Security(guard.require(policy="user+app", scopes=["orders.read"]))]

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/orders")
    def orders(caller: AppCaller) -> dict[str, Any]:
        return {"orders": [], "app": caller.identity}

    @app.get("/me")
    def me(caller: UserCaller) -> dict[str, Any]:
        return caller.to_dict()

    return app


def main(argv: list[str]) -> int:
    issuer = start_issuer()
    app, tokens = create_app(local_config(issuer)), sample_tokens(issuer)
    if "--check" in argv:
        from fastapi.testclient import TestClient

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
