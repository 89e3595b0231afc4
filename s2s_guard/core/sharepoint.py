"""[MS-SPS2SAUTH] SharePoint server-to-server tokens: principal names, the unsigned outer token, metadata.

A high-trust user+app token is an unsecured JWT (``alg: none``, RFC 7519 §6) whose
``actortoken`` claim is the signed actor token. Only the actor token can be verified, so
:func:`unwrap_outer` returns it as the thing to verify and keeps the outer claims aside;
:func:`check_delegation` then proves that the outer token says nothing the actor token does not
vouch for. Everything here is sans-I/O.
"""

from __future__ import annotations

import binascii
import json
import logging
import re
from base64 import b64decode
from collections.abc import Mapping
from typing import Any

from ..errors import (ConfigurationError, DisallowedAlgorithm, InvalidAudience, InvalidClaim,
                      MalformedToken, UnsupportedCritical)
from .claims import check_types, numeric_date
from .flow import HTTPResponse
from .jws import CompactJWS, parse_compact
from .keys import KeySet, VerificationKey, load_certificate

__all__ = ["ACS_PRINCIPAL", "SHAREPOINT_PRINCIPAL", "check_delegation", "keys_from_metadata",
           "normalize_times", "parse_metadata", "split_principal", "trusted_for_delegation",
           "unwrap_outer"]

log = logging.getLogger("s2s_guard.sharepoint")

#: The well-known principal id of SharePoint (the audience of every SharePoint token).
SHAREPOINT_PRINCIPAL = "00000003-0000-0ff1-ce00-000000000000"
#: The principal id of Azure ACS, the low-trust token issuer.
ACS_PRINCIPAL = "00000001-0000-0000-c000-000000000000"

_DIGITS = re.compile(r"[0-9]{1,15}")  # ASCII only: str.isdigit() would accept "١٢٣"
_TIME_CLAIMS = ("nbf", "exp", "iat")
#: ``trustedfordelegation`` spellings: SharePoint's TokenHelper writes the string, node-sp-auth the JSON boolean.
_DELEGATION = {"true": True, "false": False}
#: RFC 7515 §4.1.2-6 headers that locate or carry a key (``x5t`` names the actor's certificate, not these).
_KEY_LOCATORS = frozenset(("jku", "x5u", "jwk", "x5c"))


def split_principal(value: object, what: str) -> tuple[str, str]:
    """``id@realm`` → ``(id, realm)``; :class:`InvalidClaim` unless both parts are present."""
    if not isinstance(value, str):
        raise InvalidClaim(f"{what} is missing or not a string")
    ident, sep, realm = value.rpartition("@")
    if not sep or not ident or not realm:
        raise InvalidClaim(f"{what} is not of the form id@realm")
    return ident, realm


def trusted_for_delegation(claims: Mapping[str, Any]) -> bool:
    """[MS-SPS2SAUTH] ``trustedfordelegation``: ``"true"``/``true`` → True; absent, ``"false"``/``false`` → False.

    Any other value (``"True"``, ``1``, ``"yes"``) is :class:`InvalidClaim`: a signer that means
    something else is not guessed at. ``type(...) is bool`` keeps ``1`` and ``0`` out.
    """
    value = claims.get("trustedfordelegation", False)
    if type(value) is bool:
        return value
    if isinstance(value, str) and value in _DELEGATION:
        return _DELEGATION[value]
    raise InvalidClaim("trustedfordelegation is neither true nor false")


def normalize_times(claims: Mapping[str, Any]) -> Mapping[str, Any]:
    """[MS-XOAUTH]: ``nbf``/``exp`` may be decimal digit strings; make them JSON numbers.

    Only plain ASCII digit strings are converted; anything else is left for the NumericDate
    check to refuse. Returns ``claims`` itself when there is nothing to convert.
    """
    strings = [n for n in _TIME_CLAIMS if isinstance(claims.get(n), str)]
    if not strings:
        return claims
    normal = dict(claims)
    for name in strings:
        if not _DIGITS.fullmatch(normal[name]):
            raise InvalidClaim(f"{name} is a string but not decimal digits")
        normal[name] = int(normal[name])
    return normal


def unwrap_outer(outer: CompactJWS, max_bytes: int) -> tuple[CompactJWS, dict[str, Any]]:
    """Check an unsecured outer token and return ``(actor token, outer claims)``.

    The outer token is acceptable only as a wrapper: ``alg`` exactly ``none``, an empty
    signature (RFC 7519 §6.1), no ``crit``, no key-locating header (``jku``, ``x5u``, ``jwk``,
    ``x5c``), and an ``actortoken`` that is itself a signed JWS.
    """
    if outer.header.get("alg") != "none" or outer.signature:
        raise DisallowedAlgorithm("an unsecured token must have alg none and no signature")
    if "crit" in outer.header:
        raise UnsupportedCritical("crit header present")  # RFC 7515 §4.1.11
    if not _KEY_LOCATORS.isdisjoint(outer.header):
        # RFC 8725 §3.10: an unsigned token has no key, so a header pointing at one is a forgery attempt.
        raise MalformedToken("an unsecured token names a key (jku, x5u, jwk or x5c)")
    actor_token = outer.payload.get("actortoken")
    if not isinstance(actor_token, str):
        # RFC 8725 §3.1: alg none is never accepted on its own.
        raise DisallowedAlgorithm("alg none without an actor token")
    actor = parse_compact(actor_token, max_bytes)
    if actor.header.get("alg") == "none" or not actor.signature:
        raise DisallowedAlgorithm("the actor token is not signed")
    if "actortoken" in actor.payload:
        raise MalformedToken("nested actor tokens are not accepted")
    return actor, outer.payload


def check_delegation(outer: Mapping[str, Any], actor: Mapping[str, Any]) -> None:
    """[MS-SPS2SAUTH]: the outer token must agree with the verified actor token that wraps it.

    Same ``aud``; outer ``iss`` equals the actor's ``nameid`` (the app, ``client_id@realm``);
    the actor is trusted for delegation; the outer lifetime lies within the actor's; the
    outer names a user (``nameid``) and its identity provider (``nii``).
    """
    check_types(outer)  # RFC 7519 §4.1: the unsigned outer claims obey the same JSON types
    if not trusted_for_delegation(actor):  # [MS-SPS2SAUTH]: only a delegation-trusted actor vouches for a user
        raise InvalidClaim("the actor token is not trusted for delegation")
    if outer.get("aud") != actor.get("aud"):
        raise InvalidAudience("outer and actor tokens name different audiences")
    if outer.get("iss") != actor.get("nameid"):
        raise InvalidClaim("outer iss is not the actor's nameid")
    for name in ("nameid", "nii"):
        if not isinstance(outer.get(name), str) or not outer[name]:
            raise InvalidClaim(f"outer token has no {name}")
    outer_nbf, outer_exp = numeric_date(outer, "nbf"), numeric_date(outer, "exp")
    actor_nbf, actor_exp = numeric_date(actor, "nbf"), numeric_date(actor, "exp")
    if outer_nbf is None or outer_exp is None or actor_nbf is None or actor_exp is None:
        raise InvalidClaim("SharePoint tokens carry nbf and exp")
    if outer_nbf < actor_nbf or outer_exp > actor_exp:
        raise InvalidClaim("outer lifetime is not within the actor token's")


def _metadata_key(entry: Any) -> VerificationKey | None:
    """One ``keys[]`` entry: ``{"usage": "signing", "keyValue": {"type": "x509Certificate", "value": b64 DER}}``."""
    if not isinstance(entry, Mapping):
        return None
    value = entry.get("keyValue")
    usage = entry.get("usage")
    if not isinstance(value, Mapping) or not isinstance(usage, str) or usage.lower() != "signing":
        return None
    kind, data = value.get("type"), value.get("value")
    if not isinstance(kind, str) or kind.lower() != "x509certificate" or not isinstance(data, str):
        return None
    try:
        return load_certificate(b64decode(data, validate=True), "metadata key")
    except (binascii.Error, ValueError, ConfigurationError) as exc:
        log.warning("skipping SharePoint metadata key: %s", exc)
        return None


def keys_from_metadata(document: Any) -> KeySet:
    """The signing certificates of a SharePoint JSON metadata document (``/_layouts/15/metadata/json/1``)."""
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list):
        raise ValueError('not a SharePoint metadata document: expected {"keys": [...]}')
    loaded = [key for key in map(_metadata_key, keys) if key is not None]
    return KeySet(loaded)


def parse_metadata(response: HTTPResponse) -> KeySet:
    """A 200 response carrying a metadata document with at least one usable certificate, or ``ValueError``."""
    if response.status != 200:
        raise ValueError(response.describe())
    keys = keys_from_metadata(json.loads(response.content))
    if not keys:
        raise ValueError("metadata document has no usable signing certificate")
    return keys
