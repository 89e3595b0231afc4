"""SharePoint high-trust (server-to-server) tokens, as the add-in ``TokenHelper`` builds them.

App-only: the access token is the *actor token*, RS256-signed with the add-in's certificate
key, header ``x5t`` = the certificate thumbprint; claims ``aud`` =
``00000003-0000-0ff1-ce00-000000000000/<host>@<realm>``, ``iss`` = ``<issuer_id>@<realm>``,
``nameid`` = ``<client_id>@<realm>``, ``nbf``, ``exp``. User+app: an *unsigned* outer token
(``alg: none``) with ``aud``, ``iss`` = ``<client_id>@<realm>``, ``nameid`` (the user), ``nii``
(its identity provider), ``nbf``, ``exp`` and ``actortoken``, the actor token, which then
carries ``trustedfordelegation: "true"``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from ..core.keys import b64url
from ..errors import ConfigurationError
from ._keys import PrivateKey, load_certificate, load_private_key, x5t
from ._token_cache import Token

__all__ = ["ACTIVE_DIRECTORY_IDP", "HighTrustAuth", "SHAREPOINT_PRINCIPAL", "build_user_token",
           "sharepoint_audience", "sign_actor_token"]

#: The well-known application principal id of SharePoint.
SHAREPOINT_PRINCIPAL = "00000003-0000-0ff1-ce00-000000000000"
#: ``nii`` for a Windows (Active Directory) user, whose ``nameid`` is the lower-case SID.
ACTIVE_DIRECTORY_IDP = "urn:office:idp:activedirectory"


def sharepoint_audience(host: str, realm: str) -> str:
    """``00000003-0000-0ff1-ce00-000000000000/<host>@<realm>``: SharePoint on ``host`` in ``realm``."""
    return f"{SHAREPOINT_PRINCIPAL}/{host}@{realm.lower()}"


def sign_actor_token(*, key: PrivateKey, certificate: x509.Certificate, client_id: str,
                     issuer_id: str, realm: str, host: str, now: float, lifetime: float,
                     trusted_for_delegation: bool = False) -> str:
    """The RS256 actor token: the app, vouched for by the trusted issuer's certificate."""
    realm = realm.lower()
    claims: dict[str, object] = {
        "aud": sharepoint_audience(host, realm), "iss": f"{issuer_id.lower()}@{realm}",
        "nameid": f"{client_id}@{realm}", "nbf": int(now), "exp": int(now + lifetime)}
    if trusted_for_delegation:
        claims["trustedfordelegation"] = "true"  # a string, as SharePoint writes it
    return jwt.encode(claims, key, algorithm="RS256", headers={"typ": "JWT", "x5t": x5t(certificate)})


def build_user_token(*, actor_token: str, client_id: str, realm: str, host: str, user: str,
                     identity_provider: str, now: float, lifetime: float) -> str:
    """The unsigned outer token (``alg: none``) naming the user; trust comes from the actor token."""
    realm = realm.lower()
    header = {"typ": "JWT", "alg": "none"}
    claims = {"aud": sharepoint_audience(host, realm), "iss": f"{client_id}@{realm}",
              "nbf": int(now), "exp": int(now + lifetime), "nameid": user,
              "nii": identity_provider, "actortoken": actor_token}
    parts = [b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)]
    return ".".join(parts) + "."  # an empty signature (RFC 7515 §A.5)


def _check_pair(key: PrivateKey, certificate: x509.Certificate) -> None:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError("private_key", "high-trust tokens are RS256: an RSA key is required")
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey) or public.public_numbers() != key.public_key().public_numbers():
        raise ConfigurationError("certificate", "the certificate does not hold private_key's public key")


class HighTrustAuth(httpx.Auth):
    """Signs SharePoint high-trust tokens locally; app-only, or user+app when ``user`` is set."""

    def __init__(self, *, client_id: str, issuer_id: str, realm: str,
                 private_key: PrivateKey | bytes | str, certificate: x509.Certificate | bytes | str,
                 key_password: bytes | None = None, user: str | None = None,
                 identity_provider: str = ACTIVE_DIRECTORY_IDP, host: str | None = None,
                 lifetime: float = 300.0, clock: Callable[[], float] | None = None) -> None:
        self.client_id, self.issuer_id, self.realm = client_id, issuer_id, realm
        self.key = load_private_key(private_key, key_password)
        self.certificate = load_certificate(certificate)
        _check_pair(self.key, self.certificate)
        self.user, self.identity_provider = user, identity_provider
        self.host = host
        self.lifetime = lifetime
        self.clock = clock or time.time
        self._tokens: dict[tuple[str, str, str, str], Token] = {}
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        host = self.host or request.url.netloc.decode("ascii")  # host[:port], as Uri.Authority
        request.headers["Authorization"] = f"Bearer {self.token_for(host)}"
        yield request

    def token_for(self, host: str) -> str:
        """A token for SharePoint on ``host``, reused per (user, app, realm, host) while fresh."""
        key = (self.user or "", self.client_id, self.realm.lower(), host)
        with self._lock:  # signing is CPU-only and quick: one lock serves sync and async
            now = self.clock()
            token = self._tokens.get(key)
            if token is None or not token.usable(now):
                token = Token.issued(self._build(host, now), now=now, expires_in=self.lifetime)
                self._tokens[key] = token
            return token.access_token

    def _build(self, host: str, now: float) -> str:
        actor = sign_actor_token(
            key=self.key, certificate=self.certificate, client_id=self.client_id,
            issuer_id=self.issuer_id, realm=self.realm, host=host, now=now, lifetime=self.lifetime,
            trusted_for_delegation=self.user is not None)
        if self.user is None:
            return actor  # app-only: the actor token is the access token
        return build_user_token(actor_token=actor, client_id=self.client_id, realm=self.realm,
                                host=host, user=self.user, identity_provider=self.identity_provider,
                                now=now, lifetime=self.lifetime)
