"""README: Flask, the principal on flask.g, a readiness probe."""

from flask import Flask, g

from s2s_guard.contrib.flask import Guard

app = Flask(__name__)
app.config["S2S_GUARD"] = "s2s_guard.toml"; guard = Guard(app)     # or guard.init_app(app)


@app.get("/orders")
@guard.require(policy="app-only", scopes=["orders.read"])
def orders() -> dict[str, str]:
    return {"app": g.principal.identity}


@app.get("/ready")
@guard.exempt
def ready() -> tuple[dict[str, object], int]:
    readiness = guard.guard.ready()
    return readiness.to_dict(), 200 if readiness.ok else 503
