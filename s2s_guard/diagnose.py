"""RFC 6750 §3 refusals explained with a guard's own state: the glue between a Guard and :mod:`.explain`.

:func:`explain_refusal` decodes the refused token without verifying it, collects the key ids
the guard has loaded (no fetch: only what its key sources hold) and returns the lines of
:func:`~s2s_guard.explain.explain`. :func:`log_refusal` writes them as one DEBUG record on the
``s2s_guard`` logger; the guard calls it only when that logger is enabled for DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .core.jws import parse_compact
from .errors import AuthError
from .explain import explain
from .policy import Requirement
from .principal import Principal

if TYPE_CHECKING:
    from .pipeline import Pipeline as Guard  # what is read: config, clock, _sources (a Guard is one)

__all__ = ["explain_refusal", "known_key_ids", "log_refusal", "unverified"]

log = logging.getLogger("s2s_guard")
_TOKEN_SCHEMES = ("bearer", "dpop")


def _token(authorization: str | bytes | Sequence[str] | None) -> str | None:
    """The access token in an ``Authorization`` value (Bearer or DPoP), if there is exactly one."""
    value: Any = authorization
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    scheme, _, credentials = value.strip().partition(" ")
    return credentials.strip() or None if scheme.lower() in _TOKEN_SCHEMES else None


def unverified(token: str, max_bytes: int) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """The header and claims of a compact JWS, NOT verified (explanation only); ``None`` if it is none."""
    try:
        jws = parse_compact(token, max_bytes)
    except AuthError:
        return None
    actor = jws.payload.get("actortoken")
    if jws.header.get("alg") == "none" and isinstance(actor, str):
        return unverified(actor, max_bytes)  # SharePoint user+app: the signed actor token decides
    return jws.header, jws.payload


def known_key_ids(guard: Guard) -> dict[str, tuple[str, ...]]:
    """Issuer name -> the ``kid`` (or ``x5t``) of every key its source holds now (no I/O)."""
    ids: dict[str, tuple[str, ...]] = {}
    for issuer in guard.config.issuers:
        source = guard._sources.get(issuer.issuer)
        state = getattr(source, "state", None)
        sets = [getattr(state, "keys", None), getattr(source, "static", None), getattr(source, "keys", None)]
        keys = [key for keyset in sets if keyset is not None and hasattr(keyset, "keys") for key in keyset.keys]
        ids[issuer.name] = tuple(sorted({key.kid or key.x5t or "" for key in keys} - {""}))
    return ids


def explain_refusal(guard: Guard, error: AuthError, *, authorization: str | bytes | Sequence[str] | None = None,
                    requirement: Requirement | None = None, principal: Principal | None = None) -> list[str]:
    """Lines explaining why ``guard`` refused (see :func:`~s2s_guard.explain.explain`)."""
    token = _token(authorization)
    decoded = None if token is None else unverified(token, guard.config.max_token_bytes)
    header, claims = decoded if decoded is not None else (None, None)
    if principal is not None:
        claims = principal.claims
    return explain(error, header, claims, guard.config, now=guard.clock(), requirement=requirement,
                   known_kids=known_key_ids(guard), principal=principal)


def log_refusal(guard: Guard, error: AuthError, *, authorization: str | bytes | Sequence[str] | None = None,
                requirement: Requirement | None = None, principal: Principal | None = None) -> None:
    """One DEBUG record explaining a refusal; a failure to explain never changes the answer."""
    try:
        lines = explain_refusal(guard, error, authorization=authorization, requirement=requirement,
                                principal=principal)
    except Exception:  # noqa: BLE001 - diagnostics must never turn a refusal into a 500
        log.debug("s2s_guard could not explain a refusal", exc_info=True)
        return
    log.debug("s2s_guard refusal explained: %s", " | ".join(lines))
