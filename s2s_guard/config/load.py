"""The whole configuration: :class:`GuardConfig`, and :func:`load_config`, the one translation.

Every entry point (Python dict, TOML or JSON file, Flask or Django settings) goes through
:func:`load_config`, so a bad key raises one :class:`ConfigurationError` naming it, at start-up.
Each table is translated by its section module; this one reads the file, checks the top-level
keys and assembles the sections.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..grants import Grant
from .binding import DPoPConfig, TrustedProxyConfig, _dpop_from, _trusted_proxy_from
from .cache import CacheConfig, _cache_from
from .delegation import DelegationConfig, delegation_from
from .grants import _grants_from
from .introspection import IntrospectionConfig, _introspection_from
from .openapi import OpenAPIConfig, openapi_from
from .issuers import IssuerConfig, _build_issuer, _check_https, _check_slash_twins, _check_unique, _check_unique_names
from .registry import resolve_issuer_uris
from .resource_metadata import ResourceMetadataConfig, resource_metadata_from, with_dpop_algorithms
from .telemetry import TelemetryConfig, _telemetry_from
from .values import _bool, _integer, _number, _strings, _unknown

log = logging.getLogger("s2s_guard.config")
#: The file formats load_config reads, by extension (anything else is refused, not guessed).
_FORMATS = {".toml": "TOML", ".json": "JSON"}


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardConfig:
    """The whole guard: accepted audiences, clock leeway, exempt paths and issuers."""

    #: The ``aud`` values this API accepts (a token must name one; issuers may override).
    audience: tuple[str, ...]
    #: The trusted token issuers (``[[issuers]]``): at least one.
    issuers: tuple[IssuerConfig, ...]
    #: Clock skew tolerated on ``exp``, ``nbf`` and ``iat``, in seconds.
    leeway: float = 60.0
    #: Paths served without a token: exact (``"/health"``) or a prefix (``"/public/*"``), each starting with ``/``.
    public_paths: tuple[str, ...] = ()
    #: The ``realm`` of the ``WWW-Authenticate`` challenge (RFC 6750 §3).
    realm: str | None = None
    #: Longer tokens are refused before any parsing.
    max_token_bytes: int = 16 * 1024
    #: Also accept ``?access_token=`` (RFC 6750 §2.3, not recommended: URLs get logged).
    allow_query_token: bool = False
    #: RFC 7662 token introspection (``[introspection]``).
    introspection: IntrospectionConfig | None = None
    #: Where verified tokens, keys and the revoked set are cached (``[cache]``).
    cache: CacheConfig = field(default_factory=CacheConfig)
    #: App rights on resource path prefixes, for tokens that carry no permissions (``[[grants]]``).
    grants: tuple[Grant, ...] = ()
    #: RFC 9728 protected resource metadata (``[resource_metadata]``), served and named in challenges.
    resource_metadata: ResourceMetadataConfig | None = None
    #: RFC 8693 delegation rules for every token (``[delegation]``).
    delegation: DelegationConfig | None = None
    #: RFC 9449 proof checks (``[dpop]``).
    dpop: DPoPConfig = field(default_factory=DPoPConfig)
    #: The reverse proxy headers trusted for the public URL and client certificates (``[trusted_proxy]``).
    trusted_proxy: TrustedProxyConfig = field(default_factory=TrustedProxyConfig)
    #: The audit log and OpenTelemetry (``[telemetry]``).
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    #: Fetch every issuer's keys at start-up and fail it when they cannot be had (``preload``).
    preload: bool = False
    #: The OAuth 2.0 client-credentials flow FastAPI's OpenAPI document offers (``[openapi]``).
    openapi: OpenAPIConfig | None = None

    def issuer_by_iss(self) -> dict[str, IssuerConfig]:
        """Map exact ``iss`` strings to their issuer configuration."""
        return {issuer.issuer: issuer for issuer in self.issuers}


_TOP_KEYS = {"audience", "issuers", "leeway", "public_paths", "realm", "max_token_bytes",
             "allow_query_token", "introspection", "cache", "grants", "resource_metadata",
             "delegation", "dpop", "trusted_proxy", "telemetry", "issuer_uri", "preload", "openapi"}


def load_config(source: Mapping[str, Any] | str | os.PathLike[str] | GuardConfig) -> GuardConfig:
    """Build a :class:`GuardConfig` from a mapping or a ``.toml``/``.json`` file path."""
    if isinstance(source, GuardConfig):
        return source
    if isinstance(source, (str, os.PathLike)):
        source = _read_file(Path(source))
    if not isinstance(source, Mapping):
        raise ConfigurationError("config", "expected a mapping or a path to a TOML or JSON file")
    return _build(source)


def _read_file(path: Path) -> Mapping[str, Any]:
    kind = _FORMATS.get(path.suffix.lower())
    if kind is None:  # a .yaml file parsed as TOML would fail with a misleading "not valid yaml"
        raise ConfigurationError(str(path), f"unsupported configuration file extension {path.suffix or '(none)'!r}: "
                                 "write the configuration as TOML (.toml) or JSON (.json), same keys")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(str(path), f"cannot read configuration file ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
        data: Any = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(str(path), f"not valid {kind}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigurationError(str(path), "the top level must be a table/object")
    if "s2s_guard" in data and isinstance(data["s2s_guard"], Mapping):
        return data["s2s_guard"]  # allow a [s2s_guard] table in a shared file
    return data


def _build(raw: Mapping[str, Any]) -> GuardConfig:
    _unknown(raw, _TOP_KEYS, "")
    if "audience" not in raw:
        raise ConfigurationError("audience", "required: the aud values this API accepts")
    raw = _resolve_issuer_uris(raw)
    if not raw.get("issuers"):
        raise ConfigurationError("issuers", "required: at least one [[issuers]] entry")
    if not isinstance(raw["issuers"], Sequence) or isinstance(raw["issuers"], str):
        raise ConfigurationError("issuers", "expected a list of tables")
    issuers = tuple(_build_issuer(item, f"issuers[{i}].") for i, item in enumerate(raw["issuers"]))
    _check_unique(issuers)
    _check_slash_twins(issuers)
    _check_unique_names(issuers, raw["issuers"])
    _check_https(issuers)
    max_bytes = _integer(raw.get("max_token_bytes", 16 * 1024), "max_token_bytes", minimum=64)
    realm = raw.get("realm")
    if realm is not None and not isinstance(realm, str):
        raise ConfigurationError("realm", "expected a string")
    if not isinstance(raw.get("allow_query_token", False), bool):
        raise ConfigurationError("allow_query_token", "expected true or false")
    audience = _strings(raw["audience"], "audience")
    dpop = _dpop_from(raw.get("dpop", {}))
    return GuardConfig(
        audience=audience,
        issuers=issuers,
        leeway=_number(raw.get("leeway", 60), "leeway"),
        public_paths=_public_paths(raw.get("public_paths", [])),
        realm=realm,
        max_token_bytes=max_bytes,
        allow_query_token=raw.get("allow_query_token", False),
        introspection=_introspection_from(raw, issuers),
        cache=_cache_from(raw.get("cache", {})),
        grants=_grants_from(raw.get("grants", [])),
        resource_metadata=with_dpop_algorithms(resource_metadata_from(raw, audience=audience, issuers=issuers),
                                               dpop.algorithms, any(i.dpop != "off" for i in issuers)),
        delegation=delegation_from(raw),
        dpop=dpop,
        trusted_proxy=_trusted_proxy_from(raw.get("trusted_proxy", {})),
        telemetry=_telemetry_from(raw.get("telemetry", {})),
        preload=_bool(raw, "preload", ""),
        openapi=openapi_from(raw),
    )


def _public_paths(value: Any) -> tuple[str, ...]:
    """Paths exempt from authentication: each starts with ``/`` (a request path always does)."""
    if isinstance(value, str):  # accepted as one path, but a list is what the key holds
        log.warning('public_paths = %r is a string: write a list, public_paths = [%r]', value, value)
    paths = _strings(value, "public_paths", allow_empty=True)
    for path in paths:
        if not path.startswith("/"):  # it could never match: the route it meant stays protected
            raise ConfigurationError("public_paths", f"{path!r} never matches a request path: "
                                     f"start it with a slash, {'/' + path!r}")
    return paths


def _resolve_issuer_uris(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``issuer_uri`` (top level or per issuer): the one step that fetches, the discovery document, once."""
    return resolve_issuer_uris(raw)  # registered by s2s_guard.sources.issuer_uri: sources import config
