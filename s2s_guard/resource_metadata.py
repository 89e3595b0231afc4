"""RFC 9728 OAuth 2.0 Protected Resource Metadata: the document, its well-known URL, the challenge.

``[resource_metadata]`` describes this API to its clients: its resource identifier, the
authorization servers whose tokens it accepts, scopes and bearer methods, optionally as a
signed JWT too (§2.2). Every adapter answers the document itself at ``path``, without
authentication, and every ``WWW-Authenticate`` Bearer challenge names the absolute ``url``
(§5.1). That URL comes from the configuration only, never from the request's ``Host``: a
forged Host would point clients at another party's metadata, hence its authorization server.
Everything is computed once, at start-up; serving the document is one comparison and a write.
The ``[resource_metadata]`` table is translated in :mod:`s2s_guard.config.resource_metadata`
(its names are re-exported here); this module signs and serves the document.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from .config.algorithms import ASYMMETRIC_ALGORITHMS
from .config.resource_metadata import (_WHERE, WELL_KNOWN, ResourceMetadataConfig, SignedMetadataConfig,
                                       resource_metadata_from, well_known_url, with_dpop_algorithms)
from .errors import ConfigurationError

__all__ = ["ResourceMetadata", "ResourceMetadataConfig", "SignedMetadataConfig",
           "WELL_KNOWN", "resource_metadata_from", "sign_metadata", "signing_jwks", "well_known_url",
           "with_dpop_algorithms"]


def _signer(signed: SignedMetadataConfig) -> tuple[Any, str]:
    """The private key and the algorithm it signs the metadata with (checked against the key)."""
    from .client._keys import algorithm_for, load_private_key

    key = load_private_key(signed.key, name=_WHERE + "signed.key_file")
    alg = signed.alg or algorithm_for(key)
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise ConfigurationError(_WHERE + "signed.alg", f"expected one of {sorted(ASYMMETRIC_ALGORITHMS)}")
    return key, alg


def sign_metadata(document: Mapping[str, Any], signed: SignedMetadataConfig, now: float) -> str:
    """RFC 9728 §2.2: a JWS whose claims are the metadata members plus ``iss`` (and ``iat``)."""
    import jwt

    key, alg = _signer(signed)
    claims = {**document, "iss": signed.issuer, "iat": int(now)}
    headers = {"kid": signed.kid} if signed.kid else None
    try:
        return jwt.encode(claims, key, algorithm=alg, headers=headers)
    except (ValueError, TypeError, jwt.PyJWTError) as exc:  # e.g. an EC key with an RS* alg
        raise ConfigurationError(_WHERE + "signed.alg", f"{alg} cannot sign with this key: {exc}") from exc


def signing_jwks(signed: SignedMetadataConfig) -> dict[str, Any]:
    """The public JWK Set that verifies ``signed_metadata``: publish it at your ``jwks_uri``."""
    from jwt.algorithms import get_default_algorithms

    key, alg = _signer(signed)
    jwk = get_default_algorithms()[alg].to_jwk(key.public_key(), as_dict=True)
    return {"keys": [{**jwk, **({"kid": signed.kid} if signed.kid else {}), "alg": alg, "use": "sig"}]}


class ResourceMetadata:
    """What the guard serves at ``path`` and names in challenges (``url``), built once at start-up."""

    def __init__(self, config: ResourceMetadataConfig, *, now: float | None = None) -> None:
        self.config = config
        self.url = config.url
        self.path = config.path
        document = dict(config.document)
        if config.signed is not None:
            document["signed_metadata"] = sign_metadata(config.document, config.signed,
                                                        time.time() if now is None else now)
        self.document: Mapping[str, Any] = document
        #: The public JWK Set that verifies ``signed_metadata`` (``None`` unsigned): serve it at ``jwks_uri``.
        self.signing_jwks = None if config.signed is None else signing_jwks(config.signed)
        self.body = json.dumps(document).encode()
        # Public, credential-free and the same for everyone: cacheable and readable cross-origin.
        self.headers = {"Content-Type": "application/json",
                        "Cache-Control": f"public, max-age={config.max_age}",
                        "Access-Control-Allow-Origin": "*"}

    def respond(self, method: str) -> tuple[int, dict[str, str], bytes]:
        """``(status, headers, body)`` for a request to :attr:`path`: GET/HEAD get the document, others 405."""
        if method == "GET":
            return 200, self.headers, self.body
        if method == "HEAD":
            return 200, self.headers, b""
        return 405, {"Allow": "GET, HEAD", "Content-Type": "application/json"}, b'{"error": "method_not_allowed"}'
