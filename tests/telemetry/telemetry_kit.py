"""Shared helpers for the telemetry tests: OpenTelemetry SDK in-memory exporters and a guard.

:class:`Recorded` is an :class:`~s2s_guard.telemetry.OpenTelemetry` wired to its own
``MeterProvider`` (``InMemoryMetricReader``) and ``TracerProvider`` (``InMemorySpanExporter``),
so tests never share counts; ``points(name)`` reads one metric as (attributes, value) pairs.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from s2s_guard import Guard
from s2s_guard.telemetry import OpenTelemetry
from s2s_guard.testing import LocalIssuer

AUD = "api://orders"


class Recorded:
    """An :class:`OpenTelemetry` telemetry and what it exported."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.exporter = InMemorySpanExporter()
        self.meters = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)
        self.tracers = TracerProvider(shutdown_on_exit=False)
        self.tracers.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.telemetry = OpenTelemetry(meter_provider=self.meters, tracer_provider=self.tracers)

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value) of every point of metric ``name``: a sum's value, a histogram's count."""
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes or {}), getattr(p, "value", None) or getattr(p, "count", None))
                                  for p in metric.data.data_points]
        return found

    def count(self, name: str, **attributes: Any) -> int:
        """The sum of the points of ``name`` whose attributes include ``attributes``."""
        return sum(int(value) for attrs, value in self.points(name)
                   if all(attrs.get(key) == wanted for key, wanted in attributes.items()))

    def spans(self) -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans() if span.name == "s2s_guard.authenticate"]

    def close(self) -> None:
        self.meters.shutdown()
        self.tracers.shutdown()


def guard_for(issuer: LocalIssuer, otel: Recorded | None = None, **top: Any) -> Guard:
    """A guard trusting ``issuer`` (named "local"), reporting to ``otel`` when given."""
    config = {**issuer.guard_config(), **top}
    return Guard.from_config(config, **({"telemetry": otel.telemetry} if otel is not None else {}))
