"""Typed readers of TOML/JSON values: each returns the value or raises a ConfigurationError naming its key.

Every section module reads its table through these, so a key's message reads the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError


def _unknown(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigurationError(f"{where}{key}", f"unknown key; expected one of {sorted(allowed)}")


def _table(value: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    """A TOML table at ``where`` (``"cache."``, ``"issuers[0]."``) holding only ``allowed`` keys."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(where.rstrip("."), "expected a table")
    _unknown(value, allowed, where)
    return value


def _integer(value: Any, key: str, *, minimum: int) -> int:
    """An integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(key, f"expected an integer >= {minimum}")
    return value


def _strings(value: Any, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(v, str) and v for v in items):
        raise ConfigurationError(key, "expected a non-empty string or a list of non-empty strings")
    if not items and not allow_empty:
        raise ConfigurationError(key, "must not be empty")
    return tuple(items)


def _number(value: Any, key: str, *, minimum: float = 0) -> float:
    # TOML inf/nan and JSON Infinity/NaN parse as floats: an infinite leeway would disable expiry.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value < math.inf:
        raise ConfigurationError(key, f"expected a finite number >= {minimum}")
    return float(value)


def _fraction(value: Any, key: str) -> float:
    """A share of a lifetime in ``(0, 1]``."""
    if _number(value, key) == 0 or value > 1:
        raise ConfigurationError(key, "expected a fraction in (0, 1], e.g. 0.8 (1 turns it off)")
    return float(value)


def _optional_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(where + key, "expected a non-empty string")
    return value


def _url(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _optional_str(raw, key, where)
    if value is not None and not value.startswith(("https://", "http://")):
        raise ConfigurationError(where + key, "expected an http(s) URL")
    return value


def _bool(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise ConfigurationError(where + key, "expected true or false")
    return value
