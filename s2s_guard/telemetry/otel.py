"""OpenTelemetry metrics and spans (``pip install "s2s_guard[otel]"``); imported only when enabled.

Instruments come from ``metrics.get_meter("s2s_guard")`` and ``trace.get_tracer("s2s_guard")``
(the global providers unless others are passed): without an SDK they are no-ops. Metric
attributes are low-cardinality by construction: reasons are ``AuthError.reason`` values and
issuers are configured names, never a token's ``iss``. Spans carry the app id, never the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ContextManager

from opentelemetry import metrics, trace
from opentelemetry.trace import Status, StatusCode

from .base import Decision, Telemetry

__all__ = ["OpenTelemetry"]

#: Decision latency buckets in seconds: a cache hit is microseconds, a JWKS fetch is milliseconds.
_BUCKETS = (0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
            0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _attributes(event: Decision) -> dict[str, Any]:
    """The metric attributes of a decision; absent values are left out."""
    attributes: dict[str, Any] = {"outcome": event.outcome, "stage": event.stage, "cached": event.cached}
    for key, value in (("reason", event.reason), ("status", event.status), ("policy", event.policy),
                       ("issuer", event.issuer)):
        if value:
            attributes[key] = value
    return attributes


class OpenTelemetry(Telemetry):
    """Counters, a duration histogram and a ``s2s_guard.authenticate`` span per authentication."""

    def __init__(self, *, meter_provider: metrics.MeterProvider | None = None,
                 tracer_provider: trace.TracerProvider | None = None, spans: bool = True) -> None:
        from .._version import __version__
        meter = metrics.get_meter("s2s_guard", __version__, meter_provider=meter_provider)
        self.tracer = trace.get_tracer("s2s_guard", __version__, tracer_provider=tracer_provider)
        self.spans = spans
        self.decisions = meter.create_counter(
            "s2s_guard.decisions", unit="{decision}", description="Requests accepted or refused, by reason")
        self.duration = _histogram(meter)
        self.refreshes = meter.create_counter(
            "s2s_guard.jwks.refreshes", unit="{fetch}", description="JWKS fetches, by result")
        self.calls = meter.create_counter(
            "s2s_guard.introspection.calls", unit="{call}", description="RFC 7662 calls, by result")
        self.lookups = meter.create_counter(
            "s2s_guard.cache.lookups", unit="{lookup}", description="Verified-token and introspection cache lookups")
        self.stale = meter.create_counter(
            "s2s_guard.keys.stale_served", unit="{verification}",
            description="Tokens verified with keys past their max-age")

    def span(self, start_ns: int | None = None) -> ContextManager[Any]:
        if not self.spans:
            return super().span(start_ns)
        # A refusal is an answer, not a failure of the span: no exception event, status set below.
        return self.tracer.start_as_current_span("s2s_guard.authenticate", start_time=start_ns,
                                                 record_exception=False, set_status_on_exception=False)

    def decision(self, event: Decision, span: Any = None) -> None:
        attributes = _attributes(event)
        self.decisions.add(1, attributes)
        self.duration.record(event.duration, {"outcome": event.outcome, "cached": event.cached})
        if isinstance(span, trace.Span) and span.is_recording():
            _annotate(span, event, attributes)

    def jwks_refresh(self, issuer: str, result: str) -> None:
        self.refreshes.add(1, {"issuer": issuer, "result": result})

    def introspection_call(self, issuer: str, result: str) -> None:
        self.calls.add(1, {"issuer": issuer, "result": result})

    def cache_lookup(self, cache: str, hit: bool) -> None:
        self.lookups.add(1, {"cache": cache, "hit": hit})

    def stale_keys(self, issuer: str) -> None:
        self.stale.add(1, {"issuer": issuer})


def _histogram(meter: metrics.Meter) -> metrics.Histogram:
    name, unit, description = "s2s_guard.decision.duration", "s", "Time the guard took to decide"
    try:
        return meter.create_histogram(name, unit, description, explicit_bucket_boundaries_advisory=_BUCKETS)
    except TypeError:  # opentelemetry-api < 1.23 has no bucket advice
        return meter.create_histogram(name, unit, description)


def _annotate(span: trace.Span, event: Decision, attributes: Mapping[str, Any]) -> None:
    """Span attributes, namespaced; the app id but not the user id (traces travel further than audit logs)."""
    span.set_attributes({f"s2s_guard.{key}": value for key, value in attributes.items()})
    if event.app:
        span.set_attribute("s2s_guard.app_id", event.app)
    if event.outcome == "refused":
        span.set_attribute("error.type", event.reason)
    if event.status is not None and event.status >= 500:  # the guard could not decide: fail closed
        span.set_status(Status(StatusCode.ERROR, event.reason))
