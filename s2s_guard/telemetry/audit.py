"""The audit log: one structured (JSON) line per decision on the ``s2s_guard.audit`` logger.

Fields: event, outcome, stage, reason, status, policy, app, user, issuer, path, cached,
token_sha256 (12 hex digits of the token's SHA-256, never the token) and duration_ms. The
same dict rides on the log record as ``record.audit`` for structured handlers. Lines are
written at INFO; a logger not enabled for INFO costs one level check per decision.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .base import Decision, Telemetry

__all__ = ["AUDIT_LOGGER", "AuditLog", "audit_fields"]

AUDIT_LOGGER = "s2s_guard.audit"
_MAX_PATH = 256  # a path is the client's choice: bound what reaches the log


def audit_fields(event: Decision) -> dict[str, Any]:
    """The audit record of a decision (a stable schema: absent values are ``None``)."""
    return {"event": "s2s_guard.decision", "outcome": event.outcome, "stage": event.stage,
            "reason": event.reason or None, "status": event.status, "policy": event.policy,
            "app": event.app, "user": event.user, "issuer": event.issuer,
            "path": event.path[:_MAX_PATH] or None, "cached": event.cached,
            "token_sha256": event.token_sha256, "duration_ms": round(event.duration * 1000, 3)}


class _Line:
    """The JSON text of an audit record, encoded only when a handler formats the message."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return json.dumps(self.fields, separators=(",", ":"))


class AuditLog(Telemetry):
    """Writes :func:`audit_fields` as one JSON line per decision (JSON escapes what a client sent)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger(AUDIT_LOGGER)

    def enabled(self) -> bool:
        return self.log.isEnabledFor(logging.INFO)

    def decision(self, event: Decision, span: Any = None) -> None:
        fields = audit_fields(event)
        self.log.info("%s", _Line(fields), extra={"audit": fields})
