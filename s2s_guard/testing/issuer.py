"""A local token issuer for tests and demos: signing keys, token minting and a JWKS over HTTP.

It runs on 127.0.0.1 in a thread, counts the hits on each path, and can rotate its keys or
answer errors, so tests exercise real HTTP the way a production identity provider is used.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

__all__ = ["LocalIssuer", "SigningKey"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class SigningKey:
    """A private key, its ``kid`` and the algorithm it signs with."""

    kid: str
    alg: str
    key: PrivateKey

    def public_jwk(self) -> dict[str, Any]:
        public = self.key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}


def generate_key(alg: str, kid: str | None = None) -> SigningKey:
    """A fresh private key for ``alg`` (RSA 2048, the matching EC curve, or Ed25519)."""
    kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
    key: PrivateKey
    if alg.startswith(("RS", "PS")):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg in _CURVES:
        key = ec.generate_private_key(_CURVES[alg]())
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"no key generator for {alg}")
    return SigningKey(kid=kid, alg=alg, key=key)


class LocalIssuer:
    """An issuer on 127.0.0.1: ``start()``, ``mint(...)``, ``jwks_uri``, ``rotate()``, ``stop()``."""

    def __init__(self, *, issuer: str | None = None, algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA"),
                 audience: str = "api://demo", clock: Callable[[], float] = time.time) -> None:
        self.algorithms = algorithms
        self.keys: list[SigningKey] = [generate_key(alg) for alg in algorithms]
        self.audience = audience
        self.clock = clock
        self.hits: Counter[str] = Counter()
        self.fail_with: int | None = None  # answer this status on every request while set
        self.routes: dict[str, Callable[[LocalIssuer], tuple[int, bytes, str]]] = {"/jwks": _jwks_route}
        self._server: ThreadingHTTPServer | None = None
        self._issuer = issuer

    # -- server ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("issuer not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def issuer(self) -> str:
        return self._issuer or self.url

    @property
    def jwks_uri(self) -> str:
        return self.url + "/jwks"

    def start(self) -> LocalIssuer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="s2s-local-issuer", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys]}

    def rotate(self, alg: str = "RS256", *, keep_old: bool = False) -> SigningKey:
        """Add a new key for ``alg`` (first in line for minting); drop the old ones unless kept."""
        new = generate_key(alg)
        old = [k for k in self.keys if keep_old or k.alg != alg]
        self.keys = [new, *old]
        return new

    def key_for(self, alg: str) -> SigningKey:
        for key in self.keys:
            if key.alg == alg:
                return key
        raise KeyError(f"no key for {alg}; add it with rotate({alg!r})")

    # -- tokens -----------------------------------------------------------------------------
    def mint(self, claims: Mapping[str, Any] | None = None, *, alg: str = "RS256", ttl: float = 300,
             headers: Mapping[str, Any] | None = None, key: Any = None, omit: tuple[str, ...] = ()) -> str:
        """A signed token with sensible defaults (iss, aud, iat, nbf, exp, jti) that ``claims`` override."""
        now = int(self.clock())
        body: dict[str, Any] = {"iss": self.issuer, "aud": self.audience, "iat": now, "nbf": now,
                                "exp": now + int(ttl), "jti": uuid.uuid4().hex}
        body.update(claims or {})
        for name in omit:
            body.pop(name, None)
        signing = self.key_for(alg) if key is None else None
        header = {"kid": signing.kid, "typ": "at+jwt"} if signing else {"typ": "at+jwt"}
        header.update(headers or {})
        return jwt.encode(body, signing.key if signing else key, algorithm=alg, headers=header)

    def app_token(self, client_id: str = "daemon-app", scopes: str = "", **kwargs: Any) -> str:
        """An app-only client-credentials token (RFC 9068: ``sub`` = ``client_id``)."""
        claims = {"client_id": client_id, "sub": client_id, **({"scope": scopes} if scopes else {})}
        return self.mint({**claims, **kwargs.pop("claims", {})}, **kwargs)

    def user_token(self, user: str = "alice", client_id: str = "web-app", scopes: str = "",
                   **kwargs: Any) -> str:
        """A user+app (delegated) token: ``sub`` the user, ``client_id`` the app."""
        claims = {"client_id": client_id, "sub": user, **({"scope": scopes} if scopes else {})}
        return self.mint({**claims, **kwargs.pop("claims", {})}, **kwargs)


def _jwks_route(issuer: LocalIssuer) -> tuple[int, bytes, str]:
    return 200, json.dumps(issuer.jwks()).encode(), "application/json"


def _handler(issuer: LocalIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            path = self.path.split("?", 1)[0]
            issuer.hits[path] += 1
            route = issuer.routes.get(path)
            if issuer.fail_with is not None:
                status, body, ctype = issuer.fail_with, b"{}", "application/json"
            elif route is None:
                status, body, ctype = 404, b'{"error":"not_found"}', "application/json"
            else:
                status, body, ctype = route(issuer)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
