"""Secrets in the configuration (RFC 7518 §3.2): the HMAC key floor, reading a secret or its
environment variable, and keeping secrets out of reprs and logged URLs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import ConfigurationError

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
