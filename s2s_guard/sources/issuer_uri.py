"""OIDC Discovery 1.0 §4 and RFC 8414 §3: trust an identity provider from its issuer URL alone.

``issuer_uri`` (top level, or in an ``[[issuers]]`` entry) and ``Guard.from_issuer`` read the
issuer's discovery document once, while the configuration is translated: blocking, with the
issuer's ``timeout``, https unless loopback (or ``allow_insecure_http``). The document's
``issuer`` must equal the URL exactly (RFC 8414 §3.3, OIDC Discovery §4.3). The entry then
becomes an ordinary one (:func:`s2s_guard.core.idp.issuer_entry`): ``issuer``, ``discovery`` (the
existing discovery key source fetches ``jwks_uri`` and follows the document from then on),
the detected or configured ``profile`` and the algorithms. Every failure is a
:class:`~s2s_guard.errors.ConfigurationError` naming ``issuer_uri`` and the fix.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import redact_url
from ..config.registry import register_issuer_uri_resolver
from ..core.flow import Flow, HTTPRequest, HTTPResponse
from ..core.idp import issuer_entry, metadata_urls
from ..core.urls import INSECURE_HTTP_FIX, plain_http
from ..errors import ConfigurationError
from .discovery import _MAX_METADATA_BYTES, check_transport, parse_metadata
from .http import Transport, drive_sync

__all__ = ["fetch_document", "issuer_config", "resolve_issuer_uris"]

log = logging.getLogger("s2s_guard")
_REPLACED = ("issuer", "discovery")  # what issuer_uri sets: never also given


def issuer_config(issuer_uri: str, *, audience: str | Sequence[str], profile: str | None = None,
                  client_ids: Sequence[str] | None = None, algorithms: Sequence[str] | None = None,
                  issuer_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The configuration mapping ``Guard.from_issuer`` translates (one ``issuer_uri`` entry).

    Loading it reads the issuer's discovery document (blocking; https unless loopback), whose
    ``issuer`` must equal ``issuer_uri``. The profile is detected (Entra, Auth0, Okta, Keycloak,
    Cognito, Duende; else ``jwt``) unless ``profile`` is given; ``client_ids`` is required for
    Cognito; ``issuer_options`` holds any other ``[[issuers]]`` key. A problem is a
    :class:`~s2s_guard.errors.ConfigurationError` naming the key and the fix.
    """
    entry: dict[str, Any] = {**(issuer_options or {}), "issuer_uri": issuer_uri}
    for name, value in (("profile", profile), ("client_ids", client_ids), ("algorithms", algorithms)):
        if value is not None:
            entry[name] = value if isinstance(value, str) else list(value)
    return {"audience": audience if isinstance(audience, str) else list(audience), "issuers": [entry]}


def resolve_issuer_uris(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The configuration with every ``issuer_uri`` replaced by the entry its document describes."""
    if "issuer_uri" in raw:
        if "issuers" in raw:
            raise ConfigurationError("issuer_uri", "give issuer_uri or [[issuers]], not both: "
                                     "put issuer_uri = \"...\" inside an [[issuers]] entry instead")
        rest = {name: value for name, value in raw.items() if name != "issuer_uri"}
        return {**rest, "issuers": [_resolve({"issuer_uri": raw["issuer_uri"]}, "")]}
    issuers = raw.get("issuers")
    if not isinstance(issuers, Sequence) or isinstance(issuers, str):
        return raw  # no list of entries: the usual checks say what is wrong
    if not any(isinstance(entry, Mapping) and "issuer_uri" in entry for entry in issuers):
        return raw
    return {**raw, "issuers": [_resolve(entry, f"issuers[{i}].")
                               if isinstance(entry, Mapping) and "issuer_uri" in entry else entry
                               for i, entry in enumerate(issuers)]}


def _resolve(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One ``issuer_uri`` entry: fetch, check and detect, then log the choice at INFO."""
    key = where + "issuer_uri"
    issuer = raw["issuer_uri"]
    if not isinstance(issuer, str) or not issuer.startswith(("https://", "http://")):
        raise ConfigurationError(key, "expected the issuer's URL, exactly as its tokens' iss spells it")
    for name in _REPLACED:
        if name in raw:
            raise ConfigurationError(where + name, f"issuer_uri sets {name}: remove it")
    allow_http = raw.get("allow_insecure_http") is True
    # RFC 8414 §3: metadata (and so the keys it names) only over TLS, loopback excepted.
    if not allow_http and plain_http(issuer):
        raise ConfigurationError(key, f"{redact_url(issuer)!r} is not https: {INSECURE_HTTP_FIX}")
    timeout = raw.get("timeout", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < 600:
        raise ConfigurationError(where + "timeout", "expected seconds, a number in (0, 600)")
    url, document = fetch_document(issuer, key=key, timeout=float(timeout), allow_http=allow_http)
    if raw.get("validation", "jwt") == "jwt" and not document.get("jwks_uri"):
        raise ConfigurationError(key, f"the discovery document at {redact_url(url)} names no jwks_uri "
                                      "to verify tokens with")
    entry, chosen = issuer_entry(raw, where=where, discovery=url, document=document)
    algorithms = entry["algorithms"]
    log.info("s2s_guard: issuer %s uses profile %r (%s); algorithms %s; %s", redact_url(issuer), chosen.profile,
             chosen.reason, algorithms if isinstance(algorithms, str) else ", ".join(map(str, algorithms)),
             chosen.rule)
    return entry


def _get(url: str, timeout: float) -> Flow[HTTPResponse]:
    response = yield HTTPRequest("GET", url, {"Accept": "application/json"}, timeout=timeout,
                                 max_bytes=_MAX_METADATA_BYTES)
    return response


def fetch_document(issuer: str, *, key: str, timeout: float, allow_http: bool) -> tuple[str, dict[str, Any]]:
    """The first discovery document found for ``issuer`` (:func:`metadata_urls` order) and its URL.

    A 4xx moves on to the next well-known location; an unreachable server, a 5xx, a redirect or a
    refused document stops at once with a :class:`ConfigurationError` naming ``key``.
    """
    transport = Transport()
    tried: list[str] = []
    try:
        for url in metadata_urls(issuer):
            response = drive_sync(_get(url, timeout), transport)
            if 400 <= response.status < 500:  # not at this location
                tried.append(f"{redact_url(url)} (HTTP {response.status})")
                continue
            return url, _document(response, issuer, url, key, allow_http)
    finally:
        transport.close()
    raise ConfigurationError(key, f"no discovery document for {redact_url(issuer)!r}: {'; '.join(tried)}; "
                                  "check that issuer_uri is the exact iss of the tokens")


def _document(response: HTTPResponse, issuer: str, url: str, key: str, allow_http: bool) -> dict[str, Any]:
    """The checked document, or a ConfigurationError saying why not (URLs without passwords)."""
    source, url = url, redact_url(url)  # ``url`` for messages, ``source`` for checks
    if response.status == 0:
        raise ConfigurationError(key, f"cannot fetch {url} ({response.error.replace(source, url)}): check the URL, "
                                      "that the issuer is reachable from here, and the timeout")
    try:
        document = json.loads(response.content) if response.status == 200 else None
        named = document.get("issuer") if isinstance(document, dict) else None
        if document is not None and named != issuer:
            # RFC 8414 §3.3, OIDC Discovery §4.3: the document must be this issuer's, exactly.
            raise ConfigurationError(key, f"the document at {url} names issuer {named!r}, not {redact_url(issuer)!r} "
                                          "(RFC 8414 §3.3): set issuer_uri to the exact issuer"
                                          + _template_hint(named))
        metadata = parse_metadata(response, issuer)  # status, JSON object, issuer, URL members
        if not allow_http:
            check_transport(metadata, source)  # RFC 8414 §3: jwks_uri stays on TLS
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigurationError(key, f"the discovery document at {url} is refused: {exc}") from exc
    return dict(document) if isinstance(document, dict) else {}


def _template_hint(named: object) -> str:
    if isinstance(named, str) and "{tenantid}" in named:
        return ('; a multi-tenant Entra document ({tenantid}): use [[issuers]] issuer = "' + named
                + '", profile = "entra", tenants = [...] instead')
    return ""


register_issuer_uri_resolver(resolve_issuer_uris)  # load_config resolves issuer_uri through this module
