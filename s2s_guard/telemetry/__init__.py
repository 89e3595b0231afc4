"""Telemetry: an audit log line per decision and, optionally, OpenTelemetry metrics and spans.

Configured by ``[telemetry]`` (``audit = true``, ``otel = false``, ``spans = true``,
``show_pii = false``: user ids in the audit line) or passed
as ``Guard(config, telemetry=...)`` (any :class:`Telemetry`, added to the configured ones).
Importing this package never imports ``opentelemetry``: :class:`OpenTelemetry` is loaded on
first use. With everything off, the guard's pipeline keeps its no-op observer (one call per decision).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import TelemetryConfig
from ..errors import ConfigurationError
from .audit import AUDIT_LOGGER, PII_HIDDEN, SHOW_PII_ENV, AuditLog, audit_fields, pii_shown
from .base import Decision, Fanout, Telemetry
from .instrument import TelemetryObserver, observer_for

if TYPE_CHECKING:
    from .otel import OpenTelemetry

__all__ = ["AUDIT_LOGGER", "AuditLog", "Decision", "Fanout", "OpenTelemetry", "PII_HIDDEN", "SHOW_PII_ENV",
           "Telemetry", "TelemetryObserver", "audit_fields", "observer_for", "pii_shown", "telemetry_for"]


def __getattr__(name: str) -> Any:
    if name == "OpenTelemetry":  # imports opentelemetry: only when asked for
        from .otel import OpenTelemetry
        return OpenTelemetry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def telemetry_for(config: TelemetryConfig, extra: Telemetry | None = None) -> Telemetry | None:
    """What a ``[telemetry]`` table (plus an application's own ``extra``) asks for; ``None``: nothing."""
    members: list[Telemetry] = [AuditLog(show_pii=pii_shown(config))] if config.audit else []
    if config.otel:
        try:
            from .otel import OpenTelemetry
        except ImportError as exc:
            raise ConfigurationError("telemetry.otel", 'needs: pip install "s2s_guard[otel]"') from exc
        members.append(OpenTelemetry(spans=config.spans))
    if extra is not None:
        members.append(extra)
    if len(members) > 1:
        return Fanout(members)
    return members[0] if members else None
