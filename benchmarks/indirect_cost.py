"""Where the cold path's time goes, in place: s2s_guard vs the floor, with and without the app.

Run: ``.venv/bin/python benchmarks/indirect_cost.py``. Not a test. The signature check is
stubbed out for the "no verify" rows (``s2s_guard.pipeline.checks.verify_jws``), and each middleware runs
in front of the bench's Starlette app and in front of a no-op ASGI app, so the table separates
the middleware's own work from what it does to the speed of the app behind it (cache effects).
Same ``measure()`` as bench.py: interleaved rounds, best round kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

import s2s_guard.pipeline.checks as checks_module  # noqa: E402
from s2s_guard import Guard, GuardMiddleware  # noqa: E402


async def noop(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


class Busy:
    """Other Python work before the app (a JSON parse), to compare the app's slowdown with."""

    def __init__(self, app: Any) -> None:
        self.app, self.doc = app, json.dumps({f"k{i}": i for i in range(60)})

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        json.loads(self.doc)
        return self.app(scope, receive, send)


async def main() -> None:
    keys = bench.make_keys()
    jwks = {"keys": [bench.public_jwk(alg, key) for alg, key in keys.items()]}
    token = bench.mint("RS256", keys["RS256"])
    rows: dict[str, float] = {}
    for stub in (False, True):
        if stub:
            checks_module.verify_jws = lambda *args: None  # type: ignore[assignment]
        guard = Guard.from_config(bench.guard_config(jwks, verified=False))
        suffix = " (no verify)" if stub else ""
        contenders = [
            ("bare Starlette", "-", bench.bare_app(), None), ("no-op app", "-", noop, None),
            ("JSON work + Starlette", "-", Busy(bench.bare_app()), None), ("JSON work + no-op", "-", Busy(noop), None),
            ("floor + Starlette", "-", bench.FloorMiddleware(bench.bare_app(), "RS256", keys["RS256"]), token),
            ("floor + no-op", "-", bench.FloorMiddleware(noop, "RS256", keys["RS256"]), token),
            ("s2s_guard cold + Starlette" + suffix, "-", GuardMiddleware(bench.bare_app(), guard=guard), token),
            ("s2s_guard cold + no-op" + suffix, "-", GuardMiddleware(noop, guard=guard), token),
        ]
        if stub:
            contenders = contenders[-2:]
        for name, _alg, value in await bench.measure(contenders, 1000, 12):  # type: ignore[arg-type]
            rows[name] = value or 0.0
    print("| contender | µs/request | the app's share (vs its no-op twin + bare) |")
    print("|---|---:|---:|")
    base = rows["bare Starlette"] - rows["no-op app"]
    for name, value in rows.items():
        twin = name.replace("+ Starlette", "+ no-op")
        share = f"{value - rows[twin] + rows['no-op app']:.1f} (alone: {base + rows['no-op app']:.1f})" \
            if twin != name and twin in rows else ""
        print(f"| {name} | {value:.1f} | {share} |")


if __name__ == "__main__":
    asyncio.run(main())
