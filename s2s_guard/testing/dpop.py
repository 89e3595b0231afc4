"""DPoP for tests and demos (RFC 9449): a client key, proofs, bound tokens and an ``httpx.Auth``.

    key = DPoPKey()                                  # the client's key pair (ES256)
    token = bound_token(issuer, key, scopes="orders.read")   # cnf.jkt = key.jkt
    httpx.get(url, auth=DPoPAuth(token, key))        # Authorization: DPoP <token>, DPoP: <proof>

:class:`DPoPAuth` makes a fresh proof for every request (``htm``, ``htu``, ``ath``, ``jti``,
``iat``) and answers a ``use_dpop_nonce`` refusal once, with the nonce the server sent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator
from typing import Any

import httpx
import jwt

from ..core.dpop import access_token_hash, jwk_thumbprint, normalize_htu
from .issuer import LocalIssuer, generate_key

__all__ = ["DPoPAuth", "DPoPKey", "bound_token"]


class DPoPKey:
    """A client's DPoP key pair: its public ``jwk``, its RFC 7638 thumbprint ``jkt``, and proofs."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        signing = generate_key(alg)
        self.private_key = signing.key
        #: The public key as the proof header carries it: no kid, alg or use, only the key.
        self.jwk: dict[str, Any] = {k: v for k, v in signing.public_jwk().items() if k not in ("kid", "alg", "use")}
        self.jkt = jwk_thumbprint(self.jwk)

    def proof(self, method: str, url: str, *, access_token: str | None = None, nonce: str | None = None,
              iat: float | None = None, jti: str | None = None, headers: dict[str, Any] | None = None,
              **claims: Any) -> str:
        """A proof for ``method`` ``url`` (query and fragment dropped); ``claims`` override or add."""
        body: dict[str, Any] = {"jti": jti or uuid.uuid4().hex, "htm": method, "htu": normalize_htu(url),
                                "iat": int(time.time() if iat is None else iat)}
        if access_token is not None:
            body["ath"] = access_token_hash(access_token)
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims)
        header = {"typ": "dpop+jwt", "jwk": self.jwk, **(headers or {})}
        return jwt.encode(body, self.private_key, algorithm=self.alg, headers=header)

    @property
    def cnf(self) -> dict[str, dict[str, str]]:
        """The ``cnf`` claim of a token bound to this key (RFC 9449 §6.1)."""
        return {"cnf": {"jkt": self.jkt}}


def bound_token(issuer: LocalIssuer, key: DPoPKey, client_id: str = "daemon-app", scopes: str = "",
                **kwargs: Any) -> str:
    """An app-only token from ``issuer`` bound to ``key`` (``cnf.jkt``), as an AS issues for DPoP."""
    claims = {**key.cnf, **kwargs.pop("claims", {})}
    return issuer.app_token(client_id, scopes=scopes, claims=claims, **kwargs)


class DPoPAuth(httpx.Auth):
    """``Authorization: DPoP <token>`` and a fresh ``DPoP`` proof on every request (sync and async)."""

    def __init__(self, token: str, key: DPoPKey) -> None:
        self.token = token
        self.key = key
        self.nonce: str | None = None  # the last DPoP-Nonce the server sent (RFC 9449 §9)
        self.last_proof: str | None = None  # the proof of the last request (to show a replay)

    def _sign(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"DPoP {self.token}"
        self.last_proof = self.key.proof(request.method, str(request.url), access_token=self.token,
                                         nonce=self.nonce)
        request.headers["DPoP"] = self.last_proof

    def replay(self) -> httpx.Auth:
        """An auth that sends this token with the last proof again, as an attacker replaying it would."""
        token, proof = self.token, self.last_proof
        if proof is None:
            raise RuntimeError("no proof to replay: send a request with this auth first")
        return _Replay(token, proof)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._sign(request)
        response = yield request
        nonce = response.headers.get("DPoP-Nonce")
        if nonce is not None:
            self.nonce = nonce
            if response.status_code == 401 and 'error="use_dpop_nonce"' in response.headers.get(
                    "WWW-Authenticate", ""):
                self._sign(request)  # one retry with the server's nonce
                yield request


class _Replay(httpx.Auth):
    """``Authorization: DPoP <token>`` with a fixed, already used proof."""

    def __init__(self, token: str, proof: str) -> None:
        self.token, self.proof = token, proof

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"DPoP {self.token}"
        request.headers["DPoP"] = self.proof
        yield request
