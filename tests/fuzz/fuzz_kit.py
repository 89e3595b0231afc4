"""Shared pieces of the fuzz tests: guards built once, valid tokens to mutate, strategies, an ASGI driver.

Everything is module-level (hypothesis runs each test body many times; function-scoped
fixtures would be shared across examples). The clock is fixed, keys are inline, and one issuer
points at a closed port so that "cannot fetch keys" (503) is among the outcomes.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from loopback import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from s2s_guard import Guard, GuardMiddleware, Requirement
from s2s_guard.core.keys import b64url

NOW = 1_700_000_000
ISS = "https://issuer.example"
DOWN = "https://down.example"
AUD = "api://orders"
TOKEN68 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = ec.generate_private_key(ec.SECP256R1())
_JWKS = {"keys": [{**RSAAlgorithm.to_jwk(_RSA.public_key(), as_dict=True), "kid": "rsa-1", "use": "sig"},
                  {**ECAlgorithm.to_jwk(_EC.public_key(), as_dict=True), "kid": "ec-1", "use": "sig"}]}


def _config(**top: Any) -> dict[str, Any]:
    return {"audience": [AUD], **top, "issuers": [
        {"issuer": ISS, "algorithms": ["RS256", "ES256"], "jwks": _JWKS},
        {"issuer": DOWN, "algorithms": ["RS256"], "timeout": 0.5,
         "jwks_uri": f"http://127.0.0.1:{free_port()}/jwks"}]}


GUARD = Guard.from_config(_config(), clock=lambda: NOW)
QUERY_GUARD = Guard.from_config(_config(allow_query_token=True), clock=lambda: NOW)


def mint(claims: Mapping[str, Any] | None = None, *, alg: str = "RS256", iss: str = ISS) -> str:
    body = {"iss": iss, "aud": AUD, "iat": NOW, "nbf": NOW, "exp": NOW + 300, "jti": "j",
            "sub": "daemon", "client_id": "daemon", "scope": "orders.read", **(claims or {})}
    key, kid = (_EC, "ec-1") if alg == "ES256" else (_RSA, "rsa-1")
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})


#: Tokens the guard accepts (app-only, user+app, ES256) and one whose issuer's keys are unreachable.
VALID = [mint(), mint({"sub": "alice", "client_id": "web"}), mint(alg="ES256")]
UNREACHABLE = mint(iss=DOWN)


# -- strategies ---------------------------------------------------------------------------------

@st.composite
def mutated_tokens(draw: st.DrawFn) -> str:
    """A valid token with a few characters replaced, deleted, inserted, or its parts shuffled."""
    token = draw(st.sampled_from([*VALID, UNREACHABLE]))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["replace", "delete", "insert", "swap", "truncate"]))
        i = draw(st.integers(0, max(len(token) - 1, 0)))
        char = draw(st.sampled_from(TOKEN68 + "\x00 é\"\\,"))
        if kind == "replace":
            token = token[:i] + char + token[i + 1:]
        elif kind == "delete":
            token = token[:i] + token[i + 1:]
        elif kind == "insert":
            token = token[:i] + char + token[i:]
        elif kind == "swap":
            parts = token.split(".")
            token = ".".join(draw(st.permutations(parts)))
        else:
            token = token[:i]
    return token


def authorization_values() -> st.SearchStrategy[str]:
    """Header values: schemes, separators and tokens, mutated or made up."""
    schemes = st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "DPoP", "", "Bearer,", "Bearer\x00"])
    separators = st.sampled_from([" ", "  ", "\t", "", " \t "])
    tokens = st.one_of(mutated_tokens(), st.sampled_from(VALID), st.text(TOKEN68, max_size=60),
                       st.text(max_size=40))
    return st.one_of(st.builds(lambda a, b, c: a + b + c, schemes, separators, tokens), st.text(max_size=80))


def json_values(*, finite: bool = False) -> st.SearchStrategy[Any]:
    """Any JSON value; unless ``finite``, also NaN and inf (json.loads reads 1e400 as inf)."""
    floats = st.floats(allow_nan=not finite, allow_infinity=not finite)
    scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                        floats, st.text(max_size=20))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def claim_sets() -> st.SearchStrategy[dict[str, Any]]:
    """Claims where the registered ones are often right, often wrong, and sometimes absent."""
    interesting: dict[str, st.SearchStrategy[Any]] = {
        "iss": st.one_of(st.just(ISS), st.sampled_from([ISS + "/", ISS.upper(), [ISS]]), json_values()),
        "aud": st.one_of(st.just(AUD), st.just([AUD, "x"]), st.just([]), json_values()),
        "exp": st.one_of(st.integers(NOW - 600, NOW + 600), st.floats(), json_values()),
        "nbf": st.one_of(st.integers(NOW - 600, NOW + 600), json_values()),
        "iat": st.one_of(st.integers(NOW - 600, NOW + 600), json_values()),
        "sub": json_values(), "client_id": json_values(), "scope": json_values(), "scp": json_values(),
        "jti": json_values(),
    }
    return st.fixed_dictionaries({}, optional=interesting)


# -- the middleware as raw ASGI -----------------------------------------------------------------

async def _whoami(request: Request) -> JSONResponse:
    return JSONResponse({"policy": request.user.policy})


async def _ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close()


def guarded_app(guard: Guard, requirement: Requirement | None = None) -> GuardMiddleware:
    app = Starlette(routes=[Route("/", _whoami), WebSocketRoute("/ws", _ws)])
    return GuardMiddleware(app, guard=guard, requirement=requirement)


async def run_asgi(app: GuardMiddleware, scope: dict[str, Any]) -> list[dict[str, Any]]:
    """Call the app once; return every message it sent."""
    sent: list[dict[str, Any]] = []
    events = ([{"type": "websocket.connect"}] if scope["type"] == "websocket"
              else [{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict[str, Any]:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    return sent


def http_scope(headers: list[tuple[bytes, bytes]], query: bytes = b"", path: str = "/") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode("utf-8", "surrogateescape"),
            "root_path": "", "query_string": query, "headers": headers,
            "client": ("127.0.0.1", 1), "server": ("api", 80)}


def body_of(messages: list[dict[str, Any]]) -> Any:
    return json.loads(b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"))


# -- every profile, with signed tokens whose claims are arbitrary ----------------------------------

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
REALM = "3a8c6b1e-5f0d-4c8e-9f51-2b7d6e0a4c11"
HIGH_TRUST = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SP_AUD = f"00000003-0000-0ff1-ce00-000000000000/sp.contoso.local@{REALM}"
ISSUERS = {"jwt": ISS, "entra": f"https://login.microsoftonline.com/{TENANT}/v2.0",
           "sharepoint-high-trust": f"{HIGH_TRUST}@{REALM}",
           "sharepoint-acs": f"00000001-0000-0000-c000-000000000000@{REALM}"}


def _certificate_pem() -> tuple[bytes, str]:
    """A self-signed certificate for the RSA key, and its x5t thumbprint."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz issuer")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_RSA.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2040, 1, 1)).sign(_RSA, hashes.SHA256()))
    return cert.public_bytes(Encoding.PEM), b64url(hashlib.sha1(cert.public_bytes(Encoding.DER)).digest())


CERT_PEM, X5T = _certificate_pem()


def profiles_guard(cert_path: str) -> Guard:
    """One guard trusting the same RSA key under the jwt, entra and both SharePoint profiles."""
    jwks = {"keys": [{**_JWKS["keys"][0], "kid": X5T}]}
    sharepoint = {"realm": REALM, "certificates": [cert_path], "hosts": ["sp.contoso.local"],
                  "algorithms": ["RS256"]}
    return Guard.from_config({
        "audience": [AUD, SP_AUD], "cache": {"revoked": ["revoked-jti"]},
        "issuers": [
            {"issuer": ISS, "algorithms": ["RS256"], "jwks": jwks},
            {"issuer": ISSUERS["entra"], "profile": "entra", "algorithms": ["RS256"], "jwks": jwks},
            {"profile": "sharepoint-high-trust", "issuer_id": HIGH_TRUST, "trust_broker": True, **sharepoint},
            {"profile": "sharepoint-acs", **sharepoint}]}, clock=lambda: NOW)


def sign_claims(claims: Mapping[str, Any]) -> str:
    """RS256 over any claims, with the header every profile accepts (kid = x5t = the thumbprint)."""
    return jwt.encode(dict(claims), _RSA, algorithm="RS256", headers={"kid": X5T, "x5t": X5T, "typ": "JWT"})


def unsigned_outer(claims: Mapping[str, Any]) -> str:
    """A SharePoint-style unsecured outer token (alg none, empty signature) over any claims."""
    head = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{head}.{b64url(json.dumps(dict(claims), allow_nan=True).encode())}."


PROFILE_CLAIMS = ("nameid", "actor", "identityprovider", "nii", "upn", "trustedfordelegation", "appid",
                  "azp", "idtyp", "oid", "tid", "ver", "scp", "roles", "act", "sub", "client_id",
                  "scope", "jti", "preferred_username", "unique_name", "smtp", "sip")


@st.composite
def profile_claims(draw: st.DrawFn) -> dict[str, Any]:
    """Claims routed to one of the profiles: right issuer and audience, the rest often junk."""
    profile = draw(st.sampled_from(sorted(ISSUERS)))
    sharepoint = profile.startswith("sharepoint")
    right = {"nameid": f"{CLIENT}@{REALM}", "actor": f"{CLIENT}@{REALM}", "ver": "2.0", "tid": TENANT,
             "trustedfordelegation": "true", "jti": "revoked-jti"}
    claims: dict[str, Any] = {
        "iss": ISSUERS[profile], "aud": SP_AUD if sharepoint else AUD,
        "nbf": draw(st.one_of(st.just(NOW - 10), st.just(str(NOW - 10)), json_values())),
        "exp": draw(st.one_of(st.just(NOW + 300), st.just(str(NOW + 300)), json_values()))}
    for name in draw(st.lists(st.sampled_from(PROFILE_CLAIMS), max_size=8, unique=True)):
        claims[name] = draw(st.one_of(st.just(right.get(name, "x")), json_values()))
    return claims
