"""``[[grants]]``: app rights on resource path prefixes, for tokens that carry no permissions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError
from ..grants import Grant, parse_right
from .values import _bool, _optional_str, _table


_GRANT_KEYS = {"app", "resource", "right", "app_only", "issuer"}


def _grants_from(value: Any) -> tuple[Grant, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigurationError("grants", "expected a list of [[grants]] tables")
    return tuple(_grant(item, f"grants[{i}].") for i, item in enumerate(value))


def _grant(raw: Any, where: str) -> Grant:
    raw = _table(raw, _GRANT_KEYS, where)
    for key in ("app", "resource", "right"):
        if key not in raw:
            raise ConfigurationError(where + key, "required")
    resource = _optional_str(raw, "resource", where)
    if resource is None or not resource.startswith("/"):
        raise ConfigurationError(where + "resource", 'expected a path prefix such as "/sites/hr/lists/docs"')
    return Grant(app=str(_optional_str(raw, "app", where)), resource=resource,
                 right=parse_right(raw["right"], where + "right"),
                 app_only=_bool(raw, "app_only", where), issuer=_optional_str(raw, "issuer", where))
