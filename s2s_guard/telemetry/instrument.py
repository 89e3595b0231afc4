"""Per-guard instrumentation: when telemetry is on, one guard's deciding methods are wrapped.

:func:`instrument` replaces ``authenticate``, ``authenticate_sync``, ``lookup`` and
``authorize`` on that one instance (the class is untouched), so a guard without telemetry
runs exactly the code it always ran. Each wrapped call keeps a small record in a context
variable that the guard fills through :func:`note_validation` and :func:`note_principal`.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import IssuerConfig
from ..errors import AuthError
from ..principal import Principal
from .base import Decision, Stage, Telemetry

if TYPE_CHECKING:
    from ..guard import Guard

__all__ = ["instrument", "note_principal", "note_validation"]


@dataclass(slots=True)
class _Call:
    """What one guard call learnt on its way: validated or cached, routed issuer, principal."""

    started: float
    path: str
    fresh: bool = False
    issuer: str | None = None
    principal: Principal | None = None


_CALL: ContextVar[_Call | None] = ContextVar("s2s_guard_telemetry_call", default=None)


def note_validation(issuer: IssuerConfig | None) -> None:
    """The guard is validating a token routed to ``issuer`` (``None``: introspected); a verified-cache miss."""
    call = _CALL.get()
    if call is not None:
        call.fresh, call.issuer = True, issuer.name if issuer is not None else None


def note_principal(principal: Principal) -> None:
    """The guard is checking revocation and the requirement for ``principal``."""
    call = _CALL.get()
    if call is not None:
        call.principal = principal


#: RFC 6750 §2.1 and RFC 9449 §7.1: the schemes that carry an access token.
_TOKEN_SCHEMES = ("bearer", "dpop")


def _token_sha(authorization: Any, query_tokens: Any = ()) -> str | None:
    """12 hex digits of the SHA-256 of the Bearer or DPoP token a refused call carried (``None`` without one)."""
    value = authorization
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else None  # several headers: refused as ambiguous
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    scheme, _, credentials = value.strip(" \t").partition(" ") if isinstance(value, str) else ("", "", "")
    # RFC 9110 §11.1 (schemes are case-insensitive): only access tokens are hashed; another
    # scheme's credentials (a Basic password) never reach the log, not even as a short digest.
    token = credentials.strip() if scheme.lower() in _TOKEN_SCHEMES else ""
    if not token and query_tokens:
        token = str(query_tokens[0])
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()[:12] if token else None


class _Reporter:
    """Turns a finished call into a :class:`Decision` and the verified-cache lookup it implies."""

    def __init__(self, telemetry: Telemetry, verified_cache: bool, introspected_by: str | None) -> None:
        self.telemetry, self.verified_cache = telemetry, verified_cache
        self.introspected_by = introspected_by  # the issuer name of introspected tokens

    def issuer(self, call: _Call, principal: Principal | None) -> str | None:
        """The configured issuer name a decision is reported under, once known."""
        if principal is not None and principal.issuer_name:
            return principal.issuer_name
        return call.issuer or (self.introspected_by if call.fresh else None)

    def accepted(self, call: _Call, principal: Principal, span: Any) -> None:
        if self.verified_cache:
            self.telemetry.cache_lookup("verified", not call.fresh)
        app, user = principal.app, principal.user
        self.telemetry.decision(Decision(
            outcome="accepted", issuer=self.issuer(call, principal), cached=not call.fresh, path=call.path,
            policy=principal.policy, app=app.client_id if app else None, user=user.id if user else None,
            token_sha256=principal.token_sha256[:12] or None, duration=time.perf_counter() - call.started), span)

    def refused(self, call: _Call, exc: AuthError, span: Any, sha: str | None,
                stage: Stage = "authenticate") -> None:
        principal = call.principal
        cached = principal is not None and not call.fresh  # a cached principal refused on recheck
        if self.verified_cache and stage == "authenticate" and (call.fresh or cached):
            self.telemetry.cache_lookup("verified", cached)
        app, user = (principal.app, principal.user) if principal is not None else (None, None)
        self.telemetry.decision(Decision(
            outcome="refused", stage=stage, reason=exc.reason, status=exc.status_code,
            issuer=self.issuer(call, principal), cached=cached, path=call.path,
            policy=principal.policy if principal is not None else None,
            app=app.client_id if app else None, user=user.id if user else None,
            token_sha256=(principal.token_sha256[:12] or None) if principal is not None else sha,
            duration=time.perf_counter() - call.started), span)


def _wrap_async(reporter: _Reporter, original: Callable[..., Awaitable[Principal]]) -> Callable[..., Any]:
    telemetry, enabled = reporter.telemetry, reporter.telemetry.enabled

    @functools.wraps(original)
    async def authenticate(authorization: Any, requirement: Any = None, **kwargs: Any) -> Principal:
        if not enabled():
            return await original(authorization, requirement, **kwargs)
        call = _Call(time.perf_counter(), kwargs.get("path") or "")
        token = _CALL.set(call)
        try:
            with telemetry.span() as span:
                try:
                    principal = await original(authorization, requirement, **kwargs)
                except AuthError as exc:
                    reporter.refused(call, exc, span, _token_sha(authorization, kwargs.get("query_tokens")))
                    raise
                reporter.accepted(call, principal, span)
                return principal
        finally:
            _CALL.reset(token)
    return authenticate


def _wrap_sync(reporter: _Reporter, original: Callable[..., Principal]) -> Callable[..., Any]:
    telemetry, enabled = reporter.telemetry, reporter.telemetry.enabled

    @functools.wraps(original)
    def authenticate_sync(authorization: Any, requirement: Any = None, **kwargs: Any) -> Principal:
        if not enabled():
            return original(authorization, requirement, **kwargs)
        call = _Call(time.perf_counter(), kwargs.get("path") or "")
        token = _CALL.set(call)
        try:
            with telemetry.span() as span:
                try:
                    principal = original(authorization, requirement, **kwargs)
                except AuthError as exc:
                    reporter.refused(call, exc, span, _token_sha(authorization, kwargs.get("query_tokens")))
                    raise
                reporter.accepted(call, principal, span)
                return principal
        finally:
            _CALL.reset(token)
    return authenticate_sync


def _wrap_lookup(reporter: _Reporter, original: Callable[..., Principal | None]) -> Callable[..., Any]:
    """The warm path: a decision only when the cache answered (``None`` hands over to authenticate)."""
    telemetry, enabled = reporter.telemetry, reporter.telemetry.enabled

    @functools.wraps(original)
    def lookup(authorization: bytes, requirement: Any = None, path: str = "") -> Principal | None:
        if not enabled():
            return original(authorization, requirement, path)
        call, start_ns = _Call(time.perf_counter(), path), time.time_ns()
        token = _CALL.set(call)
        try:
            principal = original(authorization, requirement, path)
        except AuthError as exc:
            with telemetry.span(start_ns) as span:
                reporter.refused(call, exc, span, _token_sha(authorization))
            raise
        finally:
            _CALL.reset(token)
        if principal is not None:
            with telemetry.span(start_ns) as span:
                reporter.accepted(call, principal, span)
        return principal
    return lookup


def _wrap_authorize(reporter: _Reporter, original: Callable[..., None]) -> Callable[..., Any]:
    """Route requirements: refusals are decisions; grants are not (the request was counted already)."""
    telemetry = reporter.telemetry

    @functools.wraps(original)
    def authorize(principal: Principal, requirement: Any) -> None:
        started = time.perf_counter()
        try:
            original(principal, requirement)
        except AuthError as exc:
            if telemetry.enabled():
                reporter.refused(_Call(started, "", principal=principal), exc, None, None, stage="authorize")
            raise
    return authorize


def instrument(guard: Guard, telemetry: Telemetry) -> None:
    """Report ``guard``'s decisions, key refreshes, introspection calls and cache lookups."""
    from ..sources.jwks import RemoteJWKS
    for issuer in guard.config.issuers:
        source = guard._sources.get(issuer.issuer)
        if isinstance(source, RemoteJWKS):
            source.telemetry, source.issuer_name = telemetry, issuer.name
    introspector = guard._introspector
    if introspector is not None:
        introspector.telemetry = telemetry
    reporter = _Reporter(telemetry, guard.config.cache.verified,
                         introspector.issuer.name if introspector is not None else None)
    setattr(guard, "authenticate", _wrap_async(reporter, guard.authenticate))
    setattr(guard, "authenticate_sync", _wrap_sync(reporter, guard.authenticate_sync))
    setattr(guard, "lookup", _wrap_lookup(reporter, guard.lookup))
    setattr(guard, "authorize", _wrap_authorize(reporter, guard.authorize))
