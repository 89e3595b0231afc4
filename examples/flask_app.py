"""Flask: the ``Guard`` extension (config from ``app.config["S2S_GUARD"]``) and ``@guard.require``.

Run: ``python examples/flask_app.py`` (Werkzeug's dev server), ``--check`` for a self-test.
"""

from __future__ import annotations

import sys
from typing import Any

from flask import Flask, g

from _demo import HOST, PORT, bearer, check, local_config, print_usage, sample_tokens, start_issuer
from s2s_guard.contrib.flask import Guard, get_principal

guard = Guard()


def create_app(config: dict[str, Any]) -> Flask:
    app = Flask(__name__)
    app.config["S2S_GUARD"] = config  # or a path to a TOML/JSON file
    guard.init_app(app)  # deny by default: only /health (public_paths) is open

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/orders")
    @guard.require(policy="app-only", scopes=["orders.read"])
    def orders() -> dict[str, Any]:
        return {"orders": [], "app": g.principal.identity}

    @app.get("/me")
    @guard.require(policy="user+app", scopes=["orders.read"])
    def me() -> dict[str, Any]:
        principal = get_principal()
        return principal.to_dict() if principal is not None else {}

    return app


def main(argv: list[str]) -> int:
    issuer = start_issuer()
    app, tokens = create_app(local_config(issuer)), sample_tokens(issuer)
    if "--check" in argv:
        client = app.test_client()

        def call(path: str, token: str | None) -> tuple[int, str]:
            response = client.get(path, headers=bearer(token))
            return response.status_code, response.get_data(as_text=True)
        return check(call, tokens)
    print_usage(tokens)
    app.run(host=HOST, port=PORT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
