"""README: FastAPI, deny by default, an exempt readiness probe."""

from fastapi import FastAPI, Security
from fastapi.responses import JSONResponse

from s2s_guard import Principal
from s2s_guard.contrib.fastapi import FastAPIGuard

guard = FastAPIGuard.from_config("s2s_guard.toml"); app = FastAPI(); guard.init_app(app)


@app.get("/orders")
def orders(caller: Principal = Security(guard.require(policy="app-only"), scopes=["orders.read"])) -> dict[str, str]:
    return {"app": caller.require_app().client_id}


@app.get("/ready")
@guard.exempt                                         # public: no token needed
async def ready() -> JSONResponse:
    readiness = await guard.guard.aready()
    return JSONResponse(readiness.to_dict(), status_code=200 if readiness.ok else 503)
