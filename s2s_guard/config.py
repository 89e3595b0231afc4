"""Configuration: frozen keyword-only dataclasses and the one translation from dict/TOML/JSON.

Every entry point (Python dict, TOML or JSON file, Flask or Django settings) goes through
:func:`load_config`, so a bad key raises one :class:`ConfigurationError` naming it, at start-up.
"""

from __future__ import annotations

import json
import math
import os
import re
import ssl
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from .core.urls import INSECURE_HTTP_FIX, plain_http
from .errors import ConfigurationError
from .delegation import DelegationConfig, delegation_from
from .grants import Grant, parse_right
from .openapi import OpenAPIConfig, openapi_from
from .resource_metadata import ResourceMetadataConfig, resource_metadata_from, with_dpop_algorithms

__all__ = ["CacheConfig", "DPoPConfig", "GuardConfig", "IntrospectionConfig", "IssuerConfig", "load_config",
           "SUPPORTED_ALGORITHMS", "TelemetryConfig", "TrustedProxyConfig"]

#: Asymmetric algorithms verified with public keys (RFC 7518 §3, RFC 8037).
ASYMMETRIC_ALGORITHMS = frozenset({
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA",
})
#: HMAC algorithms, allowed only with a configured shared secret.
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
SUPPORTED_ALGORITHMS = ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS
#: RFC 7518 §3.2: an HMAC key at least as long as the HS256 hash output, however it is supplied.
MIN_SECRET_BYTES = 32


def check_secret_floor(secret: bytes | None, key: str) -> None:
    """Refuse an HMAC secret shorter than :data:`MIN_SECRET_BYTES` (never echoing it), naming ``key``."""
    if secret is not None and len(secret) < MIN_SECRET_BYTES:
        # RFC 7518 §3.2: a short shared secret can be brute-forced from one signed token.
        raise ConfigurationError(key, f"expected a secret of at least {MIN_SECRET_BYTES} bytes")


#: RFC 7518 §6.2.2, §6.3.2, §6.4.1: the JWK members of private and symmetric keys.
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_SECRET_QUERY_WORDS = ("pass", "secret", "token", "key")
_MASK = "***"


def redact_url(url: str) -> str:
    """``url`` with its userinfo password and secret-looking query values (``password=``) masked."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return _MASK  # unparseable: show nothing rather than guess where a secret is
    netloc = parts.netloc
    if password is not None:
        netloc = f"{parts.username or ''}:{_MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(f"{name}={_MASK if any(w in name.lower() for w in _SECRET_QUERY_WORDS) else value}"
                     for name, value in parse_qsl(parts.query, keep_blank_values=True))
    return parts._replace(netloc=netloc, query=query).geturl()


def _redacted(value: Any) -> Any:
    """A field value fit for a repr: URLs without passwords, JWK Sets without private members."""
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    if isinstance(value, Mapping) and isinstance(value.get("keys"), list):
        return {**value, "keys": [{name: _MASK if name in _PRIVATE_JWK_MEMBERS else member
                                   for name, member in jwk.items()} if isinstance(jwk, Mapping) else jwk
                                  for jwk in value["keys"]]}
    return value


def _redacted_repr(self: Any) -> str:
    """The dataclass repr, secrets out: ``repr=False`` fields hidden, URL passwords and private JWK members masked."""
    shown = (f"{f.name}={_redacted(getattr(self, f.name))!r}" for f in fields(self) if f.repr)
    return f"{type(self).__name__}({', '.join(shown)})"


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuerConfig:
    """One trusted token issuer: its exact ``iss``, algorithms and where its keys are."""

    name: str
    issuer: str
    algorithms: tuple[str, ...]
    profile: str = "jwt"
    jwks_uri: str | None = None
    jwks: Mapping[str, Any] | None = None
    jwks_file: str | None = None
    certificates: tuple[str, ...] = ()
    secret: bytes | None = field(default=None, repr=False)
    audience: tuple[str, ...] | None = None
    typ: str | None = None
    jwks_max_age: float = 600.0
    jwks_cooldown: float = 30.0
    timeout: float = 5.0
    #: "jwt" validates locally; "introspect" sends this issuer's tokens to [introspection].
    validation: str = "jwt"
    #: OpenID / RFC 8414 metadata URL; yields jwks_uri (and introspection_endpoint).
    discovery: str | None = None
    #: Bounds on a JWKS response's Cache-Control max-age, and how long keys outlive failed refreshes.
    jwks_min_age: float = 60.0
    jwks_stale_if_error: float = 86400.0
    #: Entra: tenant ids allowed when ``issuer`` holds ``{tenantid}``, or ``"any"`` (explicit opt-in).
    tenants: tuple[str, ...] | Literal["any"] | None = None
    #: ``jwt`` profile: the claim names of the app, the user and the scopes.
    claims: Mapping[str, str] | None = None
    #: RFC 9068 §2.1: refuse tokens whose ``typ`` is not ``at+jwt`` (sets ``typ``).
    require_typ: bool = False
    #: SharePoint trust registry: ``issuer = issuer_id@realm``; keys from ``metadata_url`` or certificates.
    issuer_id: str | None = None
    realm: str | None = None
    metadata_url: str | None = None
    #: A trust broker may sign for any client; otherwise only for ``client_ids``.
    trust_broker: bool = False
    client_ids: tuple[str, ...] = ()
    #: SharePoint: the hosts accepted in ``aud = principal_id/host@realm``.
    hosts: tuple[str, ...] = ()
    principal_id: str = "00000003-0000-0ff1-ce00-000000000000"
    #: The apps allowed to act for users in this issuer's tokens (Entra: delegated and on-behalf-of).
    actors: tuple[str, ...] | None = None
    #: Refresh keys in the background once this fraction of their lifetime has passed (1: never).
    jwks_refresh_ahead: float = 0.8
    #: RFC 9449 DPoP and RFC 8705 certificate binding for this issuer's tokens: "off", "allowed", "required".
    dpop: str = "off"
    mtls: str = "off"
    #: RFC 7518 §3.3: the smallest RSA modulus, in bits, a key of this issuer may have (never below 2048).
    min_rsa_bits: int = 2048
    #: Allow plain http (not loopback) for this issuer's jwks_uri, discovery, metadata and
    #: introspection URLs, and in its discovery document: development only (RFC 8414 §3, RFC 7662 §4).
    allow_insecure_http: bool = False
    #: A PEM file of CA certificates: verify this issuer's https servers with them only (a private CA).
    ca_bundle: str | None = None
    #: Opt-out (not recommended): accept tokens bound by ``cnf`` (``jkt``, ``x5t#S256``) as plain Bearer
    #: where this issuer's ``dpop``/``mtls`` is "off". By default they are refused (RFC 9449 §7.2, RFC 8705 §3).
    accept_bound_as_bearer: bool = False
    #: Keycloak: also read realm roles (``realm_access.roles``) and these clients' roles
    #: (``resource_access.<client>.roles``) into the principal; off unless asked for.
    realm_roles: bool = False
    client_roles: tuple[str, ...] = ()

    __repr__ = _redacted_repr  # no secret in a repr: an inline JWKS may hold private members

    def __post_init__(self) -> None:
        check_secret_floor(self.secret, "IssuerConfig.secret")  # also when built without load_config


@dataclass(frozen=True, slots=True, kw_only=True)
class IntrospectionConfig:
    """RFC 7662 token introspection: the endpoint, how this API authenticates to it, caching."""

    client_id: str
    endpoint: str | None = None
    issuer: str | None = None
    auth_method: str = "client_secret_basic"
    client_secret: str | None = field(default=None, repr=False)
    private_key: bytes | None = field(default=None, repr=False)
    private_key_alg: str = "RS256"
    private_key_kid: str | None = None
    timeout: float = 5.0
    cache_ttl: float = 300.0
    negative_ttl: float = 10.0
    jwt_response: bool = False
    #: RFC 7662 §2.2 makes ``aud`` optional (django-oauth-toolkit sends it only for RFC 8707 resource
    #: requests). A response naming no audience is refused unless its ``client_id`` is one of these
    #: clients: trusted to hold tokens for this API only. A response that has ``aud`` must still match.
    accept_missing_aud_for_clients: tuple[str, ...] = ()

    __repr__ = _redacted_repr  # no secret in a repr: the endpoint URL may carry a password


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheConfig:
    """Where validation results are cached: process memory, or Redis shared by all workers."""

    backend: str = "memory"
    url: str | None = None
    maxsize: int = 10_000
    verified: bool = True
    prefix: str = "s2s_guard:"
    timeout: float = 0.5
    revoked: tuple[str, ...] = ()
    revoked_refresh: float = 1.0
    #: HMAC-SHA256 key (>= 32 bytes) authenticating every record read back from the shared layer.
    secret: bytes | None = field(default=None, repr=False)

    __repr__ = _redacted_repr  # no secret in a repr: redis://user:password@host


@dataclass(frozen=True, slots=True, kw_only=True)
class TelemetryConfig:
    """What the guard reports: an audit log line per decision, OpenTelemetry metrics and spans."""

    #: One JSON line per decision on the ``s2s_guard.audit`` logger, at INFO (never the token).
    audit: bool = True
    #: OpenTelemetry metrics (and spans, below) through the global providers; needs the ``otel`` extra.
    otel: bool = False
    #: With ``otel``: a ``s2s_guard.authenticate`` span per authentication.
    spans: bool = True


#: Sender-constrained tokens, per issuer and per route: "off" (Bearer only), "allowed", "required".
BINDING_MODES = ("off", "allowed", "required")
#: RFC 9449 §7.1 ``algs``: the proof algorithms accepted by default (asymmetric only).
DPOP_ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "RS256", "EdDSA")


@dataclass(frozen=True, slots=True, kw_only=True)
class DPoPConfig:
    """RFC 9449 proof checks, for the issuers whose ``dpop`` is "allowed" or "required"."""

    algorithms: tuple[str, ...] = DPOP_ALGORITHMS
    #: A proof's ``iat`` may be this many seconds from now; its ``jti`` is remembered twice as long.
    iat_window: float = 60.0
    #: RFC 9449 §9: demand server nonces (``use_dpop_nonce`` and a ``DPoP-Nonce`` header).
    nonce: bool = False
    nonce_lifetime: float = 300.0
    #: Shared by every worker so each accepts the others' nonces; random per guard when unset.
    nonce_secret: bytes | None = field(default=None, repr=False)
    #: Proofs remembered per worker: at least 2 x iat_window x peak DPoP requests per second. A live
    #: proof is never evicted (RFC 9449 §11.1): while all are live, new proofs get a 503 with Retry-After.
    replay_cache_size: int = 100_000

    def __post_init__(self) -> None:
        check_secret_floor(self.nonce_secret, "DPoPConfig.nonce_secret")  # also when built without load_config


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedProxyConfig:
    """Headers set by a reverse proxy in front of this API; none is trusted unless named here."""

    #: The public URL (DPoP ``htu``): "forwarded" (RFC 7239) or "x-forwarded" (X-Forwarded-Proto/Host/Prefix).
    url_headers: str | None = None
    #: The client certificate of a TLS-terminating proxy (RFC 9440 ``Client-Cert``), lower case.
    client_cert_header: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardConfig:
    """The whole guard: accepted audiences, clock leeway, exempt paths and issuers."""

    audience: tuple[str, ...]
    issuers: tuple[IssuerConfig, ...]
    leeway: float = 60.0
    public_paths: tuple[str, ...] = ()
    realm: str | None = None
    max_token_bytes: int = 16 * 1024
    allow_query_token: bool = False
    introspection: IntrospectionConfig | None = None
    cache: CacheConfig = field(default_factory=CacheConfig)
    #: App rights on resource path prefixes, for tokens that carry no permissions (``[[grants]]``).
    grants: tuple[Grant, ...] = ()
    #: RFC 9728 protected resource metadata (``[resource_metadata]``), served and named in challenges.
    resource_metadata: ResourceMetadataConfig | None = None
    #: RFC 8693 delegation rules for every token (``[delegation]``).
    delegation: DelegationConfig | None = None
    #: RFC 9449 proof checks (``[dpop]``) and the proxy headers trusted for URLs and certificates.
    dpop: DPoPConfig = field(default_factory=DPoPConfig)
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
_ISSUER_KEYS = {"name", "issuer", "profile", "algorithms", "jwks_uri", "jwks", "jwks_file",
                "certificates", "secret", "secret_env", "audience", "typ", "jwks_max_age",
                "jwks_cooldown", "timeout", "validation", "discovery", "jwks_min_age",
                "jwks_stale_if_error", "actors", "jwks_refresh_ahead", "dpop", "mtls", "min_rsa_bits",
                "allow_insecure_http", "accept_bound_as_bearer", "ca_bundle", "issuer_uri"}


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
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(str(path), f"cannot read configuration file ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
        data: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(str(path), f"not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ConfigurationError(str(path), "the top level must be a table/object")
    if "s2s_guard" in data and isinstance(data["s2s_guard"], Mapping):
        return data["s2s_guard"]  # allow a [s2s_guard] table in a shared file
    return data


def _unknown(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigurationError(f"{where}{key}", f"unknown key; expected one of {sorted(allowed)}")


def _table(value: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    """A TOML table at ``where`` (``"cache."``, ``"issuers[0]."``) holding only ``allowed`` keys."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(where.rstrip("."), "expected a table")
    _unknown(value, allowed, where)
    return value


def _integer(value: Any, key: str, *, minimum: int) -> int:
    """An integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(key, f"expected an integer >= {minimum}")
    return value


def _strings(value: Any, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(v, str) and v for v in items):
        raise ConfigurationError(key, "expected a non-empty string or a list of non-empty strings")
    if not items and not allow_empty:
        raise ConfigurationError(key, "must not be empty")
    return tuple(items)


def _number(value: Any, key: str, *, minimum: float = 0) -> float:
    # TOML inf/nan and JSON Infinity/NaN parse as floats: an infinite leeway would disable expiry.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value < math.inf:
        raise ConfigurationError(key, f"expected a finite number >= {minimum}")
    return float(value)


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
        public_paths=_strings(raw.get("public_paths", []), "public_paths", allow_empty=True),
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


def _resolve_issuer_uris(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``issuer_uri`` (top level or per issuer): the one step that fetches, the discovery document, once."""
    from .sources.issuer_uri import resolve_issuer_uris  # local: sources import config

    return resolve_issuer_uris(raw)


def _check_https(issuers: tuple[IssuerConfig, ...]) -> None:
    """Each issuer's fetched URLs: https, or http on loopback, unless it allows insecure http."""
    for i, issuer in enumerate(issuers):
        for key in ("jwks_uri", "discovery", "metadata_url"):
            _require_https(getattr(issuer, key), f"issuers[{i}].{key}", issuer)


def _require_https(url: str | None, key: str, issuer: IssuerConfig) -> None:
    # RFC 8414 §3, RFC 7662 §4: keys and verdicts only over TLS (loopback never leaves the host).
    if url is not None and not issuer.allow_insecure_http and plain_http(url):
        raise ConfigurationError(key, f"{url!r} is not https: {INSECURE_HTTP_FIX}")


def _check_unique(issuers: tuple[IssuerConfig, ...]) -> None:
    seen: set[str] = set()
    for i, issuer in enumerate(issuers):
        if issuer.issuer in seen:
            raise ConfigurationError(f"issuers[{i}].issuer", f"duplicate issuer {issuer.issuer!r}")
        seen.add(issuer.issuer)


def _check_unique_names(issuers: tuple[IssuerConfig, ...], raw: Sequence[Any]) -> None:
    """Names key DPoP/mTLS modes, actors, grants and shared records: one entry per name, and no
    name that is another entry's ``iss`` (grants and ``introspection.issuer`` accept either)."""
    names: dict[str, int] = {}
    for i, issuer in enumerate(issuers):
        clash = names.setdefault(issuer.name, i)
        if clash == i:
            clash = next((j for j, other in enumerate(issuers) if j != i and other.issuer == issuer.name), i)
        if clash != i:  # a second entry would silently take the first one's modes, actors and grants
            default = "name" not in raw[i] or "name" not in raw[clash]
            hint = " (an entry without name is named by its issuer)" if default else ""
            raise ConfigurationError(f"issuers[{i}].name", f"{issuer.name!r} is also the name or issuer of "
                                     f'issuers[{clash}]{hint}: give each [[issuers]] entry a unique name = "..."')


def _build_issuer(raw: Any, where: str) -> IssuerConfig:
    raw = _table(raw, _ISSUER_KEYS, where)
    raw = _derive_issuer(raw, where)
    validation = _validation(raw, where)
    for key in ("issuer", "algorithms") if validation == "jwt" else ("issuer",):
        if key not in raw:
            raise ConfigurationError(where + key, "required")
    issuer = raw["issuer"]
    if not isinstance(issuer, str) or not issuer:
        raise ConfigurationError(where + "issuer", "expected the exact iss string")
    algorithms = _algorithms(raw["algorithms"], where + "algorithms") if "algorithms" in raw else ()
    secret = _secret(raw, where)
    if any(a in HMAC_ALGORITHMS for a in algorithms) and secret is None:
        # RFC 8725 §3.2: HMAC only with a secret configured for this issuer (no key confusion).
        raise ConfigurationError(where + "algorithms", "HS* algorithms need 'secret' or 'secret_env'")
    if validation == "jwt":
        _check_key_source(raw, where, algorithms)
    profile = raw.get("profile", "jwt")
    _check_profile(profile, where + "profile")
    return IssuerConfig(
        name=str(raw.get("name", issuer)),
        issuer=issuer,
        algorithms=algorithms,
        profile=profile,
        jwks_uri=_optional_str(raw, "jwks_uri", where),
        jwks=_optional_jwks(raw, where),
        jwks_file=_optional_str(raw, "jwks_file", where),
        certificates=_strings(raw.get("certificates", []), where + "certificates", allow_empty=True),
        secret=secret,
        audience=_strings(raw["audience"], where + "audience") if "audience" in raw else None,
        typ=_typ(raw, where),
        jwks_max_age=_number(raw.get("jwks_max_age", 600), where + "jwks_max_age"),
        jwks_cooldown=_number(raw.get("jwks_cooldown", 30), where + "jwks_cooldown"),
        timeout=_number(raw.get("timeout", 5), where + "timeout", minimum=0.001),
        validation=validation,
        discovery=_url(raw, "discovery", where),
        jwks_min_age=_number(raw.get("jwks_min_age", 60), where + "jwks_min_age"),
        jwks_stale_if_error=_number(raw.get("jwks_stale_if_error", 86400), where + "jwks_stale_if_error"),
        actors=_strings(raw["actors"], where + "actors", allow_empty=True) if "actors" in raw else None,
        jwks_refresh_ahead=_fraction(raw.get("jwks_refresh_ahead", 0.8), where + "jwks_refresh_ahead"),
        dpop=binding_mode(raw.get("dpop", "off"), where + "dpop"),
        mtls=binding_mode(raw.get("mtls", "off"), where + "mtls"),
        # RFC 7518 §3.3: 2048 bits or larger MUST be used; raising the floor is allowed, lowering is not
        min_rsa_bits=_integer(raw.get("min_rsa_bits", 2048), where + "min_rsa_bits", minimum=2048),
        allow_insecure_http=_bool(raw, "allow_insecure_http", where),
        accept_bound_as_bearer=_bound_as_bearer(raw, where),
        ca_bundle=_ca_bundle(raw, where),
        **_profile_options(raw, where, issuer, profile),
    )


def _fraction(value: Any, key: str) -> float:
    """A share of a lifetime in ``(0, 1]``."""
    if _number(value, key) == 0 or value > 1:
        raise ConfigurationError(key, "expected a fraction in (0, 1], e.g. 0.8 (1 turns it off)")
    return float(value)


def _algorithms(value: Any, key: str) -> tuple[str, ...]:
    algorithms = _strings(value, key)
    for alg in algorithms:
        if alg not in SUPPORTED_ALGORITHMS:
            # RFC 8725 §3.1: an explicit allow-list; "none" is never configurable.
            raise ConfigurationError(key, f"unsupported algorithm {alg!r}; use {sorted(SUPPORTED_ALGORITHMS)}")
    return algorithms


def _secret(raw: Mapping[str, Any], where: str) -> bytes | None:
    if "secret_env" in raw:
        name = raw["secret_env"]
        value = os.environ.get(name) if isinstance(name, str) else None
        if not value:
            raise ConfigurationError(where + "secret_env", f"environment variable {name!r} is not set")
        if len(value.encode()) < MIN_SECRET_BYTES:
            # RFC 7518 §3.2: the same floor as an inline secret.
            raise ConfigurationError(where + "secret_env", f"set {name!r} to a secret of at least 32 bytes")
        return value.encode()
    secret = raw.get("secret")
    if secret is None:
        return None
    if not isinstance(secret, str) or len(secret.encode()) < 32:
        # RFC 7518 §3.2: an HMAC key at least as long as the hash output.
        raise ConfigurationError(where + "secret", "expected a string of at least 32 bytes")
    return secret.encode()


def _check_key_source(raw: Mapping[str, Any], where: str, algorithms: tuple[str, ...]) -> None:
    sources = [k for k in ("jwks_uri", "jwks", "jwks_file", "certificates", "discovery", "metadata_url") if raw.get(k)]
    if not sources and any(a in ASYMMETRIC_ALGORITHMS for a in algorithms):
        raise ConfigurationError(where + "jwks_uri",
                                 "one of jwks_uri, jwks, jwks_file, certificates or discovery is required")
    uri = raw.get("jwks_uri")
    if uri is not None and (not isinstance(uri, str) or not uri.startswith(("https://", "http://"))):
        raise ConfigurationError(where + "jwks_uri", "expected an http(s) URL")


def _optional_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(where + key, "expected a non-empty string")
    return value


def _ca_bundle(raw: Mapping[str, Any], where: str) -> str | None:
    """A readable PEM file of CA certificates, checked now so a typo fails at start-up."""
    path = _optional_str(raw, "ca_bundle", where)
    if path is not None:
        try:
            ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(where + "ca_bundle", f"cannot load {path!r} as PEM CA certificates ({exc}); "
                                     "give the path of a PEM file holding the CA certificate that signs "
                                     "the issuer's server certificates") from exc
    return path


def _optional_jwks(raw: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
    value = raw.get("jwks")
    if value is not None and (not isinstance(value, Mapping) or not isinstance(value.get("keys"), list)):
        raise ConfigurationError(where + "jwks", 'expected a JWK Set: {"keys": [...]}')
    return value


def _check_profile(profile: Any, key: str) -> None:
    from .core.profiles import PROFILES  # local: profiles import principal, not config

    if profile not in PROFILES:
        raise ConfigurationError(key, f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")


def _validation(raw: Mapping[str, Any], where: str) -> str:
    value = raw.get("validation", "jwt")
    if value not in ("jwt", "introspect"):
        raise ConfigurationError(where + "validation", 'expected "jwt" or "introspect"')
    return str(value)


def _url(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _optional_str(raw, key, where)
    if value is not None and not value.startswith(("https://", "http://")):
        raise ConfigurationError(where + key, "expected an http(s) URL")
    return value


_INTROSPECTION_KEYS = {"endpoint", "issuer", "client_id", "auth_method", "client_secret",
                       "client_secret_env", "private_key_file", "private_key_alg",
                       "private_key_kid", "timeout", "cache_ttl", "negative_ttl", "jwt_response",
                       "accept_missing_aud_for_clients"}
_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
_CACHE_KEYS = {"backend", "url", "maxsize", "verified", "prefix", "timeout", "revoked",
               "revoked_refresh", "secret", "secret_env"}


def _introspection_from(raw: Mapping[str, Any], issuers: tuple[IssuerConfig, ...]) -> IntrospectionConfig | None:
    block = raw.get("introspection")
    if block is None:
        for i, issuer in enumerate(issuers):
            if issuer.validation == "introspect":
                raise ConfigurationError(f"issuers[{i}].validation", '"introspect" needs an [introspection] table')
        return None
    where = "introspection."
    block = _table(block, _INTROSPECTION_KEYS, where)
    client_id = _optional_str(block, "client_id", where)
    if client_id is None:
        raise ConfigurationError(where + "client_id", "required: this API's client id at the authorization server")
    issuer = _introspection_issuer(block, issuers)
    endpoint = _url(block, "endpoint", where)
    _require_https(endpoint, where + "endpoint", issuer)
    if endpoint is None and issuer.discovery is None:
        raise ConfigurationError(where + "endpoint", "required unless the introspection issuer has 'discovery'")
    method = block.get("auth_method", "client_secret_basic")
    if method not in _AUTH_METHODS:
        raise ConfigurationError(where + "auth_method", f"expected one of {list(_AUTH_METHODS)}")
    if not isinstance(block.get("jwt_response", False), bool):
        raise ConfigurationError(where + "jwt_response", "expected true or false")
    return IntrospectionConfig(
        client_id=client_id, endpoint=endpoint, issuer=issuer.issuer, auth_method=method,
        client_secret=_client_secret(block, method) if method != "private_key_jwt" else None,
        private_key=_private_key(block) if method == "private_key_jwt" else None,
        private_key_alg=_private_key_alg(block), private_key_kid=_optional_str(block, "private_key_kid", where),
        timeout=_number(block.get("timeout", 5), where + "timeout", minimum=0.001),
        cache_ttl=_number(block.get("cache_ttl", 300), where + "cache_ttl"),
        negative_ttl=_number(block.get("negative_ttl", 10), where + "negative_ttl"),
        jwt_response=block.get("jwt_response", False),
        accept_missing_aud_for_clients=_strings(block.get("accept_missing_aud_for_clients", ()),
                                                where + "accept_missing_aud_for_clients", allow_empty=True))


def _introspection_issuer(block: Mapping[str, Any], issuers: tuple[IssuerConfig, ...]) -> IssuerConfig:
    """The issuer whose tokens the endpoint introspects: named, the only "introspect" one, or the only one."""
    wanted = block.get("issuer")
    if wanted is not None:
        for issuer in issuers:
            if wanted in (issuer.issuer, issuer.name):
                return issuer
        raise ConfigurationError("introspection.issuer", "expected the issuer or name of an [[issuers]] entry")
    candidates = [i for i in issuers if i.validation == "introspect"] or list(issuers)
    if len(candidates) != 1:
        raise ConfigurationError("introspection.issuer", "required when several issuers could own the endpoint")
    return candidates[0]


def _client_secret(block: Mapping[str, Any], method: str) -> str:
    where = "introspection."
    if "client_secret_env" in block:
        name = block["client_secret_env"]
        value = os.environ.get(name) if isinstance(name, str) else None
        if not value:
            raise ConfigurationError(where + "client_secret_env", f"environment variable {name!r} is not set")
        return value
    secret = _optional_str(block, "client_secret", where)
    if secret is None:
        raise ConfigurationError(where + "client_secret_env", f"{method} needs client_secret_env (or client_secret)")
    return secret


def _private_key(block: Mapping[str, Any]) -> bytes:
    path = _optional_str(block, "private_key_file", "introspection.")
    if path is None:
        raise ConfigurationError("introspection.private_key_file", "private_key_jwt needs a PEM private key file")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError("introspection.private_key_file", f"cannot read {path}: {exc.strerror}") from exc


def _private_key_alg(block: Mapping[str, Any]) -> str:
    alg = block.get("private_key_alg", "RS256")
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise ConfigurationError("introspection.private_key_alg", f"expected one of {sorted(ASYMMETRIC_ALGORITHMS)}")
    return str(alg)


def _cache_from(block: Any) -> CacheConfig:
    where = "cache."
    block = _table(block, _CACHE_KEYS, where)
    backend = block.get("backend", "memory")
    if backend not in ("memory", "redis"):
        raise ConfigurationError(where + "backend", 'expected "memory" or "redis"')
    url = _optional_str(block, "url", where)
    if backend == "redis" and (url is None or not url.startswith(("redis://", "rediss://", "unix://"))):
        raise ConfigurationError(where + "url", 'backend "redis" needs url = "redis://host:port/db"')
    maxsize = _integer(block.get("maxsize", 10_000), where + "maxsize", minimum=1)
    if not isinstance(block.get("verified", True), bool):
        raise ConfigurationError(where + "verified", "expected true or false")
    return CacheConfig(
        backend=backend, url=url, maxsize=maxsize, verified=block.get("verified", True),
        prefix=_optional_str(block, "prefix", where) or "s2s_guard:",
        timeout=_number(block.get("timeout", 0.5), where + "timeout", minimum=0.001),
        revoked=_strings(block.get("revoked", []), where + "revoked", allow_empty=True),
        revoked_refresh=_number(block.get("revoked_refresh", 1), where + "revoked_refresh"),
        secret=_cache_secret(block, backend))


_CACHE_SECRET_FIX = ('backend "redis" needs secret_env = "S2S_GUARD_CACHE_SECRET" naming a variable that holds '
                     'at least 32 random bytes (python -c "import secrets; print(secrets.token_urlsafe(32))"), '
                     "the same for every worker: records planted in Redis are then refused")


def _cache_secret(block: Mapping[str, Any], backend: str) -> bytes | None:
    """The shared layer's HMAC key, like an issuer's ``secret``/``secret_env``; required with Redis."""
    if "secret_env" not in block and "secret" not in block:
        if backend == "redis":  # whoever can write to Redis could otherwise plant principals and keys
            raise ConfigurationError("cache.secret_env", _CACHE_SECRET_FIX)
        return None
    secret = _secret(block, "cache.")
    if secret is None or len(secret) < 32:
        # RFC 2104 §3: a key at least as long as the hash output (HMAC-SHA256: 32 bytes).
        raise ConfigurationError("cache.secret_env" if "secret_env" in block else "cache.secret",
                                 "expected a secret of at least 32 bytes")
    return secret


_TELEMETRY_KEYS = {"audit", "otel", "spans"}


def _telemetry_from(block: Any) -> TelemetryConfig:
    block = _table(block, _TELEMETRY_KEYS, "telemetry.")
    return TelemetryConfig(**{key: _bool(block, key, "telemetry.") for key in block})


# -- profile options: Entra tenants, jwt claim names, RFC 9068 typ, the SharePoint trust registry --

_PROFILE_KEYS = {"tenants", "claims", "require_typ", "issuer_id", "realm", "metadata_url",
                 "trust_broker", "client_ids", "hosts", "principal_id", "realm_roles", "client_roles"}
_SHAREPOINT_KEYS = ("issuer_id", "realm", "metadata_url", "trust_broker", "client_ids", "hosts",
                    "principal_id")
_SHAREPOINT_PROFILES = ("sharepoint-high-trust", "sharepoint-acs")
_ACS_PRINCIPAL = "00000001-0000-0000-c000-000000000000"
_SHAREPOINT_PRINCIPAL = "00000003-0000-0ff1-ce00-000000000000"
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ISSUER_KEYS |= _PROFILE_KEYS


def _guid(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _GUID.fullmatch(value.lower()):
        raise ConfigurationError(key, "expected a GUID such as 11111111-1111-1111-1111-111111111111")
    return value.lower()


def _bool(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise ConfigurationError(where + key, "expected true or false")
    return value


def _typ(raw: Mapping[str, Any], where: str) -> str | None:
    """``typ``, or ``at+jwt`` (RFC 9068 §2.1) when ``require_typ = true``."""
    typ = _optional_str(raw, "typ", where)
    return typ or ("at+jwt" if _bool(raw, "require_typ", where) else None)


def _derive_issuer(raw: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """SharePoint issuers are ``issuer_id@realm`` (lower-case): derive ``issuer`` from those two."""
    profile = raw.get("profile")
    if profile not in _SHAREPOINT_PROFILES or "issuer" in raw:
        return raw
    if "realm" not in raw:
        raise ConfigurationError(where + "realm", "required: the SharePoint realm (a GUID)")
    ident = raw.get("issuer_id", _ACS_PRINCIPAL if profile == "sharepoint-acs" else None)
    if ident is None:
        raise ConfigurationError(where + "issuer_id", "required: the GUID of the trusted token issuer")
    return {**raw, "issuer": f"{_guid(ident, where + 'issuer_id')}@{_guid(raw['realm'], where + 'realm')}"}


def _profile_options(raw: Mapping[str, Any], where: str, issuer: str, profile: str) -> dict[str, Any]:
    """The profile keys of one issuer; each is refused where its profile does not use it."""
    for key, owner in (("tenants", "entra"), ("claims", "jwt")):
        if key in raw and profile != owner:
            raise ConfigurationError(where + key, f"only for profile {owner!r}")
    if "{tenantid}" in issuer and profile != "entra":
        raise ConfigurationError(where + "issuer", "{tenantid} templates are for the entra profile")
    options: dict[str, Any] = {"tenants": _tenants(raw, where, issuer),
                               "claims": _claim_names(raw, where),
                               "require_typ": _bool(raw, "require_typ", where)}
    if profile in _SHAREPOINT_PROFILES:
        options.update(_sharepoint_registry(raw, where, issuer, profile))
        return options
    options.update(_idp_options(raw, where, issuer, profile))
    for key in _SHAREPOINT_KEYS:
        if key in raw and key not in options:  # Cognito's client_ids is its own
            raise ConfigurationError(where + key, "only for the sharepoint-high-trust and sharepoint-acs profiles")
    return options


def _idp_options(raw: Mapping[str, Any], where: str, issuer: str, profile: str) -> dict[str, Any]:
    """Auth0's issuer spelling, Cognito's app client allow-list, Keycloak's opt-in roles."""
    for key, owner in (("realm_roles", "keycloak"), ("client_roles", "keycloak")):
        if key in raw and profile != owner:
            raise ConfigurationError(where + key, f"only for profile {owner!r}")
    if profile == "auth0" and not issuer.endswith("/"):  # Auth0's iss always ends with a slash
        raise ConfigurationError(where + "issuer", f"Auth0 issuers end with a slash: {issuer + '/'!r}")
    if profile == "cognito":  # no aud in Cognito access tokens: the app client is the audience
        if "client_ids" not in raw:
            raise ConfigurationError(where + "client_ids",
                                     'required: the app client ids whose access tokens this API accepts, e.g. ["1example23456789"]')
        return {"client_ids": _strings(raw["client_ids"], where + "client_ids")}
    if profile == "keycloak":
        return {"realm_roles": _bool(raw, "realm_roles", where),
                "client_roles": _strings(raw.get("client_roles", []), where + "client_roles", allow_empty=True)}
    return {}


def _tenants(raw: Mapping[str, Any], where: str, issuer: str) -> tuple[str, ...] | str | None:
    """Entra multi-tenant: an issuer with ``{tenantid}`` needs an allow-list or an explicit ``"any"``."""
    value = raw.get("tenants")
    if value is None and "{tenantid}" in issuer:
        raise ConfigurationError(where + "tenants",
                                 'an issuer with {tenantid} needs tenants = ["<tenant id>", ...] or tenants = "any"')
    if value is None or value == "any":
        return value
    return tuple(_guid(t, where + "tenants") for t in _strings(value, where + "tenants"))


def _claim_names(raw: Mapping[str, Any], where: str) -> Mapping[str, str] | None:
    value = raw.get("claims")
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        raise ConfigurationError(where + "claims", 'expected a table such as {app = "azp", user = "sub", scopes = "scp"}')
    _unknown(value, {"app", "user", "scopes"}, where + "claims.")
    for role, name in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{where}claims.{role}", "expected a claim name")
    return dict(value)


def _sharepoint_registry(raw: Mapping[str, Any], where: str, issuer: str, profile: str) -> dict[str, Any]:
    """A trusted SharePoint issuer as a farm administrator registers it (New-SPTrustedSecurityTokenIssuer)."""
    if "realm" not in raw:
        raise ConfigurationError(where + "realm", "required: the SharePoint realm (a GUID)")
    realm = _guid(raw["realm"], where + "realm")
    acs = profile == "sharepoint-acs"
    issuer_id = _guid(raw.get("issuer_id", _ACS_PRINCIPAL if acs else None), where + "issuer_id")
    if acs and ("issuer_id" in raw and issuer_id != _ACS_PRINCIPAL or "trust_broker" in raw):
        raise ConfigurationError(where + "issuer_id", f"ACS is always {_ACS_PRINCIPAL} and a broker")
    if issuer != f"{issuer_id}@{realm}":
        raise ConfigurationError(where + "issuer", f"expected {issuer_id}@{realm} (issuer_id@realm, lower-case)")
    broker = _bool(raw, "trust_broker", where)
    ids = _strings(raw.get("client_ids", []), where + "client_ids", allow_empty=True)
    client_ids = tuple(_guid(c, where + "client_ids") for c in ids)
    if not acs and not broker and not client_ids:
        client_ids = (issuer_id,)  # SharePoint: an issuer that is not a broker signs only for itself
    hosts = tuple(h.lower() for h in _strings(raw.get("hosts", []), where + "hosts", allow_empty=True))
    if not hosts and "audience" not in raw:
        raise ConfigurationError(where + "hosts", 'required: the hosts in aud = principal/host@realm, e.g. ["orders.contoso.com"]')
    return {"issuer_id": issuer_id, "realm": realm, "metadata_url": _url(raw, "metadata_url", where),
            "trust_broker": broker, "client_ids": client_ids, "hosts": hosts,
            "principal_id": _guid(raw.get("principal_id", _SHAREPOINT_PRINCIPAL), where + "principal_id")}


# -- [[grants]]: app rights on resource path prefixes -----------------------------------------

_GRANT_KEYS = {"app", "resource", "right", "app_only", "issuer"}


def _grants_from(value: Any) -> tuple[Grant, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigurationError("grants", "expected a list of [[grants]] tables")
    return tuple(_grant(item, f"grants[{i}].") for i, item in enumerate(value))


def _grant(raw: Any, where: str) -> Grant:
    raw = _table(raw, _GRANT_KEYS, where)
    for key in ("app", "resource", "right"):
        if key not in raw:
            raise ConfigurationError(where + key, "required")
    resource = _optional_str(raw, "resource", where)
    if resource is None or not resource.startswith("/"):
        raise ConfigurationError(where + "resource", 'expected a path prefix such as "/sites/hr/lists/docs"')
    return Grant(app=str(_optional_str(raw, "app", where)), resource=resource,
                 right=parse_right(raw["right"], where + "right"),
                 app_only=_bool(raw, "app_only", where), issuer=_optional_str(raw, "issuer", where))


# -- sender-constrained tokens: [dpop], [trusted_proxy], and each issuer's dpop / mtls ---------

_DPOP_KEYS = {"algorithms", "iat_window", "nonce", "nonce_lifetime", "nonce_secret_env", "replay_cache_size"}
_PROXY_KEYS = {"url_headers", "client_cert_header"}
_URL_HEADERS = ("forwarded", "x-forwarded")


def binding_mode(value: Any, key: str) -> str:
    """ "off", "allowed" or "required" (RFC 9449 ``dpop``, RFC 8705 ``mtls``)."""
    if value not in BINDING_MODES:
        raise ConfigurationError(key, f"expected one of {list(BINDING_MODES)}")
    return str(value)


def _bound_as_bearer(raw: Mapping[str, Any], where: str) -> bool:
    """``accept_bound_as_bearer``: only meaningful where ``dpop`` or ``mtls`` is "off"."""
    accept = _bool(raw, "accept_bound_as_bearer", where)
    if accept and raw.get("dpop", "off") != "off" and raw.get("mtls", "off") != "off":
        raise ConfigurationError(where + "accept_bound_as_bearer",
                                 'has no effect when both dpop and mtls check the binding: remove it')
    return accept


def _dpop_from(block: Any) -> DPoPConfig:
    where = "dpop."
    block = _table(block, _DPOP_KEYS, where)
    algorithms = _strings(block.get("algorithms", list(DPOP_ALGORITHMS)), where + "algorithms")
    for alg in algorithms:
        if alg not in ASYMMETRIC_ALGORITHMS:  # RFC 9449 §4.2: asymmetric only, never none or HS*
            raise ConfigurationError(where + "algorithms", f"{alg!r}: expected {sorted(ASYMMETRIC_ALGORITHMS)}")
    size = _integer(block.get("replay_cache_size", 100_000), where + "replay_cache_size", minimum=1)
    return DPoPConfig(
        algorithms=algorithms, nonce=_bool(block, "nonce", where), nonce_secret=_nonce_secret(block),
        iat_window=_number(block.get("iat_window", 60), where + "iat_window", minimum=1),
        nonce_lifetime=_number(block.get("nonce_lifetime", 300), where + "nonce_lifetime", minimum=1),
        replay_cache_size=size)


def _nonce_secret(block: Mapping[str, Any]) -> bytes | None:
    """The HMAC key of server nonces, from the environment variable ``nonce_secret_env`` names."""
    if "nonce_secret_env" not in block:
        return None
    name = block["nonce_secret_env"]
    value = os.environ.get(name) if isinstance(name, str) else None
    if not value or len(value.encode()) < 32:
        raise ConfigurationError("dpop.nonce_secret_env", f"set {name!r} to a secret of at least 32 bytes")
    return value.encode()


def _trusted_proxy_from(block: Any) -> TrustedProxyConfig:
    where = "trusted_proxy."
    block = _table(block, _PROXY_KEYS, where)
    url_headers = block.get("url_headers")
    if url_headers is not None and url_headers not in _URL_HEADERS:
        raise ConfigurationError(where + "url_headers", f"expected one of {list(_URL_HEADERS)}")
    header = _optional_str(block, "client_cert_header", where)
    return TrustedProxyConfig(url_headers=url_headers, client_cert_header=header.lower() if header else None)
