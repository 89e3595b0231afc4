"""A local authorization server for tests and demos (RFC 8414, 7517, 6749, 8693, 7662).

It runs on 127.0.0.1 in a thread and serves discovery, ``/jwks`` (keys rotate on demand),
``/token`` (client credentials, token exchange, on-behalf-of), ``/introspect`` and the
SharePoint JSON metadata document. It counts the hits on each path, can answer errors, be
slowed or have an endpoint disabled, so tests exercise real HTTP the way a production
identity provider is used.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from ._endpoints import default_routes
from ._server import IssuerHTTPServer, IssuerRequest, Route, make_handler
from .clients import RegisteredClient
from .sharepoint import HighTrustIdentity

__all__ = ["LocalIssuer", "SigningKey", "generate_key"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_INTROSPECTED = ("scope", "client_id", "username", "token_type", "exp", "iat", "nbf", "sub", "aud",
                 "iss", "jti", "act")


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


_CURVES: dict[str, ec.EllipticCurve] = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


def generate_key(alg: str, kid: str | None = None) -> SigningKey:
    """A fresh private key for ``alg`` (RSA 2048, the matching EC curve, or Ed25519)."""
    kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
    key: PrivateKey
    if alg.startswith(("RS", "PS")):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg in _CURVES:
        key = ec.generate_private_key(_CURVES[alg])
    elif alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"no key generator for {alg}")
    return SigningKey(kid=kid, alg=alg, key=key)


class LocalIssuer:
    """An issuer on 127.0.0.1: ``start()``, ``mint(...)``, ``jwks_uri``, ``rotate()``, ``stop()``."""

    #: Accept a client assertion's ``jti`` again until it expires (Entra does; MSAL reuses one for 10 min).
    reusable_assertions = False

    def __init__(self, *, issuer: str | None = None, algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA"),
                 audience: str = "api://demo", clock: Callable[[], float] = time.time,
                 host: str = "127.0.0.1", port: int = 0, keys: Sequence[SigningKey] | None = None,
                 token_ttl: float = 300, tenant_id: str | None = None,
                 sharepoint: HighTrustIdentity | None = None) -> None:
        self.algorithms = algorithms
        self.keys: list[SigningKey] = list(keys) if keys else [generate_key(alg) for alg in algorithms]
        self.audience = audience
        self.clock = clock
        self.token_ttl = token_ttl
        self.hits: Counter[str] = Counter()
        self.requests: deque[IssuerRequest] = deque(maxlen=1000)  # newest last, for assertions
        self.fail_with: int | None = None  # answer this status on every request while set
        self.delays: dict[str, float] = {}  # path -> seconds to wait before answering
        self.disabled: set[str] = set()  # paths answering 503 temporarily_unavailable
        self.routes: dict[str, Route] = default_routes()
        self.clients: dict[str, RegisteredClient] = {}
        self.opaque_resources: set[str] = set()  # resources whose tokens are opaque (introspect them)
        self.opaque_tokens: dict[str, dict[str, Any]] = {}
        self.revoked: set[str] = set()  # revoked jti values and opaque tokens
        self.seen_assertions: set[str] = set()  # client assertion jti values (replay check)
        self._server: IssuerHTTPServer | None = None
        self._issuer = issuer
        self._address = (host, port)
        self._tenant_id = tenant_id
        self._sharepoint = sharepoint

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

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    @property
    def introspection_url(self) -> str:
        return self.url + "/introspect"

    @property
    def metadata_url(self) -> str:
        """The SharePoint JSON metadata document (``/_layouts/15/metadata/json/1``)."""
        return self.url + "/_layouts/15/metadata/json/1"

    def start(self) -> LocalIssuer:
        self._server = self._listen()  # daemon threads
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name="s2s-local-issuer", daemon=True).start()  # quick to stop
        return self

    def _listen(self) -> IssuerHTTPServer:
        """The bound server, not yet serving (a subclass may wrap its connections in TLS)."""
        return IssuerHTTPServer(self._address, make_handler(self))

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- keys ------------------------------------------------------------------------------
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

    @property
    def sharepoint(self) -> HighTrustIdentity:
        """The SharePoint high-trust issuer (certificate, issuer id, realm), made on first use."""
        if self._sharepoint is None:
            self._sharepoint = HighTrustIdentity()  # an RSA key: only when SharePoint is used
        return self._sharepoint

    @property
    def tenant_id(self) -> str:
        """The Entra ID tenant (``tid``) of Entra-format tokens minted here."""
        if self._tenant_id is None:
            self._tenant_id = str(uuid.uuid4())
        return self._tenant_id

    # -- tokens -----------------------------------------------------------------------------
    def mint(self, claims: Mapping[str, Any] | None = None, *, alg: str = "RS256", ttl: float = 300,
             headers: Mapping[str, Any] | None = None, key: Any = None, omit: tuple[str, ...] = ()) -> str:
        """A signed token with sensible defaults (iss, aud, iat, nbf, exp, jti) that ``claims`` override.

        RFC 9068 §2.2 also requires ``sub`` and ``client_id`` in an ``at+jwt`` token (the default
        ``typ``): pass them in ``claims``, as :meth:`app_token` and :meth:`user_token` do.
        """
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

    def issue_opaque(self, claims: Mapping[str, Any], *, ttl: float | None = None) -> str:
        """A random (opaque) token whose claims only ``/introspect`` reveals."""
        now = int(self.clock())
        token = secrets.token_urlsafe(32)
        self.opaque_tokens[token] = {"iss": self.issuer, "aud": self.audience, "iat": now, "nbf": now,
                                     "exp": now + int(ttl or self.token_ttl), "jti": uuid.uuid4().hex,
                                     **claims}
        return token

    def revoke(self, token: str) -> None:
        """Make ``token`` inactive for introspection and token exchange."""
        claims = self.verify(token)
        self.revoked.add(token)
        if claims is not None and isinstance(claims.get("jti"), str):
            self.revoked.add(claims["jti"])

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a live token this issuer issued (JWT or opaque), else ``None``."""
        claims = self.opaque_tokens.get(token) or self._verify_jwt(token)
        if claims is None or token in self.revoked or claims.get("jti") in self.revoked:
            return None
        exp = claims.get("exp")
        return claims if isinstance(exp, (int, float)) and exp > self.clock() else None

    def _verify_jwt(self, token: str) -> dict[str, Any] | None:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = next(k for k in self.keys if k.kid == kid)
            claims: dict[str, Any] = jwt.decode(
                token, key.key.public_key(), algorithms=[key.alg], issuer=self.issuer,
                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False})
        except (jwt.PyJWTError, StopIteration):
            return None
        return claims

    def introspect(self, token: str) -> dict[str, Any]:
        """The RFC 7662 §2.2 answer for ``token``: ``{"active": false}`` unless live."""
        claims = self.verify(token)
        if claims is None:
            return {"active": False}
        return {"active": True, "token_type": "Bearer",
                **{name: claims[name] for name in _INTROSPECTED if name in claims}}

    # -- registration and configuration ------------------------------------------------------
    def register_client(self, client_id: str, *, secret: str | None = None, public_key: Any = None,
                        scopes: Iterable[str] | None = None, resources: Iterable[str] | None = None,
                        opaque: bool = False, public: bool = False) -> RegisteredClient:
        """Let ``client_id`` use ``/token`` and ``/introspect`` (secret, public key or neither)."""
        client = RegisteredClient(
            client_id=client_id, secret=secret, public_key=public_key,
            scopes=None if scopes is None else frozenset(scopes),
            resources=None if resources is None else frozenset(resources), opaque=opaque, public=public)
        self.clients[client_id] = client
        return client

    def guard_config(self, *, audience: str | Sequence[str] | None = None, **issuer_options: Any) -> dict[str, Any]:
        """A guard configuration (``Guard.from_config``) that trusts this issuer's JWTs (typ at+jwt)."""
        audiences = [audience] if isinstance(audience, str) else list(audience or [self.audience])
        algorithms = sorted(set(self.algorithms) | {k.alg for k in self.keys})
        issuer = {"name": "local", "issuer": self.issuer, "algorithms": algorithms,
                  "jwks_uri": self.jwks_uri, "typ": "at+jwt", **issuer_options}
        return {"audience": audiences, "issuers": [issuer]}
