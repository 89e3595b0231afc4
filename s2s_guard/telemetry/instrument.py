"""Telemetry as the pipeline's observer: each watched decision becomes one :class:`Decision`.

:func:`observer_for` wires a guard's key sources and introspector to a :class:`Telemetry` and
returns the :class:`~s2s_guard.telemetry.observer.Observer` the guard's pipeline tells of each
decision; with no telemetry it is the pipeline's no-op default. A call is watched only while
``telemetry.enabled()`` says so at its start; its :class:`_Call` collects what the pipeline
reports (routed issuer, principal) and emits the decision, the verified-cache lookup it implies
and its span.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ContextManager

from ..config import GuardConfig, IssuerConfig
from ..errors import AuthError
from .observer import Observer, Stage
from ..principal import Principal
from .base import Decision, Telemetry

if TYPE_CHECKING:
    from ..sources.introspection import Introspector

__all__ = ["TelemetryObserver", "observer_for"]

#: RFC 6750 §2.1 and RFC 9449 §7.1: the schemes that carry an access token.
_TOKEN_SCHEMES = ("bearer", "dpop")


def _token_sha(authorization: Any, query_tokens: Sequence[str] = ()) -> str | None:
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


class TelemetryObserver(Observer):
    """Watches every decision while ``telemetry.enabled()``; see :class:`_Call`."""

    def __init__(self, telemetry: Telemetry, verified_cache: bool, introspected_by: str | None) -> None:
        self.telemetry, self.verified_cache = telemetry, verified_cache
        self.introspected_by = introspected_by  # the issuer name of introspected tokens
        self._enabled = telemetry.enabled

    def start(self, path: str, authorization: object = None, query_tokens: Sequence[str] = ()) -> _Call | None:
        return _Call(self, path, authorization, query_tokens) if self._enabled() else None


class _Call:
    """One watched guard call: what it learnt on its way (validated or cached, issuer, principal)."""

    __slots__ = ("observer", "path", "authorization", "query_tokens", "started", "started_ns", "fresh",
                 "issuer", "principal")

    def __init__(self, observer: TelemetryObserver, path: str, authorization: object,
                 query_tokens: Sequence[str]) -> None:
        self.observer, self.path = observer, path or ""
        self.authorization, self.query_tokens = authorization, query_tokens
        self.started, self.started_ns = time.perf_counter(), time.time_ns()
        self.fresh = False
        self.issuer: str | None = None
        self.principal: Principal | None = None

    def span(self) -> ContextManager[Any]:
        return self.observer.telemetry.span(self.started_ns)

    def validating(self, issuer: IssuerConfig | None) -> None:
        self.fresh, self.issuer = True, issuer.name if issuer is not None else None

    def checking(self, principal: Principal) -> None:
        self.principal = principal

    def _issuer(self, principal: Principal | None) -> str | None:
        """The configured issuer name a decision is reported under, once known."""
        if principal is not None and principal.issuer_name:
            return principal.issuer_name
        return self.issuer or (self.observer.introspected_by if self.fresh else None)

    def accepted(self, principal: Principal, span: Any = None) -> None:
        telemetry = self.observer.telemetry
        if self.observer.verified_cache:
            telemetry.cache_lookup("verified", not self.fresh)
        app, user = principal.app, principal.user
        telemetry.decision(Decision(
            outcome="accepted", issuer=self._issuer(principal), cached=not self.fresh, path=self.path,
            policy=principal.policy, app=app.client_id if app else None, user=user.id if user else None,
            token_sha256=principal.token_sha256[:12] or None, duration=time.perf_counter() - self.started), span)

    def refused(self, error: AuthError, span: Any = None, *, stage: Stage = "authenticate") -> None:
        telemetry, principal = self.observer.telemetry, self.principal
        cached = principal is not None and not self.fresh  # a cached principal refused on recheck
        if self.observer.verified_cache and stage == "authenticate" and (self.fresh or cached):
            telemetry.cache_lookup("verified", cached)
        app, user = (principal.app, principal.user) if principal is not None else (None, None)
        telemetry.decision(Decision(
            outcome="refused", stage=stage, reason=error.reason, status=error.status_code,
            issuer=self._issuer(principal), cached=cached, path=self.path,
            policy=principal.policy if principal is not None else None,
            app=app.client_id if app else None, user=user.id if user else None,
            token_sha256=(principal.token_sha256[:12] or None) if principal is not None
            else _token_sha(self.authorization, self.query_tokens),
            duration=time.perf_counter() - self.started), span)


def observer_for(telemetry: Telemetry | None, config: GuardConfig, sources: Mapping[str, object],
                 introspector: Introspector | None) -> Observer:
    """The observer of a guard's decisions; key refreshes, introspection calls and their cache
    lookups are reported by the sources themselves, wired here. No telemetry: the no-op default."""
    if telemetry is None:
        return Observer()
    from ..sources.jwks import RemoteJWKS
    for issuer in config.issuers:
        source = sources.get(issuer.issuer)
        if isinstance(source, RemoteJWKS):
            source.telemetry, source.issuer_name = telemetry, issuer.name
    if introspector is not None:
        introspector.telemetry = telemetry
    return TelemetryObserver(telemetry, config.cache.verified,
                             introspector.issuer.name if introspector is not None else None)
