"""``[resource_metadata]``: RFC 9728 protected resource metadata, as configured.

The document's members, the absolute ``url`` challenges name and the ``path`` the guard answers
are all computed here, once, from the configuration (never from a request's ``Host``). Serving
the document and signing it are :mod:`s2s_guard.resource_metadata`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from .values import _bool, _number, _optional_str, _strings, _table, _unknown

if TYPE_CHECKING:
    from .issuers import IssuerConfig

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

    #: The ``iss`` of the signed metadata (default: the resource).
    issuer: str
    key: bytes = field(repr=False)  # PEM private key (RSA, EC or Ed25519)
    #: The signing algorithm (default: the key's: RS256, ES256/384/512 or EdDSA).
    alg: str | None = None  # default: what the key signs with (RS256, ES256/384/512, EdDSA)
    #: The ``kid`` header of the signed metadata.
    kid: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceMetadataConfig:
    """The metadata members (``document``), where clients fetch them (``url``) and what path we answer."""

    #: RFC 9728 §2 ``resource``: this API's identifier (default: the first ``audience``).
    resource: str
    #: The absolute metadata URL challenges name (default: the well-known URL of ``resource``).
    url: str
    #: The path the guard answers the document on (default: the path of ``url``).
    path: str
    document: Mapping[str, Any]
    #: ``Cache-Control: max-age`` of the document, in seconds.
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
