"""Real servers on 127.0.0.1 for the client tests: a local issuer and a guarded uvicorn app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from client_support import AUD, CLIENT_ID, CLIENT_SECRET, Api, CountStatuses, whoami
from loopback import serve_uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from s2s_guard import Guard, GuardMiddleware
from s2s_guard.testing import LocalIssuer, SigningKey, generate_key


@pytest.fixture(scope="session")
def issuer_key() -> SigningKey:
    return generate_key("RS256")  # RSA generation is the slow part: once per session


@pytest.fixture
def issuer(issuer_key: SigningKey) -> Iterator[LocalIssuer]:
    with LocalIssuer(audience=AUD, algorithms=("RS256",), keys=[issuer_key]) as iss:
        iss.register_client(CLIENT_ID, secret=CLIENT_SECRET, scopes=["orders.read", "orders.write"])
        yield iss


@pytest.fixture
def serve_api(issuer: LocalIssuer) -> Iterator[Callable[..., Api]]:
    """``serve_api(audience=AUD, **issuer_options)``: a Starlette app behind GuardMiddleware."""
    with ExitStack() as running:
        def start(audience: str = AUD, **issuer_options: Any) -> Api:
            guard = Guard.from_config(issuer.guard_config(audience=audience, **issuer_options))
            app = Starlette(routes=[Route("/whoami", whoami, methods=["GET", "POST"])])
            api = Api(url="", guard=guard)
            counted = CountStatuses(GuardMiddleware(app, guard=guard), api)
            port = running.enter_context(serve_uvicorn(counted, http="h11"))
            api.url = f"http://127.0.0.1:{port}"
            return api

        yield start
