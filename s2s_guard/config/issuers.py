"""``[[issuers]]``: one trusted token issuer, its keys and their timing, and the checks across issuers.

:class:`IssuerConfig` holds every option of an entry; the key sources read from it (``jwks_uri``,
``jwks``, ``jwks_file``, ``certificates``, ``discovery``) and the JWKS timing (``jwks_max_age``,
``jwks_cooldown``, ``jwks_min_age``, ``jwks_stale_if_error``, ``jwks_refresh_ahead``) are checked
here; the profile options in :mod:`~s2s_guard.config.profile_options`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..core.urls import INSECURE_HTTP_FIX, plain_http
from ..errors import ConfigurationError
from .algorithms import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, _algorithms
from .binding import _bound_as_bearer, binding_mode
from .profile_options import _PROFILE_KEYS, _check_profile, _derive_issuer, _profile_options, _typ
from .secret import _redacted_repr, _secret, check_secret_floor
from .values import _bool, _fraction, _integer, _number, _optional_str, _strings, _table, _url

log = logging.getLogger("s2s_guard.config")


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuerConfig:
    """One trusted token issuer: its exact ``iss``, algorithms and where its keys are."""

    #: A unique name for this entry, used by grants, ``introspection.issuer`` and logs.
    name: str
    #: The exact ``iss`` of this issuer's tokens (compared character for character).
    issuer: str
    #: RFC 8725 §3.1: the JWS algorithms accepted, never taken from the token.
    algorithms: tuple[str, ...]
    #: How claims become a principal: ``jwt``, ``entra``, ``auth0``, ``cognito``, ``keycloak``, ``sharepoint-*``...
    profile: str = "jwt"
    #: The URL of the issuer's JWK Set (RFC 7517), fetched and cached.
    jwks_uri: str | None = None
    #: An inline JWK Set: ``{keys = [...]}``.
    jwks: Mapping[str, Any] | None = None
    #: A JWK Set file, read at start-up.
    jwks_file: str | None = None
    #: PEM certificate files whose public keys verify this issuer's tokens.
    certificates: tuple[str, ...] = ()
    #: The HMAC key (>= 32 bytes) for HS256/384/512; prefer ``secret_env``.
    secret: bytes | None = field(default=None, repr=False)
    #: The ``aud`` values accepted from this issuer, instead of the top-level ``audience``.
    audience: tuple[str, ...] | None = None
    #: The JOSE ``typ`` header this issuer's tokens must carry (e.g. ``at+jwt``).
    typ: str | None = None
    #: The longest a JWKS response is cached (its Cache-Control max-age is clamped to at most this), in seconds.
    jwks_max_age: float = 600.0
    #: Seconds between refetches triggered by an unknown ``kid`` (a flood of made-up kids fetches once).
    jwks_cooldown: float = 30.0
    #: Seconds allowed for each request to this issuer's JWKS, discovery and metadata URLs.
    timeout: float = 5.0
    #: "jwt" validates locally; "introspect" sends this issuer's tokens to [introspection].
    validation: str = "jwt"
    #: OpenID / RFC 8414 metadata URL; yields jwks_uri (and introspection_endpoint).
    discovery: str | None = None
    #: Bounds on a JWKS response's Cache-Control max-age, and how long keys outlive failed refreshes.
    #: The shortest a JWKS response is cached, whatever its Cache-Control max-age says, in seconds.
    jwks_min_age: float = 60.0
    #: Seconds the last good keys are still used while refreshes fail.
    jwks_stale_if_error: float = 86400.0
    #: Entra: tenant ids allowed when ``issuer`` holds ``{tenantid}``, or ``"any"`` (explicit opt-in).
    tenants: tuple[str, ...] | Literal["any"] | None = None
    #: ``jwt`` profile: the claim names of the app, the user and the scopes.
    claims: Mapping[str, str] | None = None
    #: RFC 9068 §2.1: refuse tokens whose ``typ`` is not ``at+jwt`` (sets ``typ``).
    require_typ: bool = False
    #: SharePoint trust registry: ``issuer = issuer_id@realm``; keys from ``metadata_url`` or certificates.
    issuer_id: str | None = None
    #: SharePoint: the realm (tenant GUID) in ``issuer_id@realm``.
    realm: str | None = None
    #: SharePoint: the metadata endpoint whose certificates verify tokens.
    metadata_url: str | None = None
    #: A trust broker may sign for any client; otherwise only for ``client_ids``.
    trust_broker: bool = False
    #: SharePoint: the client ids a non-broker issuer may sign for; Cognito: the accepted app clients.
    client_ids: tuple[str, ...] = ()
    #: SharePoint: the hosts accepted in ``aud = principal_id/host@realm``.
    hosts: tuple[str, ...] = ()
    #: SharePoint: the principal in ``aud = principal_id/host@realm`` (SharePoint's own by default).
    principal_id: str = "00000003-0000-0ff1-ce00-000000000000"
    #: The apps allowed to act for users in this issuer's tokens (Entra: delegated and on-behalf-of).
    actors: tuple[str, ...] | None = None
    #: Refresh keys in the background once this fraction of their lifetime has passed (1: never).
    jwks_refresh_ahead: float = 0.8
    #: RFC 9449 DPoP and RFC 8705 certificate binding for this issuer's tokens: "off", "allowed", "required".
    dpop: str = "off"
    #: RFC 8705 certificate binding for this issuer's tokens: "off", "allowed", "required".
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
    #: Keycloak: the clients whose roles (``resource_access.<client>.roles``) are read.
    client_roles: tuple[str, ...] = ()

    __repr__ = _redacted_repr  # no secret in a repr: an inline JWKS may hold private members

    def __post_init__(self) -> None:
        check_secret_floor(self.secret, "IssuerConfig.secret")  # also when built without load_config


_ISSUER_KEYS = {"name", "issuer", "profile", "algorithms", "jwks_uri", "jwks", "jwks_file",
                "certificates", "secret", "secret_env", "audience", "typ", "jwks_max_age",
                "jwks_cooldown", "timeout", "validation", "discovery", "jwks_min_age",
                "jwks_stale_if_error", "actors", "jwks_refresh_ahead", "dpop", "mtls", "min_rsa_bits",
                "allow_insecure_http", "accept_bound_as_bearer", "ca_bundle", "issuer_uri"} | _PROFILE_KEYS


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


def _check_slash_twins(issuers: tuple[IssuerConfig, ...]) -> None:
    """Warn of two issuers whose ``iss`` differ only by a trailing slash: ``iss`` is compared exactly
    (RFC 7519 §4.1.1), so one of them is usually a typo. Warned, not refused: an IdP may use both."""
    seen: dict[str, int] = {}
    for i, issuer in enumerate(issuers):
        j = seen.setdefault(issuer.issuer.rstrip("/"), i)
        if j != i:
            log.warning("issuers[%d].issuer %r and issuers[%d].issuer %r differ only by a trailing slash: "
                        "iss is compared exactly, keep the spelling your tokens carry (s2s-guard inspect "
                        "shows a token's iss) unless the IdP really issues both", i, issuer.issuer, j,
                        issuers[j].issuer)


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
    if secret is not None and not any(a in HMAC_ALGORITHMS for a in algorithms):
        # a secret verifies only HS* tokens: without one in algorithms it is never used, a likely mistake
        key = where + ("secret_env" if "secret_env" in raw else "secret")
        raise ConfigurationError(key, f"is used only by {sorted(HMAC_ALGORITHMS)}: add the one your tokens "
                                 "use to algorithms, or remove the secret")
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


def _check_key_source(raw: Mapping[str, Any], where: str, algorithms: tuple[str, ...]) -> None:
    sources = [k for k in ("jwks_uri", "jwks", "jwks_file", "certificates", "discovery", "metadata_url") if raw.get(k)]
    if not sources and any(a in ASYMMETRIC_ALGORITHMS for a in algorithms):
        raise ConfigurationError(where + "jwks_uri",
                                 "one of jwks_uri, jwks, jwks_file, certificates or discovery is required")
    uri = raw.get("jwks_uri")
    if uri is not None and (not isinstance(uri, str) or not uri.startswith(("https://", "http://"))):
        raise ConfigurationError(where + "jwks_uri", "expected an http(s) URL")


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


def _validation(raw: Mapping[str, Any], where: str) -> str:
    value = raw.get("validation", "jwt")
    if value not in ("jwt", "introspect"):
        raise ConfigurationError(where + "validation", 'expected "jwt" or "introspect"')
    return str(value)
