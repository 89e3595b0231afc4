"""What telemetry costs per decision: the same guard calls with telemetry off, the default (audit
on, its logger below INFO), the audit log written, OpenTelemetry metrics, and metrics plus spans.

Run: ``.venv/bin/python benchmarks/telemetry_overhead.py``. Not a test: it prints microseconds
per call for the warm path (``lookup``, the ASGI middleware's first try), cached
``authenticate_sync`` and ``authenticate``, and a cold ``authenticate_sync`` (verified-token
cache off: an RS256 verification every call). Configurations are measured in interleaved
rounds and the best round is kept, so a busy machine skews them all alike.
"""

from __future__ import annotations

import asyncio
import logging
import os
import timeit
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from s2s_guard import Guard
from s2s_guard.telemetry import AUDIT_LOGGER, OpenTelemetry, Telemetry
from s2s_guard.testing import LocalIssuer

AUDIT = logging.getLogger(AUDIT_LOGGER)
COLUMNS = ("lookup", "sync warm", "async warm", "sync cold")
NUMBERS = (20_000, 20_000, 5_000, 1_000)


class Discard(SpanExporter):
    """An exporter that drops spans: the batch processor's cost without a collector."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def otel(spans: bool) -> Telemetry:
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    tracers = TracerProvider(shutdown_on_exit=False)
    tracers.add_span_processor(BatchSpanProcessor(Discard()))
    return OpenTelemetry(meter_provider=meters, tracer_provider=tracers, spans=spans)


def calls(issuer: LocalIssuer, loop: asyncio.AbstractEventLoop, audit: bool,
          extra: Telemetry | None) -> list[Callable[[], Any]]:
    """The four calls to time, on a warm guard and a cold (verified cache off) one."""
    config = {**issuer.guard_config(), "telemetry": {"audit": audit}}
    kwargs: dict[str, Any] = {"telemetry": extra} if extra else {}
    warm = Guard.from_config(config, **kwargs)
    cold = Guard.from_config({**config, "cache": {"verified": False}}, **kwargs)
    header = "Bearer " + issuer.app_token("billing", scopes="orders.read")
    raw = header.encode()
    warm.authenticate_sync(header)
    cold.authenticate_sync(header)
    return [lambda: warm.lookup(raw, None, "/orders"),
            lambda: warm.authenticate_sync(header, path="/orders"),
            lambda: loop.run_until_complete(warm.authenticate(header, path="/orders")),
            lambda: cold.authenticate_sync(header, path="/orders")]


def logger_for(name: str) -> None:
    """The audit logger's level for a configuration: INFO (lines written) only for that row."""
    AUDIT.setLevel(logging.INFO if name == "audit lines written" else logging.WARNING)


def main(rounds: int = 5) -> None:
    AUDIT.addHandler(logging.StreamHandler(open(os.devnull, "w")))  # noqa: SIM115: format, write, drop
    AUDIT.propagate = False
    loop = asyncio.new_event_loop()
    with LocalIssuer(audience="api://bench") as issuer:
        configs = {"off (audit = false)": calls(issuer, loop, False, None),
                   "a no-op Telemetry (wrapper cost only)": calls(issuer, loop, False, Telemetry()),
                   "default (audit on, logger below INFO)": calls(issuer, loop, True, None),
                   "audit lines written": calls(issuer, loop, True, None),
                   "otel metrics (SDK), no spans": calls(issuer, loop, False, otel(spans=False)),
                   "otel metrics + spans (SDK, batch)": calls(issuer, loop, False, otel(spans=True))}
        best = {name: [float("inf")] * len(COLUMNS) for name in configs}
        for _ in range(rounds):
            for name, fns in configs.items():
                logger_for(name)
                for i, (fn, number) in enumerate(zip(fns, NUMBERS)):
                    best[name][i] = min(best[name][i], timeit.timeit(fn, number=number) / number * 1e6)
    loop.close()
    base = best["off (audit = false)"]
    print(f"{'µs per call (added vs off)':40}" + "".join(f"{c:>17}" for c in COLUMNS))
    for name, values in best.items():
        cells = [f"{v:.2f}" if values is base else f"{v:.2f} (+{v - b:.2f})" for v, b in zip(values, base)]
        print(f"{name:40}" + "".join(f"{c:>17}" for c in cells))


if __name__ == "__main__":
    main()
