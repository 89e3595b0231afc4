"""Sender-constrained tokens: ``[dpop]`` (RFC 9449), ``[trusted_proxy]`` (RFC 7239, RFC 9440), and the
``dpop`` / ``mtls`` binding modes of each issuer (RFC 8705).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from .algorithms import ASYMMETRIC_ALGORITHMS
from .secret import check_secret_floor
from .values import _bool, _integer, _number, _optional_str, _strings, _table


#: Sender-constrained tokens, per issuer and per route: "off" (Bearer only), "allowed", "required".
BINDING_MODES = ("off", "allowed", "required")
#: RFC 9449 §7.1 ``algs``: the proof algorithms accepted by default (asymmetric only).
DPOP_ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "RS256", "EdDSA")


@dataclass(frozen=True, slots=True, kw_only=True)
class DPoPConfig:
    """RFC 9449 proof checks, for the issuers whose ``dpop`` is "allowed" or "required"."""

    #: RFC 9449 §7.1: the proof algorithms accepted (asymmetric only).
    algorithms: tuple[str, ...] = DPOP_ALGORITHMS
    #: A proof's ``iat`` may be this many seconds from now; its ``jti`` is remembered twice as long.
    iat_window: float = 60.0
    #: RFC 9449 §9: demand server nonces (``use_dpop_nonce`` and a ``DPoP-Nonce`` header).
    nonce: bool = False
    #: Seconds a server nonce stays valid.
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
