"""``[telemetry]``: the audit log and OpenTelemetry metrics and spans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .values import _bool, _table


@dataclass(frozen=True, slots=True, kw_only=True)
class TelemetryConfig:
    """What the guard reports: an audit log line per decision, OpenTelemetry metrics and spans."""

    #: One JSON line per decision on the ``s2s_guard.audit`` logger, at INFO (never the token).
    audit: bool = True
    #: OpenTelemetry metrics (and spans, below) through the global providers; needs the ``otel`` extra.
    otel: bool = False
    #: With ``otel``: a ``s2s_guard.authenticate`` span per authentication.
    spans: bool = True
    #: User ids in the audit log (hidden unless true, or ``S2S_GUARD_SHOW_PII=1`` in the environment).
    show_pii: bool = False


_TELEMETRY_KEYS = {"audit", "otel", "spans", "show_pii"}


def _telemetry_from(block: Any) -> TelemetryConfig:
    block = _table(block, _TELEMETRY_KEYS, "telemetry.")
    return TelemetryConfig(**{key: _bool(block, key, "telemetry.") for key in block})
