"""``[delegation]``: RFC 8693 §4.1 rules for every token, the apps allowed to act for users and
the longest ``act`` chain. The rules are applied by :mod:`s2s_guard.delegation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from .values import _strings, _table


_KEYS = {"actors", "max_depth"}


@dataclass(frozen=True, slots=True, kw_only=True)
class DelegationConfig:
    """``[delegation]``: the apps allowed to act for users (``None``: any) and the longest ``act`` chain."""

    #: The apps allowed to act for users (``act.sub``); unset: any.
    actors: frozenset[str] | None = None
    #: The longest ``act`` chain accepted (0: none); unset: no limit.
    max_depth: int | None = None


def max_depth_of(value: Any, key: str) -> int | None:
    """A chain-length bound: ``None`` or an integer >= 0 (0 forbids any ``act`` chain)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(key, "expected an integer >= 0 (0: no act chain at all)")
    return value


def delegation_from(raw: Mapping[str, Any]) -> DelegationConfig | None:
    """Translate the ``[delegation]`` table (absent: ``None``)."""
    block = raw.get("delegation")
    if block is None:
        return None
    block = _table(block, _KEYS, "delegation.")
    actors = block.get("actors")
    return DelegationConfig(
        actors=None if actors is None else frozenset(_strings(actors, "delegation.actors", allow_empty=True)),
        max_depth=max_depth_of(block.get("max_depth"), "delegation.max_depth"))
