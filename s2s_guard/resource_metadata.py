"""RFC 9728 OAuth 2.0 Protected Resource Metadata: the document, its well-known URL, the challenge.

``[resource_metadata]`` describes this API to its clients: its resource identifier, the
authorization servers whose tokens it accepts, scopes and bearer methods, optionally as a
signed JWT too (§2.2). Every adapter answers the document itself at ``path``, without
authentication, and every ``WWW-Authenticate`` Bearer challenge names the absolute ``url``
(§5.1). That URL comes from the configuration only, never from the request's ``Host``: a
forged Host would point clients at another party's metadata, hence its authorization server.
Everything is computed once, at start-up; serving the document is one comparison and a write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .config import IssuerConfig

__all__ = ["ResourceMetadata", "ResourceMetadataConfig", "SignedMetadataConfig",
           "WELL_KNOWN", "resource_metadata_from", "sign_metadata", "signing_jwks", "well_known_url",
           "with_dpop_algorithms"]

#: RFC 9728 §3: the well-known URI suffix registered for protected resource metadata.
WELL_KNOWN = "/.well-known/oauth-protected-resource"
_BEARER_METHODS = ("header", "query")  # RFC 9728 §2; "body" (RFC 6750 §2.2) is not accepted here
_STRING_LISTS = ("scopes_supported", "dpop_signing_alg_values_supported")
_URLS = ("jwks_uri", "resource_documentation", "resource_policy_uri", "resource_tos_uri")
_FLAGS = ("dpop_bound_access_tokens_required", "tls_client_certificate_bound_access_tokens")
_KEYS = {"resource", "authorization_servers", "bearer_methods_supported", "resource_name", "url",
         "path", "max_age", "signed", *_STRING_LISTS, *_URLS, *_FLAGS}
_SIGNED_KEYS = {"issuer", "key_file", "alg", "kid"}
_WHERE = "resource_metadata."


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedMetadataConfig:
    """RFC 9728 §2.2 ``signed_metadata``: who attests (``iss``) and the private key that signs."""

    issuer: str
    key: bytes = field(repr=False)  # PEM private key (RSA, EC or Ed25519)
    alg: str | None = None  # default: what the key signs with (RS256, ES256/384/512, EdDSA)
    kid: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceMetadataConfig:
    """The metadata members (``document``), where clients fetch them (``url``) and what path we answer."""

    resource: str
    url: str
    path: str
    document: Mapping[str, Any]
    max_age: int = 3600
    signed: SignedMetadataConfig | None = None


def well_known_url(resource: str) -> str:
    """RFC 9728 §3.1: the well-known suffix inserted between the host and the path/query."""
    parts = urlsplit(resource)
    path = "" if parts.path == "/" else parts.path  # a terminating slash after the host goes
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}{path}{query}"


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("https", "http") and bool(parts.netloc)


def resource_metadata_from(raw: Mapping[str, Any], *, audience: Sequence[str],
                           issuers: Sequence[IssuerConfig]) -> ResourceMetadataConfig | None:
    """Translate the ``[resource_metadata]`` table (absent: ``None``); defaults come from the guard's config."""
    block = raw.get("resource_metadata")
    if block is None:
        return None
    from .config import _number, _table  # local: config imports this module

    block = _table(block, _KEYS, _WHERE)
    resource = _text(block, "resource") or audience[0]
    if "#" in resource:  # RFC 9728 §1.2: the resource identifier has no fragment
        raise ConfigurationError(_WHERE + "resource", "a resource identifier has no fragment (#)")
    url = _url_of(block, resource)
    path = _text(block, "path") or urlsplit(url).path
    if not path.startswith("/"):
        raise ConfigurationError(_WHERE + "path", f'expected an absolute path such as "{WELL_KNOWN}"')
    max_age = _number(block.get("max_age", 3600), _WHERE + "max_age")
    return ResourceMetadataConfig(
        resource=resource, url=url, path=path, max_age=int(max_age),
        document=_document(block, resource, issuers, bool(raw.get("allow_query_token", False))),
        signed=_signed(block.get("signed"), resource))


def _text(block: Mapping[str, Any], key: str, where: str = _WHERE) -> str | None:
    from .config import _optional_str

    return _optional_str(block, key, where)


def _url(block: Mapping[str, Any], key: str) -> str | None:
    value = _text(block, key)
    if value is not None and not _is_url(value):
        raise ConfigurationError(_WHERE + key, "expected an absolute http(s) URL")
    return value


def _url_of(block: Mapping[str, Any], resource: str) -> str:
    """The absolute URL challenges name: configured, or derived from an http(s) resource (§3.1)."""
    url = _url(block, "url")
    if url is not None:
        return url
    if not _is_url(resource):
        raise ConfigurationError(_WHERE + "url", "required when resource is not an http(s) URL: the "
                                 f"absolute URL clients fetch, e.g. https://api.example.com{WELL_KNOWN}")
    return well_known_url(resource)


def _document(block: Mapping[str, Any], resource: str, issuers: Sequence[IssuerConfig],
              allow_query: bool) -> dict[str, Any]:
    """The §2 members, in the RFC's order; absent optional members are left out."""
    from .config import _strings

    doc: dict[str, Any] = {"resource": resource}
    servers = _authorization_servers(block, issuers)
    if servers:
        doc["authorization_servers"] = servers
    if "scopes_supported" in block:
        doc["scopes_supported"] = list(_strings(block["scopes_supported"], _WHERE + "scopes_supported",
                                                allow_empty=True))
    doc["bearer_methods_supported"] = _bearer_methods(block, allow_query)
    name = _text(block, "resource_name")
    if name is not None:
        doc["resource_name"] = name
    for key in _URLS:
        value = _url(block, key)
        if value is not None:
            doc[key] = value
    _proof_members(block, doc)
    return doc


def _authorization_servers(block: Mapping[str, Any], issuers: Sequence[IssuerConfig]) -> list[str]:
    """Configured, or every issuer whose ``iss`` is an http(s) URL (not an Entra template or SharePoint id)."""
    from .config import _strings

    if "authorization_servers" in block:
        servers = _strings(block["authorization_servers"], _WHERE + "authorization_servers", allow_empty=True)
        for server in servers:
            if not _is_url(server):
                raise ConfigurationError(_WHERE + "authorization_servers", f"{server!r} is not an http(s) URL")
        return list(servers)
    found = (i.issuer for i in issuers if _is_url(i.issuer) and "{tenantid}" not in i.issuer)
    return list(dict.fromkeys(found))


def _bearer_methods(block: Mapping[str, Any], allow_query: bool) -> list[str]:
    """§2 ``bearer_methods_supported``: what the guard really accepts, or a consistent subset of it."""
    from .config import _strings

    if "bearer_methods_supported" not in block:
        return ["header", "query"] if allow_query else ["header"]
    methods = _strings(block["bearer_methods_supported"], _WHERE + "bearer_methods_supported", allow_empty=True)
    for method in methods:
        if method not in _BEARER_METHODS or (method == "query" and not allow_query):
            raise ConfigurationError(_WHERE + "bearer_methods_supported",
                                     f"{method!r} is not accepted by this guard; expected "
                                     f"{['header', 'query'] if allow_query else ['header']}")
    return list(methods)


def _proof_members(block: Mapping[str, Any], doc: dict[str, Any]) -> None:
    """RFC 9449 §5.2 and RFC 8705 §3.3 members, when the deployment states them."""
    from .config import _bool, _strings

    if "dpop_signing_alg_values_supported" in block:
        doc["dpop_signing_alg_values_supported"] = list(_strings(
            block["dpop_signing_alg_values_supported"], _WHERE + "dpop_signing_alg_values_supported"))
    for key in _FLAGS:
        if block.get(key) is not None:
            doc[key] = _bool(block, key, _WHERE)


def with_dpop_algorithms(config: ResourceMetadataConfig | None, algorithms: Sequence[str],
                         dpop_on: bool) -> ResourceMetadataConfig | None:
    """RFC 9728 §2 / RFC 9449 §5.2: ``dpop_signing_alg_values_supported`` is ``[dpop] algorithms``:
    filled in when an issuer accepts DPoP, and refused when configured out of step with them."""
    key = "dpop_signing_alg_values_supported"
    if config is None:
        return None
    stated = config.document.get(key)
    if stated is not None and set(stated) != set(algorithms):
        raise ConfigurationError(_WHERE + key, f"{list(stated)} is not [dpop] algorithms {list(algorithms)}: "
                                 "remove it (it is derived from [dpop] algorithms) or set [dpop] algorithms")
    if stated is not None or not dpop_on:
        return config
    flags = {k: v for k, v in config.document.items() if k in _FLAGS}  # the RFC's order: algs, then flags
    document = {**{k: v for k, v in config.document.items() if k not in _FLAGS}, key: list(algorithms), **flags}
    return replace(config, document=document)


def _signed(block: Any, resource: str) -> SignedMetadataConfig | None:
    if block is None:
        return None
    from .config import _unknown

    where = _WHERE + "signed."
    if not isinstance(block, Mapping):
        raise ConfigurationError(_WHERE + "signed", 'expected a table: {key_file = "...", issuer = "..."}')
    _unknown(block, _SIGNED_KEYS, where)
    path = block.get("key_file")
    if not isinstance(path, str) or not path:
        raise ConfigurationError(where + "key_file", "required: a PEM private key (RSA, EC or Ed25519)")
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(where + "key_file", f"cannot read {path}: {exc.strerror}") from exc
    values = {k: _text(block, k, where) for k in ("issuer", "alg", "kid")}
    return SignedMetadataConfig(issuer=values["issuer"] or resource, key=key, alg=values["alg"],
                                kid=values["kid"])


def _signer(signed: SignedMetadataConfig) -> tuple[Any, str]:
    """The private key and the algorithm it signs the metadata with (checked against the key)."""
    from .client._keys import algorithm_for, load_private_key
    from .config import ASYMMETRIC_ALGORITHMS

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
