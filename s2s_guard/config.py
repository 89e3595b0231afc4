"""Configuration: frozen keyword-only dataclasses and the one translation from dict/TOML/JSON.

Every entry point (Python dict, TOML or JSON file, Flask or Django settings) goes through
:func:`load_config`, so a bad key raises one :class:`ConfigurationError` naming it, at start-up.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

__all__ = ["GuardConfig", "IssuerConfig", "load_config", "SUPPORTED_ALGORITHMS"]

#: Asymmetric algorithms verified with public keys (RFC 7518 §3, RFC 8037).
ASYMMETRIC_ALGORITHMS = frozenset({
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA",
})
#: HMAC algorithms, allowed only with a configured shared secret.
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
SUPPORTED_ALGORITHMS = ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS


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

    def issuer_by_iss(self) -> dict[str, IssuerConfig]:
        """Map exact ``iss`` strings to their issuer configuration."""
        return {issuer.issuer: issuer for issuer in self.issuers}


_TOP_KEYS = {"audience", "issuers", "leeway", "public_paths", "realm", "max_token_bytes",
             "allow_query_token"}
_ISSUER_KEYS = {"name", "issuer", "profile", "algorithms", "jwks_uri", "jwks", "jwks_file",
                "certificates", "secret", "secret_env", "audience", "typ", "jwks_max_age",
                "jwks_cooldown", "timeout"}


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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(str(path), f"cannot read configuration file ({exc.strerror})") from exc
    try:
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


def _strings(value: Any, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(v, str) and v for v in items):
        raise ConfigurationError(key, "expected a non-empty string or a list of non-empty strings")
    if not items and not allow_empty:
        raise ConfigurationError(key, "must not be empty")
    return tuple(items)


def _number(value: Any, key: str, *, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigurationError(key, f"expected a number >= {minimum}")
    return float(value)


def _build(raw: Mapping[str, Any]) -> GuardConfig:
    _unknown(raw, _TOP_KEYS, "")
    if "audience" not in raw:
        raise ConfigurationError("audience", "required: the aud values this API accepts")
    if not raw.get("issuers"):
        raise ConfigurationError("issuers", "required: at least one [[issuers]] entry")
    if not isinstance(raw["issuers"], Sequence) or isinstance(raw["issuers"], str):
        raise ConfigurationError("issuers", "expected a list of tables")
    issuers = tuple(_build_issuer(item, f"issuers[{i}].") for i, item in enumerate(raw["issuers"]))
    _check_unique(issuers)
    max_bytes = raw.get("max_token_bytes", 16 * 1024)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 64:
        raise ConfigurationError("max_token_bytes", "expected an integer >= 64")
    realm = raw.get("realm")
    if realm is not None and not isinstance(realm, str):
        raise ConfigurationError("realm", "expected a string")
    if not isinstance(raw.get("allow_query_token", False), bool):
        raise ConfigurationError("allow_query_token", "expected true or false")
    return GuardConfig(
        audience=_strings(raw["audience"], "audience"),
        issuers=issuers,
        leeway=_number(raw.get("leeway", 60), "leeway"),
        public_paths=_strings(raw.get("public_paths", []), "public_paths", allow_empty=True),
        realm=realm,
        max_token_bytes=max_bytes,
        allow_query_token=raw.get("allow_query_token", False),
    )


def _check_unique(issuers: tuple[IssuerConfig, ...]) -> None:
    seen: set[str] = set()
    for i, issuer in enumerate(issuers):
        if issuer.issuer in seen:
            raise ConfigurationError(f"issuers[{i}].issuer", f"duplicate issuer {issuer.issuer!r}")
        seen.add(issuer.issuer)


def _build_issuer(raw: Any, where: str) -> IssuerConfig:
    if not isinstance(raw, Mapping):
        raise ConfigurationError(where.rstrip("."), "expected a table")
    _unknown(raw, _ISSUER_KEYS, where)
    for key in ("issuer", "algorithms"):
        if key not in raw:
            raise ConfigurationError(where + key, "required")
    issuer = raw["issuer"]
    if not isinstance(issuer, str) or not issuer:
        raise ConfigurationError(where + "issuer", "expected the exact iss string")
    algorithms = _algorithms(raw["algorithms"], where + "algorithms")
    secret = _secret(raw, where)
    if any(a in HMAC_ALGORITHMS for a in algorithms) and secret is None:
        # RFC 8725 §3.2: HMAC only with a secret configured for this issuer (no key confusion).
        raise ConfigurationError(where + "algorithms", "HS* algorithms need 'secret' or 'secret_env'")
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
        typ=_optional_str(raw, "typ", where),
        jwks_max_age=_number(raw.get("jwks_max_age", 600), where + "jwks_max_age"),
        jwks_cooldown=_number(raw.get("jwks_cooldown", 30), where + "jwks_cooldown"),
        timeout=_number(raw.get("timeout", 5), where + "timeout", minimum=0.001),
    )


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
        return value.encode()
    secret = raw.get("secret")
    if secret is None:
        return None
    if not isinstance(secret, str) or len(secret.encode()) < 32:
        # RFC 7518 §3.2: an HMAC key at least as long as the hash output.
        raise ConfigurationError(where + "secret", "expected a string of at least 32 bytes")
    return secret.encode()


def _check_key_source(raw: Mapping[str, Any], where: str, algorithms: tuple[str, ...]) -> None:
    sources = [k for k in ("jwks_uri", "jwks", "jwks_file", "certificates") if raw.get(k)]
    if not sources and any(a in ASYMMETRIC_ALGORITHMS for a in algorithms):
        raise ConfigurationError(where + "jwks_uri", "one of jwks_uri, jwks, jwks_file or certificates is required")
    uri = raw.get("jwks_uri")
    if uri is not None and (not isinstance(uri, str) or not uri.startswith(("https://", "http://"))):
        raise ConfigurationError(where + "jwks_uri", "expected an http(s) URL")


def _optional_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(where + key, "expected a non-empty string")
    return value


def _optional_jwks(raw: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
    value = raw.get("jwks")
    if value is not None and (not isinstance(value, Mapping) or not isinstance(value.get("keys"), list)):
        raise ConfigurationError(where + "jwks", 'expected a JWK Set: {"keys": [...]}')
    return value


def _check_profile(profile: Any, key: str) -> None:
    from .core.profiles import PROFILES  # local: profiles import principal, not config

    if profile not in PROFILES:
        raise ConfigurationError(key, f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
