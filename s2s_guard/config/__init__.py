"""Configuration: frozen keyword-only dataclasses and the one translation from dict/TOML/JSON.

Every entry point (Python dict, TOML or JSON file, Flask or Django settings) goes through
:func:`load_config`, so a bad key raises one :class:`ConfigurationError` naming it, at start-up.
One module per section of the schema, each holding its dataclass and the translation of its table:

=====================  ==========================================================================
``load``               :class:`GuardConfig` (the top level) and :func:`load_config`
``issuers``            ``[[issuers]]``: :class:`IssuerConfig`, its keys and JWKS timing
``profile_options``    per-profile issuer options (Entra, SharePoint, Auth0, Cognito, Keycloak)
``algorithms``         the JWS algorithms a configuration may name
``secret``             HMAC secrets and their floor, redaction of URLs and reprs
``introspection``      ``[introspection]``: :class:`IntrospectionConfig`
``cache``              ``[cache]``: :class:`CacheConfig`
``binding``            ``[dpop]``, ``[trusted_proxy]``, binding modes: :class:`DPoPConfig`
``telemetry``          ``[telemetry]``: :class:`TelemetryConfig`
``resource_metadata``  ``[resource_metadata]`` (RFC 9728)
``grants``             ``[[grants]]``
``delegation``         ``[delegation]`` (RFC 8693)
``values``             the typed readers every section uses
``registry``           what loading checks against but may not import (profiles, ``issuer_uri``)
``reference``          ``docs/configuration.md``, generated from the key sets and the fields' ``#:`` comments
``reference_docs``     what the reference says of keys that fill no field of their name
=====================  ==========================================================================

Every name is importable from ``s2s_guard.config`` as before the split.
"""

from __future__ import annotations

from .algorithms import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, SUPPORTED_ALGORITHMS
from .binding import BINDING_MODES, DPOP_ALGORITHMS, DPoPConfig, TrustedProxyConfig, binding_mode
from .cache import CacheConfig
from .delegation import DelegationConfig, delegation_from
from .introspection import IntrospectionConfig
from .openapi import OpenAPIConfig
from .issuers import IssuerConfig
from .load import GuardConfig, load_config
from .resource_metadata import ResourceMetadataConfig, resource_metadata_from, with_dpop_algorithms
from .secret import MIN_SECRET_BYTES, check_secret_floor, redact_url
from .telemetry import TelemetryConfig

# Names importable from here before the split, kept so: what config.py imported, and the
# readers other modules used (new code imports them from .values).
from ..core.urls import INSECURE_HTTP_FIX as INSECURE_HTTP_FIX, plain_http as plain_http
from ..errors import ConfigurationError as ConfigurationError
from ..grants import Grant as Grant, parse_right as parse_right
from .values import _bool as _bool, _number as _number, _optional_str as _optional_str
from .values import _strings as _strings, _table as _table, _unknown as _unknown

__all__ = ["ASYMMETRIC_ALGORITHMS", "BINDING_MODES", "CacheConfig", "DPOP_ALGORITHMS", "DPoPConfig",
           "DelegationConfig", "GuardConfig", "HMAC_ALGORITHMS", "IntrospectionConfig", "IssuerConfig",
           "MIN_SECRET_BYTES", "OpenAPIConfig", "ResourceMetadataConfig", "SUPPORTED_ALGORITHMS", "TelemetryConfig",
           "TrustedProxyConfig", "binding_mode", "check_secret_floor", "delegation_from", "load_config",
           "redact_url", "resource_metadata_from", "with_dpop_algorithms"]
