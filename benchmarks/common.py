"""What the benchmark scripts share: the issuer, keys and tokens, the app, the guard's configuration.

``bench.py`` measures and ``extras.py`` adds the reports that need servers; both import this
module, so neither imports the other back (``extras`` used to import ``bench`` inside functions).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from s2s_guard import Guard, GuardMiddleware

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
ISS = "https://idp.bench.test"
AUD = "api://bench"
ALGS = ("RS256", "ES256", "EdDSA")


# -- keys and tokens ---------------------------------------------------------------------------

def make_keys() -> dict[str, Any]:
    return {"RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ES256": ec.generate_private_key(ec.SECP256R1()),
            "EdDSA": ed25519.Ed25519PrivateKey.generate()}


def public_jwk(alg: str, key: Any) -> dict[str, Any]:
    pub = key.public_key()
    cls = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[alg]
    return {**cls.to_jwk(pub, as_dict=True), "kid": f"k-{alg}", "alg": alg, "use": "sig"}


def mint(alg: str, key: Any, **extra: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "sub": "svc-billing", "client_id": "svc-billing",
              "scope": "orders.read orders.write", "iat": now, "nbf": now, "exp": now + 3600,
              "jti": os.urandom(8).hex(), **extra}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": f"k-{alg}", "typ": "at+jwt"})


# -- the app and the guard ------------------------------------------------------------------------

async def hello(request: Any) -> PlainTextResponse:
    return PlainTextResponse("ok")


def bare_app() -> Starlette:
    return Starlette(routes=[Route("/orders", hello)])


def guard_config(jwks: dict[str, Any], *, verified: bool, audit: bool = True) -> dict[str, Any]:
    return {"audience": [AUD], "cache": {"verified": verified}, "telemetry": {"audit": audit},
            "issuers": [{"issuer": ISS, "algorithms": list(ALGS), "jwks": jwks}]}


def guarded(app: ASGIApp, guard: Guard) -> ASGIApp:
    return GuardMiddleware(app, guard=guard)  # type: ignore[return-value]
