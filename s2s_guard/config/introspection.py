"""``[introspection]``: the RFC 7662 endpoint, how this API authenticates to it (RFC 7523 for
``private_key_jwt``), and how long its answers are cached.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .algorithms import ASYMMETRIC_ALGORITHMS
from .issuers import IssuerConfig, _require_https
from .secret import _redacted_repr
from .values import _number, _optional_str, _strings, _table, _url


@dataclass(frozen=True, slots=True, kw_only=True)
class IntrospectionConfig:
    """RFC 7662 token introspection: the endpoint, how this API authenticates to it, caching."""

    #: This API's client id at the authorization server.
    client_id: str
    #: The introspection endpoint URL (default: from the issuer's ``discovery``).
    endpoint: str | None = None
    #: The issuer (``name`` or ``iss``) whose tokens the endpoint introspects.
    issuer: str | None = None
    #: How this API authenticates: ``client_secret_basic``, ``client_secret_post`` or ``private_key_jwt``.
    auth_method: str = "client_secret_basic"
    #: The client secret (prefer ``client_secret_env``).
    client_secret: str | None = field(default=None, repr=False)
    private_key: bytes | None = field(default=None, repr=False)
    #: ``private_key_jwt``: the RFC 7523 assertion's signing algorithm.
    private_key_alg: str = "RS256"
    #: ``private_key_jwt``: the ``kid`` header of the assertion, when the server needs one.
    private_key_kid: str | None = None
    #: Seconds allowed for each introspection request.
    timeout: float = 5.0
    #: Seconds an active answer is cached (never past the token's ``exp``).
    cache_ttl: float = 300.0
    #: Seconds an inactive answer is cached.
    negative_ttl: float = 10.0
    #: Require RFC 9701 signed JWT responses (``application/token-introspection+jwt``), verified with the issuer's keys.
    jwt_response: bool = False
    #: RFC 7662 §2.2 makes ``aud`` optional (django-oauth-toolkit sends it only for RFC 8707 resource
    #: requests). A response naming no audience is refused unless its ``client_id`` is one of these
    #: clients: trusted to hold tokens for this API only. A response that has ``aud`` must still match.
    accept_missing_aud_for_clients: tuple[str, ...] = ()

    __repr__ = _redacted_repr  # no secret in a repr: the endpoint URL may carry a password


_INTROSPECTION_KEYS = {"endpoint", "issuer", "client_id", "auth_method", "client_secret",
                       "client_secret_env", "private_key_file", "private_key_alg",
                       "private_key_kid", "timeout", "cache_ttl", "negative_ttl", "jwt_response",
                       "accept_missing_aud_for_clients"}
_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")


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
