"""RFC 7662 token introspection, sans-I/O: build the request, parse and check the response.

Also RFC 9701 JWT responses (``application/token-introspection+jwt``, verified with the
authorization server's keys) and RFC 7523 ``private_key_jwt`` client assertions. Only
``"active": true`` (the JSON boolean) is accepted; the response's claims then go through the
same checks as a JWT's (:func:`s2s_guard.core.profiles.check_introspected`). No clock is read
here: ``now`` is passed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import jwt as pyjwt

from ..errors import MalformedToken
from .claims import audiences_of, numeric_date
from .flow import HTTPRequest, HTTPResponse
from .jws import CompactJWS, parse_compact, parse_json_object
from .jwt import check_header, verify_jws
from .keys import KeySet

__all__ = ["INTROSPECTION_JWT", "IntrospectionResult", "build_request", "client_assertion", "is_outage",
           "parse_response", "response_jws", "verify_jwt_response"]

#: RFC 9701 §5: the media type of a signed introspection response.
INTROSPECTION_JWT = "application/token-introspection+jwt"
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class IntrospectionResult:
    """The server's verdict: ``active`` with the response members, inactive, or ``error`` (could not ask).

    ``outage`` marks an error that says the endpoint is down (:func:`is_outage`), not that it
    refused this one request.
    """

    active: bool
    claims: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""
    outage: bool = False

    def expires_at(self, now: float, *, cache_ttl: float, negative_ttl: float) -> float:
        """Cache until ``min(exp, now + cache_ttl)``; inactive for ``negative_ttl``; errors not at all."""
        if self.error:
            return now
        if not self.active:
            return now + negative_ttl
        exp = self.claims.get("exp")
        limit = now + cache_ttl
        return min(float(exp), limit) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else limit

    def to_json(self) -> bytes:
        """The form kept in a shared cache (never holds the token itself)."""
        return json.dumps({"active": self.active, "claims": dict(self.claims)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> IntrospectionResult:
        """Read back :meth:`to_json`; ``ValueError`` if it is not that shape."""
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("active") not in (True, False) \
                or not isinstance(doc.get("claims"), dict):
            raise ValueError("not a cached introspection result")
        return cls(active=doc["active"], claims=doc["claims"])


def is_outage(status: int) -> bool:
    """Whether an answer means the endpoint is down: no response (0), 5xx, or 429 (RFC 6585 §4).

    Any other status (a 4xx to one token, say) is about that request, so it must not rest the
    endpoint for everybody: junk tokens would otherwise turn every opaque token away.
    """
    return status == 0 or status >= 500 or status == 429


def _basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: form-urlencode id and secret before base64.
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def build_request(token: str, *, endpoint: str, client_id: str, auth_method: str,
                  client_secret: str | None = None, assertion: str | None = None,
                  timeout: float = 5.0, accept_jwt: bool = False) -> HTTPRequest:
    """RFC 7662 §2.1: a form POST of the token, authenticated as this resource server."""
    form = {"token": token, "token_type_hint": "access_token"}
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "Accept": INTROSPECTION_JWT if accept_jwt else "application/json"}
    if auth_method == "client_secret_basic":
        headers["Authorization"] = _basic(client_id, client_secret or "")
    elif auth_method == "client_secret_post":
        form.update(client_id=client_id, client_secret=client_secret or "")
    else:  # private_key_jwt, RFC 7523 §2.2
        form.update(client_id=client_id, client_assertion_type=_ASSERTION_TYPE,
                    client_assertion=assertion or "")
    return HTTPRequest("POST", endpoint, headers, urlencode(form).encode("ascii"),
                       timeout=timeout, max_bytes=_MAX_RESPONSE_BYTES)


def client_assertion(*, client_id: str, audience: str, key: Any, alg: str, kid: str | None,
                     now: float, jti: str, lifetime: float = 60) -> str:
    """RFC 7523 §3: a short-lived JWT naming this client, signed with its private key."""
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": int(now),
              "exp": int(now + lifetime), "jti": jti}
    return pyjwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


def _verdict(body: Mapping[str, Any]) -> IntrospectionResult:
    # RFC 7662 §2.2: only the JSON boolean true means active ("true", 1 and absence do not).
    if body.get("active") is not True:
        return IntrospectionResult(active=False)
    return IntrospectionResult(active=True, claims=body)


def response_jws(response: HTTPResponse) -> CompactJWS | None:
    """The signed RFC 9701 response, or ``None`` for plain JSON; ``ValueError`` if unusable."""
    if response.status != 200:
        raise ValueError(f"introspection endpoint answered {response.describe()}")
    if response.media_type != INTROSPECTION_JWT:
        return None
    try:
        return parse_compact(response.content.decode("ascii", "replace").strip(), _MAX_RESPONSE_BYTES)
    except MalformedToken as exc:
        raise ValueError(exc.detail) from exc


def parse_response(response: HTTPResponse) -> IntrospectionResult:
    """RFC 7662 §2.2: a plain JSON response (status 200, a JSON object)."""
    if response.status != 200:
        raise ValueError(f"introspection endpoint answered {response.describe()}")
    try:
        return _verdict(parse_json_object(response.content, "introspection response"))
    except MalformedToken as exc:
        raise ValueError(exc.detail) from exc


def verify_jwt_response(jws: CompactJWS, keys: KeySet, *, algorithms: Collection[str], issuer: str,
                        client_id: str, leeway: float, now: float) -> IntrospectionResult:
    """RFC 9701 §5: typ, signature by the issuer's key, ``iss``, ``aud`` = our client id, ``iat``."""
    alg = check_header(jws.header, algorithms, "token-introspection+jwt")
    verify_jws(jws, alg, keys)
    claims = jws.payload
    if claims.get("iss") != issuer:
        raise ValueError("introspection JWT from another issuer")
    if client_id not in audiences_of(claims):
        raise ValueError("introspection JWT is for another client")
    iat = numeric_date(claims, "iat")
    if iat is None or iat > now + leeway:
        raise ValueError("introspection JWT iat missing or in the future")
    body = claims.get("token_introspection")
    if not isinstance(body, dict):
        raise ValueError("introspection JWT has no token_introspection object")
    return _verdict(body)
