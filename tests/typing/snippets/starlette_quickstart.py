"""README: the Starlette quickstart, with a Kubernetes readiness probe."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from s2s_guard import Guard, GuardMiddleware, Principal, requires

guard = Guard.from_config("s2s_guard.toml")          # public_paths = ["/ready"]


@requires(policy="app-only", scopes=["orders.read"])
async def list_orders(request: Request) -> JSONResponse:
    caller: Principal = request.user
    return JSONResponse({"caller": caller.require_app().client_id})


async def ready(request: Request) -> JSONResponse:    # readinessProbe: httpGet /ready
    readiness = await guard.aready()                  # fetches keys once, then answers from cache
    return JSONResponse(readiness.to_dict(), status_code=200 if readiness.ok else 503)


app = Starlette(routes=[Route("/orders", list_orders), Route("/ready", ready)])
app.add_middleware(GuardMiddleware, guard=guard)      # pure ASGI, denies by default
