"""HighTrustAuth: SharePoint high-trust tokens, decoded and checked claim by claim (flows driven by hand)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from s2s_guard.client import HighTrustAuth
from s2s_guard.errors import ConfigurationError
from s2s_guard.testing import HighTrustIdentity
from s2s_guard.testing._server import json_reply
from s2s_guard.testing.issuer import LocalIssuer

SHAREPOINT = "00000003-0000-0ff1-ce00-000000000000"
CLIENT = "2f5b8a1e-6c1d-4a57-9a8e-0c3b7d6e9f10"


def _public(identity: HighTrustIdentity) -> rsa.RSAPublicKey:
    key = identity.certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


@pytest.fixture(scope="module")
def identity() -> HighTrustIdentity:
    return HighTrustIdentity(issuer_id="11111111-2222-3333-4444-555555555555",
                             realm="AF90CC03-4A26-45E9-906A-609CEBCEBBDE")


def _auth(identity: HighTrustIdentity, **options: Any) -> HighTrustAuth:
    params = {"private_key": identity.private_key_pem, "certificate": identity.certificate_pem, **options}
    return HighTrustAuth(client_id=CLIENT, issuer_id=identity.issuer_id, realm=identity.realm, **params)


def _bearer(auth: httpx.Auth, url: str) -> str:
    request = next(auth.sync_auth_flow(httpx.Request("GET", url)))
    return request.headers["Authorization"].removeprefix("Bearer ")


def _segment(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_app_only_token_is_the_signed_actor_token(identity: HighTrustIdentity) -> None:
    token = _bearer(_auth(identity), "https://sp.contoso.com/_api/web")
    header = jwt.get_unverified_header(token)
    der = identity.certificate.public_bytes(Encoding.DER)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
    assert header == {"alg": "RS256", "typ": "JWT", "x5t": thumbprint}
    realm = "af90cc03-4a26-45e9-906a-609cebcebbde"
    aud = f"{SHAREPOINT}/sp.contoso.com@{realm}"
    claims = jwt.decode(token, _public(identity), algorithms=["RS256"], audience=aud)
    assert claims["iss"] == f"11111111-2222-3333-4444-555555555555@{realm}"
    assert claims["nameid"] == f"{CLIENT}@{realm}"
    assert isinstance(claims["nbf"], int) and claims["exp"] - claims["nbf"] == 300
    assert "trustedfordelegation" not in claims and "actortoken" not in claims


def test_user_and_app_token_wraps_a_delegating_actor_token(identity: HighTrustIdentity) -> None:
    sid = "s-1-5-21-2127521184-1604012920-1887927527-415"
    token = _bearer(_auth(identity, user=sid), "https://sp.contoso.com:8443/sites/hr")
    header, payload, signature = token.split(".")
    assert _segment(header) == {"typ": "JWT", "alg": "none"} and signature == ""
    outer = _segment(payload)
    realm = identity.realm.lower()
    aud = f"{SHAREPOINT}/sp.contoso.com:8443@{realm}"  # the URI authority, port included
    assert outer["aud"] == aud and outer["iss"] == f"{CLIENT}@{realm}"
    assert outer["nameid"] == sid and outer["nii"] == "urn:office:idp:activedirectory"
    actor = jwt.decode(outer["actortoken"], _public(identity), algorithms=["RS256"], audience=aud)
    assert actor["trustedfordelegation"] == "true" and actor["nameid"] == f"{CLIENT}@{realm}"
    assert actor["nbf"] <= outer["nbf"] and outer["exp"] <= actor["exp"]


def test_tokens_are_cached_per_host_and_short_lived(identity: HighTrustIdentity) -> None:
    now = [1_000_000.0]
    auth = _auth(identity, user="alice", lifetime=120, clock=lambda: now[0])
    first = _bearer(auth, "https://a.contoso.com/x")
    assert _bearer(auth, "https://a.contoso.com/y") == first
    assert _bearer(auth, "https://b.contoso.com/x") != first
    now[0] += 120 - 12  # 10 % of the lifetime before exp: replaced
    assert _bearer(auth, "https://a.contoso.com/x") != first


def test_a_real_request_carries_the_token(identity: HighTrustIdentity) -> None:
    with LocalIssuer(algorithms=("ES256",)) as echo:
        echo.routes["/_api/web"] = lambda iss, req: json_reply(200, {"auth": req.header("authorization")})
        answer = httpx.get(echo.url + "/_api/web", auth=_auth(identity, host="sp.contoso.com"))
    token = answer.json()["auth"].removeprefix("Bearer ")
    assert jwt.decode(token, options={"verify_signature": False})["aud"].startswith(f"{SHAREPOINT}/sp.contoso.com@")


def test_key_and_certificate_must_match(identity: HighTrustIdentity) -> None:
    other = HighTrustIdentity(issuer_id=identity.issuer_id, realm=identity.realm)
    with pytest.raises(ConfigurationError, match="does not hold"):
        _auth(identity, certificate=other.certificate_pem)
    with pytest.raises(ConfigurationError, match="RSA key"):
        _auth(identity, private_key=ec.generate_private_key(ec.SECP256R1()))
