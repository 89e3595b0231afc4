"""The audit log: one structured (JSON) line per decision on the ``s2s_guard.audit`` logger.

Fields: event, outcome, stage, reason, status, policy, app, user, issuer, path, cached,
token_sha256 (12 hex digits of the token's SHA-256, never the token) and duration_ms. The
same dict rides on the log record as ``record.audit`` for structured handlers. Lines are
written at INFO; a logger not enabled for INFO costs one level check per decision.

``user`` is personal data: it reads ``"[PII hidden]"`` unless ``[telemetry] show_pii = true``
or ``S2S_GUARD_SHOW_PII=1`` (as Microsoft.Identity.Web's ShowPII). The app's client id, the
issuer, times and hashes are not personal data and are always written.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from ..config import TelemetryConfig
from .base import Decision, Telemetry

__all__ = ["AUDIT_LOGGER", "AuditLog", "PII_HIDDEN", "SHOW_PII_ENV", "audit_fields", "pii_shown"]

AUDIT_LOGGER = "s2s_guard.audit"
#: What stands for a user id in the log while PII is hidden.
PII_HIDDEN = "[PII hidden]"
#: The environment switch an operator flips to see user ids without changing the configuration.
SHOW_PII_ENV = "S2S_GUARD_SHOW_PII"
_MAX_PATH = 256  # a path is the client's choice: bound what reaches the log


def pii_shown(config: TelemetryConfig | None = None) -> bool:
    """Whether user ids may be logged: ``[telemetry] show_pii`` or ``S2S_GUARD_SHOW_PII=1`` (default: no)."""
    flag = os.environ.get(SHOW_PII_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    return flag or (config is not None and config.show_pii)


def audit_fields(event: Decision, *, show_pii: bool = False) -> dict[str, Any]:
    """The audit record of a decision (a stable schema: absent values are ``None``).

    ``user`` is :data:`PII_HIDDEN` when the decision names a user and ``show_pii`` is false.
    """
    user = event.user if show_pii or event.user is None else PII_HIDDEN
    return {"event": "s2s_guard.decision", "outcome": event.outcome, "stage": event.stage,
            "reason": event.reason or None, "status": event.status, "policy": event.policy,
            "app": event.app, "user": user, "issuer": event.issuer,
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

    def __init__(self, logger: logging.Logger | None = None, *, show_pii: bool = False) -> None:
        self.log = logger or logging.getLogger(AUDIT_LOGGER)
        #: Write user ids as they are (else :data:`PII_HIDDEN`); see :func:`pii_shown`.
        self.show_pii = show_pii

    def enabled(self) -> bool:
        return self.log.isEnabledFor(logging.INFO)

    def decision(self, event: Decision, span: Any = None) -> None:
        fields = audit_fields(event, show_pii=self.show_pii)
        self.log.info("%s", _Line(fields), extra={"audit": fields})
