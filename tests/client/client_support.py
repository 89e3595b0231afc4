"""Helpers for the client tests: the API's record, a status-counting ASGI wrapper, its route, a stale token."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from s2s_guard import Guard
from s2s_guard.testing import LocalIssuer

AUD = "api://orders"
CLIENT_ID, CLIENT_SECRET = "billing", "billing-secret-0123456789"


@dataclass
class Api:
    """A guarded API on loopback: its base URL and what it answered."""

    url: str
    guard: Guard
    statuses: Counter[int] = field(default_factory=Counter)


class CountStatuses:
    """Pure ASGI wrapper outside the guard: counts every response status."""

    def __init__(self, app: ASGIApp, api: Api) -> None:
        self.app, self.api = app, api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.api.statuses[message["status"]] += 1
            await send(message)

        await self.app(scope, receive, counting_send)


async def whoami(request: Request) -> JSONResponse:
    """The principal the guard attached, as JSON."""
    return JSONResponse(request.user.to_dict())


def stale_first_token(issuer: LocalIssuer) -> None:
    """Make the issuer's next token expired on arrival (its clock 2 h behind, once)."""
    readings = [time.time() - 7200]
    issuer.clock = lambda: readings.pop() if readings else time.time()
