"""The telemetry seam: what the guard reports (decisions, key refreshes, cache lookups).

:class:`Telemetry` has a no-op method per event; subclass it and override what you need
(Prometheus, StatsD, a SIEM feed) and pass it as ``Guard(config, telemetry=...)``. Methods are
called on the request path: they must be quick and must not raise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, ContextManager, Literal

__all__ = ["Decision", "Fanout", "Telemetry"]

_NO_SPAN: ContextManager[None] = nullcontext()  # reusable, stateless

Outcome = Literal["accepted", "refused"]
#: "authenticate" (a token checked: authenticate, authenticate_sync or the warm-path lookup) or
#: "authorize" (a route requirement refused an already authenticated principal).
Stage = Literal["authenticate", "authorize"]


@dataclass(slots=True, kw_only=True)  # not frozen: a frozen dataclass costs 3x to build, per request
class Decision:
    """One accept or refuse decision (read-only by convention); never the token, only a SHA-256 prefix."""

    outcome: Outcome
    stage: Stage = "authenticate"
    #: ``AuthError.reason`` ("expired", "bad_audience", "unknown_kid"...); empty when accepted.
    reason: str = ""
    #: The HTTP status of a refusal (401, 403, 400, 503); ``None`` when accepted.
    status: int | None = None
    #: "app-only", "user+app" or "user-only" when the principal is known.
    policy: str | None = None
    #: The configured issuer's ``name`` once the token was routed to one (never a raw ``iss``).
    issuer: str | None = None
    app: str | None = None
    user: str | None = None
    #: The principal came from the verified-token cache (no validation), accepted or refused on recheck.
    cached: bool = False
    #: The request path when the adapter passed it.
    path: str = ""
    #: The first 12 hex digits of the token's SHA-256 (``None`` without a token).
    token_sha256: str | None = None
    #: Seconds spent deciding (this guard call only).
    duration: float = 0.0


class Telemetry:
    """The no-op default: every event is ignored. Subclass and override what you record."""

    def enabled(self) -> bool:
        """Whether decisions are wanted right now (checked first on every call: keep it cheap)."""
        return True

    def span(self, start_ns: int | None = None) -> ContextManager[Any]:
        """A context around one authentication (a trace span); ``start_ns`` backdates it."""
        return _NO_SPAN

    def decision(self, event: Decision, span: Any = None) -> None:
        """A request was accepted or refused; ``span`` is what :meth:`span` yielded, if any."""

    def jwks_refresh(self, issuer: str, result: str) -> None:
        """A JWKS (or metadata) fetch finished: ``result`` is "ok", "not_modified" or "error"."""

    def introspection_call(self, issuer: str, result: str) -> None:
        """An RFC 7662 call finished: ``result`` is "active", "inactive" or "error"."""

    def cache_lookup(self, cache: str, hit: bool) -> None:
        """A cache was consulted: ``cache`` is "verified" or "introspection"."""

    def stale_keys(self, issuer: str) -> None:
        """A token was verified with keys past their max-age (the refresh failed or is cooling down)."""


class Fanout(Telemetry):
    """Several telemetries as one (the audit log and OpenTelemetry, say)."""

    def __init__(self, members: Sequence[Telemetry]) -> None:
        self.members = tuple(members)

    def enabled(self) -> bool:
        return any(member.enabled() for member in self.members)

    @contextmanager
    def span(self, start_ns: int | None = None) -> Iterator[tuple[Any, ...]]:
        with ExitStack() as stack:
            yield tuple(stack.enter_context(member.span(start_ns)) for member in self.members)

    def decision(self, event: Decision, span: Any = None) -> None:
        spans = span if isinstance(span, tuple) else (None,) * len(self.members)
        for member, member_span in zip(self.members, spans):
            if member.enabled():
                member.decision(event, member_span)

    def jwks_refresh(self, issuer: str, result: str) -> None:
        for member in self.members:
            member.jwks_refresh(issuer, result)

    def introspection_call(self, issuer: str, result: str) -> None:
        for member in self.members:
            member.introspection_call(issuer, result)

    def cache_lookup(self, cache: str, hit: bool) -> None:
        for member in self.members:
            member.cache_lookup(cache, hit)

    def stale_keys(self, issuer: str) -> None:
        for member in self.members:
            member.stale_keys(issuer)
