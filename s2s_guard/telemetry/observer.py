"""The pipeline's telemetry hooks: what a decision tells an observer, and the default that listens to nothing.

A guard asks its :class:`Observer` to ``start`` each decision it makes (``authenticate``,
``authenticate_sync``, the warm-path ``lookup``, a route's ``authorize``); ``None`` means the
call is not watched, and it then runs with no other hook at all (the default observer always
answers ``None``: one call per decision). A watched call gets an :class:`Observation`, which
the pipeline tells, in this order and only what applies: the issuer a token was routed to
(``validating``: a verified-cache miss), the principal whose revocation and requirement are
being checked (``checking``), then the outcome (``accepted`` or ``refused``) inside ``span()``.
:mod:`s2s_guard.telemetry` turns observations into audit lines, metrics and spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ContextManager, Literal, Protocol

from ..config import IssuerConfig
from ..errors import AuthError
from ..principal import Principal

__all__ = ["Observation", "Observer", "Stage"]

#: "authenticate" (a token checked: authenticate, authenticate_sync or the warm-path lookup) or
#: "authorize" (a route requirement refused an already authenticated principal).
Stage = Literal["authenticate", "authorize"]


class Observation(Protocol):
    """One watched guard call; methods are called on the request path: quick, never raising."""

    def span(self) -> ContextManager[Any]:
        """The call's trace span (started when the call started); its value goes to the outcome."""

    def validating(self, issuer: IssuerConfig | None) -> None:
        """A verified-cache miss routed to ``issuer`` (``None``: the token is introspected)."""

    def checking(self, principal: Principal) -> None:
        """The revocation and the requirement are being checked for ``principal``."""

    def accepted(self, principal: Principal, span: Any = None) -> None:
        """The call returns ``principal``."""

    def refused(self, error: AuthError, span: Any = None, *, stage: Stage = "authenticate") -> None:
        """The call raises ``error``."""


class Observer:
    """Watches nothing: the default, whose only cost is one call per decision."""

    def start(self, path: str, authorization: object = None, query_tokens: Sequence[str] = ()) -> Observation | None:
        """Begin watching a call for ``path`` carrying these credentials (``None``: not watched)."""
        return None
