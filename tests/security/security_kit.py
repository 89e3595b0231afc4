"""Tools for the attack suite: a forger that signs any bytes, guards, and one refusal check.

The forger signs arbitrary header and payload bytes with the trusted keys, so a test proves
that the guard refuses a token for the reason it names (duplicate keys, bad UTF-8...) and not
merely because the signature was wrong. :func:`expect_refused` runs each token through
``Guard.authenticate_sync`` *and* the real :class:`GuardMiddleware` over
``httpx.ASGITransport``, and checks the status, the RFC 6750 error and the challenge.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from s2s_guard import AuthError, Guard, GuardMiddleware, Principal, Requirement
from s2s_guard.config import CacheConfig
from s2s_guard.core.keys import b64url

NOW = 1_700_000_000
ISS = "https://issuer.example"
AUD = "api://orders"
SECRET = "an-hmac-secret-of-at-least-32-bytes-long"
#: The order of the P-256 group: r = s = n is another "psychic signature" (CVE-2022-21449).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

AsymmetricKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def encode(part: object) -> bytes:
    """JSON for an object, or the bytes themselves (to forge raw, invalid JSON)."""
    return part if isinstance(part, bytes) else json.dumps(part).encode()


def sign(alg: str, key: AsymmetricKey | bytes, data: bytes) -> bytes:
    """A JWS signature (RFC 7518 §3) over ``data``; ES* as raw R || S."""
    if isinstance(key, bytes):
        return hmac.new(key, data, getattr(hashlib, "sha" + alg[2:])).digest()
    if isinstance(key, rsa.RSAPrivateKey):
        digest: hashes.HashAlgorithm = {"256": hashes.SHA256(), "384": hashes.SHA384(),
                                        "512": hashes.SHA512()}[alg[2:]]
        pad: padding.AsymmetricPadding = padding.PKCS1v15() if alg.startswith("RS") else padding.PSS(
            mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return key.sign(data, pad, digest)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return key.sign(data)


def public_jwk(key: AsymmetricKey, **members: Any) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**jwk, **members}


@dataclass
class Forge:
    """The trusted issuer's keys, and tokens built from any header, payload and signature."""

    rsa: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    ed: ed25519.Ed25519PrivateKey
    kids: dict[str, str] = field(default_factory=lambda: {"RS256": "rsa-1", "PS256": "rsa-1",
                                                          "ES256": "ec-1", "EdDSA": "ed-1"})

    def key_for(self, alg: str) -> AsymmetricKey | bytes:
        if alg.startswith("HS"):
            return SECRET.encode()
        keys: dict[str, AsymmetricKey] = {"RS": self.rsa, "PS": self.rsa, "ES": self.ec, "Ed": self.ed}
        return keys[alg[:2]]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.rsa, kid="rsa-1", use="sig"),
                         public_jwk(self.ec, kid="ec-1", use="sig"),
                         public_jwk(self.ed, kid="ed-1", use="sig")]}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """An app-only RFC 9068 access token's claims, valid at ``NOW``, with overrides."""
        base = {"iss": ISS, "aud": AUD, "iat": NOW, "nbf": NOW, "exp": NOW + 300, "jti": "jti-1",
                "sub": "daemon", "client_id": "daemon", "scope": "orders.read"}
        return {**base, **overrides}

    def header(self, alg: str = "RS256", **overrides: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"alg": alg, "typ": "at+jwt"}
        if alg in self.kids:
            base["kid"] = self.kids[alg]
        return {**base, **overrides}

    def token(self, claims: object = None, header: object = None, *, alg: str = "RS256",
              key: AsymmetricKey | bytes | None = None, signature: bytes | None = None,
              drop: Sequence[str] = ()) -> str:
        """A compact JWS over ``header``/``claims`` (objects or raw bytes), signed unless given."""
        claims = self.claims() if claims is None else claims
        header = self.header(alg) if header is None else header
        if isinstance(claims, dict):
            claims = {k: v for k, v in claims.items() if k not in drop}
        signing_input = f"{b64url(encode(header))}.{b64url(encode(claims))}"
        if signature is None:
            signature = sign(alg, self.key_for(alg) if key is None else key, signing_input.encode())
        return f"{signing_input}.{b64url(signature)}"


def make_guard(forge: Forge, *, top: Mapping[str, Any] | None = None, **issuer: Any) -> Guard:
    """A guard trusting the forge's JWK Set for ``ISS`` at the fixed instant ``NOW``."""
    entry = {"issuer": ISS, "algorithms": ["RS256", "ES256", "EdDSA"], "jwks": forge.jwks(), **issuer}
    config = {"audience": [AUD], "issuers": [entry], **(top or {})}
    return Guard.from_config(config, clock=lambda: NOW)


# -- running a request through both drivers ----------------------------------------------------

Headers = Sequence[tuple[str, bytes]]


async def _whoami(request: Request) -> JSONResponse:
    principal = request.user
    return JSONResponse({"identity": principal.identity, "policy": principal.policy})


async def _through_middleware(guard: Guard, headers: Headers, params: Mapping[str, str],
                              requirement: Requirement | None) -> httpx.Response:
    app = GuardMiddleware(Starlette(routes=[Route("/", _whoami, methods=["GET", "POST"])]),
                          guard=guard, requirement=requirement)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        return await client.get("/", headers=[(k.encode(), v) for k, v in headers], params=dict(params))


def call(guard: Guard, authorization: str | Sequence[str] | None, *,
         params: Mapping[str, str] | None = None, requirement: Requirement | None = None) -> httpx.Response:
    """One GET through the real GuardMiddleware (httpx.ASGITransport)."""
    values = [authorization] if isinstance(authorization, str) else list(authorization or ())
    headers = [("Authorization", value.encode("latin-1")) for value in values]  # ASGI header bytes
    return anyio.run(_through_middleware, guard, headers, params or {}, requirement)


def _headers_of(authorization: str | Sequence[str] | None) -> list[str]:
    return [authorization] if isinstance(authorization, str) else list(authorization or ())


def expect_refused(guard: Guard, authorization: str | Sequence[str] | None, status: int,
                   error: str | None, reason: str | None = None, *,
                   params: Mapping[str, str] | None = None,
                   requirement: Requirement | None = None) -> AuthError:
    """Both drivers refuse with ``status`` and RFC 6750 ``error`` (and ``reason`` when given)."""
    query = list((params or {}).values()) if params and "access_token" in params else []
    try:
        principal = guard.authenticate_sync(_headers_of(authorization), requirement, query_tokens=query)
    except AuthError as exc:
        refused = exc
    else:
        raise AssertionError(f"accepted: {principal!r}")
    assert (refused.status_code, refused.error) == (status, error), refused.to_dict()
    if reason is not None:
        assert refused.reason == reason, (refused.reason, refused.detail)
    response = call(guard, authorization, params=params, requirement=requirement)
    assert response.status_code == status, response.text
    _check_response(response, refused)
    return refused


def _check_response(response: httpx.Response, refused: AuthError) -> None:
    """RFC 6750 §3: the challenge names the error; the body is fixed text, never the token."""
    body = response.json()
    assert body.get("error") == refused.error and body.get("error_description") == refused.description
    challenge = response.headers.get("www-authenticate")
    if refused.status_code == 503:
        assert response.headers["retry-after"].isdigit()
    elif refused.error is None:
        assert challenge is not None and challenge.startswith("Bearer") and "error=" not in challenge
    else:
        assert challenge is not None and f'error="{refused.error}"' in challenge
    assert response.headers.get("cache-control") == "no-store"


def expect_accepted(guard: Guard, authorization: str | Sequence[str], **kwargs: Any) -> Principal:
    """Both drivers accept (positive controls: the forge makes valid tokens)."""
    principal = guard.authenticate_sync(_headers_of(authorization), **kwargs)
    response = call(guard, authorization)
    assert response.status_code == 200, response.text
    return principal


async def _raw_asgi(guard: Guard, headers: list[tuple[bytes, bytes]], query: bytes) -> RawResponse:
    app = GuardMiddleware(Starlette(routes=[Route("/", _whoami)]), guard=guard)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/", "raw_path": b"/", "root_path": "", "query_string": query,
             "headers": headers, "client": ("127.0.0.1", 1234), "server": ("api", 80)}
    sent: list[Mapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return RawResponse(start["status"], {k.decode("latin-1").lower(): v.decode("latin-1")
                                         for k, v in start["headers"]}, body)


@dataclass(frozen=True)
class RawResponse:
    """What a pure ASGI call sent back: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def call_raw(guard: Guard, headers: list[tuple[bytes, bytes]], query: bytes = b"") -> RawResponse:
    """One request as raw ASGI bytes (header values httpx would refuse to send: CR, LF, NUL, 8-bit)."""
    return anyio.run(_raw_asgi, guard, headers, query)


def bearer(token: str) -> str:
    return f"Bearer {token}"


# -- an introspection endpoint whose answers a test sets -------------------------------------------

class IntrospectionServer:
    """A real RFC 7662 endpoint on 127.0.0.1 that answers ``reply`` and counts its calls."""

    def __init__(self) -> None:
        self.reply: tuple[int, str, bytes] = (200, "application/json", b'{"active": false}')
        self.calls = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/introspect"

    def answer(self, body: object, *, status: int = 200, content_type: str = "application/json") -> None:
        """Answer every call with ``body`` (JSON for objects, as is for bytes)."""
        self.reply = (status, content_type, encode(body))

    def __enter__(self) -> IntrospectionServer:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.calls += 1
                status, content_type, body = server.reply
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


CACHE_SECRET = "a-redis-record-hmac-key-of-32-bytes-or-more"


def redis_cache(url: str, **extra: Any) -> dict[str, Any]:
    """``[cache]`` on a test's redis-server. The secret is set only where the library knows the
    key, so that the hardening tests also run on the unfixed commit (f84b319) and fail there for
    the reason under test, not for an unknown configuration key."""
    cache: dict[str, Any] = {"backend": "redis", "url": url, "revoked_refresh": 0, **extra}
    if "secret" in CacheConfig.__dataclass_fields__:
        cache["secret"] = CACHE_SECRET
    return cache
