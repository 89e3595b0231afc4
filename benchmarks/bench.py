"""s2s_guard benchmark: per-request cost through ASGI in-process, against four baselines.

Run with ``make bench`` (installs Authlib into the venv for baseline d). One run, the same
tokens for every contender:

  (a) the bare Starlette app
  (b) the floor: a minimal pure-ASGI middleware (strict base64url split, json.loads, one
      cryptography verify with a pre-loaded key, exp/aud/iss checks)
  (c) the same middleware calling PyJWT's jwt.decode with a pre-loaded key
  (d) Authlib's ResourceProtector with its RFC 9068 JWTBearerTokenValidator (pre-loaded keys)

then s2s_guard cold (verified-token cache off) for RS256, ES256 and EdDSA, warm (cache on,
the same token again), and on introspection-cache hits. Extra reports: JWKS calls for 1,000
unknown kids, introspection calls for 200 concurrent cold requests, RSS after many distinct
tokens, and uvicorn requests/s guarded vs bare on loopback. Not a test: it prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import binascii
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (ALGS, AUD, ISS, ASGIApp, bare_app, guard_config, guarded,  # noqa: E402,F401 (also read as bench.X)
                    make_keys, mint, public_jwk)
from extras import (introspection_server, jwks_calls_for_unknown_kids,  # noqa: E402
                    introspection_calls_for_cold_token, rss_after_distinct_tokens, uvicorn_share)

from s2s_guard import Guard  # noqa: E402

# -- the app and the baselines -------------------------------------------------------------------

_B64 = bytes.maketrans(b"-_", b"+/")


def b64url(part: bytes) -> bytes:
    return binascii.a2b_base64(part.translate(_B64) + b"=" * (-len(part) % 4), strict_mode=True)


async def _deny(send: Any) -> None:
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"www-authenticate", b"Bearer")]})
    await send({"type": "http.response.body", "body": b""})


def _authorization(scope: dict[str, Any]) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value)
    return None


def floor_verifier(alg: str, key: Any) -> Callable[[bytes, bytes], None]:
    pub = key.public_key()
    if alg == "RS256":
        return lambda sig, data: pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "ES256":
        def verify_es(sig: bytes, data: bytes) -> None:
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            pub.verify(der, data, ec.ECDSA(hashes.SHA256()))
        return verify_es
    return lambda sig, data: pub.verify(sig, data)


class FloorMiddleware:
    """(b) only what must be done: strict split, json.loads, one verify, exp/aud/iss."""

    def __init__(self, app: ASGIApp, alg: str, key: Any) -> None:
        self.app, self.alg, self.verify = app, alg, floor_verifier(alg, key)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        auth = _authorization(scope)
        if auth is None or not auth.startswith(b"Bearer "):
            return await _deny(send)
        parts = auth[7:].split(b".")
        try:
            if len(parts) != 3:
                raise ValueError("parts")
            header, claims = json.loads(b64url(parts[0])), json.loads(b64url(parts[1]))
            if header.get("alg") != self.alg:
                raise ValueError("alg")
            self.verify(b64url(parts[2]), auth[7:7 + len(parts[0]) + 1 + len(parts[1])])
        except Exception:
            return await _deny(send)
        if claims.get("iss") != ISS or claims.get("aud") != AUD or not claims.get("exp", 0) > time.time():
            return await _deny(send)
        scope["user"] = claims
        await self.app(scope, receive, send)


class PyJWTMiddleware:
    """(c) the usual Python approach: jwt.decode with a pre-loaded key."""

    def __init__(self, app: ASGIApp, alg: str, key: Any) -> None:
        self.app, self.alg, self.key = app, alg, key.public_key()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        auth = _authorization(scope)
        if auth is None or not auth.startswith(b"Bearer "):
            return await _deny(send)
        try:
            claims = jwt.decode(auth[7:], self.key, algorithms=[self.alg], audience=AUD, issuer=ISS)
        except jwt.PyJWTError:
            return await _deny(send)
        scope["user"] = claims
        await self.app(scope, receive, send)


class _AuthlibRequest:
    def __init__(self, scope: dict[str, Any]) -> None:
        self.headers = {"Authorization": (_authorization(scope) or b"").decode("latin-1")}


def authlib_middleware(jwks: dict[str, Any]) -> Callable[[ASGIApp], ASGIApp] | None:
    """(d) Authlib's ResourceProtector + RFC 9068 JWTBearerTokenValidator, keys pre-imported."""
    try:
        from authlib.oauth2 import OAuth2Error, ResourceProtector
        from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
        from joserfc.jwk import KeySet
    except ImportError:
        return None
    keyset = KeySet.import_key_set(jwks)

    class Validator(JWTBearerTokenValidator):  # type: ignore[misc]
        def get_jwks(self) -> Any:
            return keyset

    protector = ResourceProtector()
    protector.register_token_validator(Validator(issuer=ISS, resource_server=AUD))

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
            try:
                token = protector.validate_request(scopes=None, request=_AuthlibRequest(scope))
            except OAuth2Error:
                return await _deny(send)
            scope["user"] = token
            await app(scope, receive, send)
        return middleware
    return wrap


# -- the measurement ------------------------------------------------------------------------------

async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _scope(token: str | None) -> dict[str, Any]:
    headers = [(b"host", b"bench"), (b"user-agent", b"bench/1"), (b"accept", b"*/*")]
    if token is not None:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/orders", "raw_path": b"/orders", "root_path": "",
            "query_string": b"", "headers": headers, "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000)}


async def _check_accepted(app: ASGIApp, token: str | None) -> bool:
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(_scope(token), _receive, send)
    return statuses[-1] == 200


async def _round(app: ASGIApp, token: str | None, n: int) -> float:
    async def send(message: dict[str, Any]) -> None:
        pass

    template = _scope(token)
    started = time.perf_counter()
    for _ in range(n):
        await app(dict(template), _receive, send)
    return (time.perf_counter() - started) / n * 1e6


Row = tuple[str, str, float | None]
Contender = tuple[str, str, ASGIApp | None, str | None]


async def measure(contenders: list[Contender], n: int, rounds: int) -> list[Row]:
    """Best mean µs/request per contender; rounds interleave contenders so load noise hits all alike."""
    live = [c for c in contenders if c[2] is not None and await _check_accepted(c[2], c[3])]
    best: dict[int, float] = {}
    for _ in range(rounds):
        for _name, _alg, app, token in live:
            value = await _round(app, token, n)  # type: ignore[arg-type]
            best[id(app)] = min(best.get(id(app), value), value)
    return [(name, alg, best.get(id(app)) if app is not None else None) for name, alg, app, _ in contenders]


async def run_table(n: int, rounds: int, keys: dict[str, Any]) -> list[Row]:
    jwks = {"keys": [public_jwk(alg, key) for alg, key in keys.items()]}
    tokens = {alg: mint(alg, keys[alg]) for alg in ALGS}
    authlib = authlib_middleware(jwks)
    contenders: list[Contender] = [("(a) bare Starlette", "-", bare_app(), None)]
    for alg in ALGS:
        key, token = keys[alg], tokens[alg]
        contenders += [
            ("(b) floor middleware", alg, FloorMiddleware(bare_app(), alg, key), token),
            ("(c) PyJWT jwt.decode", alg, PyJWTMiddleware(bare_app(), alg, key), token),
            ("(d) Authlib ResourceProtector", alg, authlib(bare_app()) if authlib else None, token),
            ("s2s_guard cold (cache off)", alg,
             guarded(bare_app(), Guard.from_config(guard_config(jwks, verified=False))), token)]
    warm = Guard.from_config(guard_config(jwks, verified=True))
    contenders.append(("s2s_guard warm (verified cache)", "RS256", guarded(bare_app(), warm), tokens["RS256"]))
    # Not targets: what the default audit-log instrumentation costs when its logger is off.
    for label, verified in (("cold", False), ("warm", True)):
        quiet = Guard.from_config(guard_config(jwks, verified=verified, audit=False))
        contenders.append((f"s2s_guard {label}, audit log off", "RS256", guarded(bare_app(), quiet),
                           tokens["RS256"]))
    with introspection_server(ISS, AUD) as url:
        config = {"audience": [AUD], "cache": {"verified": False},
                  "issuers": [{"issuer": ISS, "validation": "introspect"}],
                  "introspection": {"endpoint": url, "client_id": "bench", "client_secret": "s"}}
        intro = guarded(bare_app(), Guard.from_config(config))
        await _check_accepted(intro, "opaque-token-1")  # the one introspection call
    contenders.append(("s2s_guard introspection cache hit", "opaque", intro, "opaque-token-1"))
    return await measure(contenders, n, rounds)


def _value(rows: list[Row], name: str, alg: str) -> float | None:
    return next((v for n, a, v in rows if n.startswith(name) and a == alg), None)


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value and base else "n/a"


def render(rows: list[Row]) -> list[str]:
    bare = _value(rows, "(a)", "-")
    lines = ["| contender | alg | µs/request | vs bare (a) | vs floor (b) | vs PyJWT (c) |",
             "|---|---|---:|---:|---:|---:|"]
    for name, alg, value in rows:
        floor_alg = alg if alg in ALGS else "RS256"
        floor, pyjwt = _value(rows, "(b)", floor_alg), _value(rows, "(c)", floor_alg)
        shown = f"{value:.1f}" if value is not None else "n/a"
        lines.append(f"| {name} | {alg} | {shown} | {_ratio(value, bare)} | {_ratio(value, floor)} "
                     f"| {_ratio(value, pyjwt)} |")
    return lines


def verdicts(rows: list[Row]) -> list[str]:
    bare = _value(rows, "(a)", "-") or 0
    out = []
    for alg in ALGS:
        cold, floor = _value(rows, "s2s_guard cold", alg) or 0, _value(rows, "(b)", alg) or 1
        out.append(f"- cold {alg}: {cold / floor:.2f}x the floor (target <= 1.30x): "
                   f"{'MET' if cold <= 1.3 * floor else 'MISSED'}")
    warm = _value(rows, "s2s_guard warm", "RS256") or 0
    out.append(f"- warm: {warm / bare:.2f}x the bare app (target <= 1.30x): {'MET' if warm <= 1.3 * bare else 'MISSED'}")
    for label, name in (("PyJWT (c)", "(c)"), ("Authlib (d)", "(d)")):
        base = _value(rows, name, "RS256")
        if base:
            out.append(f"- warm vs {label} on RS256: {base / warm:.1f}x faster (target >= 5x): "
                       f"{'MET' if base >= 5 * warm else 'MISSED'}")
    cold_rs, pyjwt_rs = _value(rows, "s2s_guard cold", "RS256") or 0, _value(rows, "(c)", "RS256") or 0
    out.append(f"- cold RS256 vs PyJWT (c): {pyjwt_rs / cold_rs:.2f}x faster (target >= 2x; the floor "
               f"itself is {pyjwt_rs / (_value(rows, '(b)', 'RS256') or 1):.2f}x)")
    quiet_cold, quiet_warm = _value(rows, "s2s_guard cold, audit", "RS256"), _value(rows, "s2s_guard warm, audit", "RS256")
    if quiet_cold and quiet_warm:  # not targets: the default audit-log wrapper's share
        out.append(f"- with the audit log off: cold RS256 {quiet_cold / (_value(rows, '(b)', 'RS256') or 1):.2f}x "
                   f"the floor, warm {quiet_warm / bare:.2f}x the bare app (information, not a target)")
    return out


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    import cryptography
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, cryptography {cryptography.__version__}, PyJWT {jwt.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=1_000_000, help="distinct tokens for the RSS report")
    parser.add_argument("--load", type=int, default=20_000, help="requests per uvicorn load run")
    parser.add_argument("--skip-extras", action="store_true")
    args = parser.parse_args()
    keys = make_keys()
    print(f"machine: {machine()}\n")
    rows = asyncio.run(run_table(args.n, args.rounds, keys))
    print("\n".join(render(rows)))
    print("\ntargets:\n" + "\n".join(verdicts(rows)))
    if args.skip_extras:
        return
    print("\nextra reports:")
    print(f"- JWKS HTTP calls for 1,000 requests with 1,000 random unknown kids: {jwks_calls_for_unknown_kids(keys)}")
    print(f"- introspection calls for 200 concurrent requests with one cold token: "
          f"{introspection_calls_for_cold_token(ISS, AUD)}")
    print(f"- {rss_after_distinct_tokens(args.tokens)}")
    print(f"- {uvicorn_share(keys, args.load)}")


if __name__ == "__main__":
    main()
