"""RFC 6749 §5.1/§5.2 and RFC 8693 §2.2: read a token endpoint's answer, strictly.

A success is a JSON object with a non-empty ``access_token`` and ``token_type`` Bearer;
``expires_in`` is a number (Entra ID v1 sends it as a digit string, accepted too). Anything
else raises :class:`TokenEndpointError`, never a ``KeyError`` or ``json`` error.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from ._token_cache import Token
from .errors import TokenEndpointError

__all__ = ["parse_token_response"]

#: Assumed lifetime when a server omits ``expires_in`` (RFC 6749 §5.1 makes it optional).
DEFAULT_EXPIRES_IN = 300.0


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _refusal(response: httpx.Response, body: dict[str, Any] | None, token_url: str) -> TokenEndpointError:
    error = body.get("error") if body else None
    description = body.get("error_description") if body else None
    return TokenEndpointError(
        "token endpoint refused the request", token_url=token_url,
        status_code=response.status_code, error=error if isinstance(error, str) else None,
        description=description if isinstance(description, str) else None)


def _expires_in(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value > 0:
        return float(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) > 0:
        return float(value)  # Entra ID v1 endpoint: "expires_in": "3599"
    return None


def parse_token_response(response: httpx.Response, token_url: str, now: float) -> Token:
    """A :class:`Token` from a 200 answer, or :class:`TokenEndpointError` for anything else."""
    body = _json_object(response)
    if response.status_code != 200:
        raise _refusal(response, body, token_url)

    def garbage(why: str) -> TokenEndpointError:
        return TokenEndpointError(f"token endpoint answered {why}", token_url=token_url,
                                  status_code=response.status_code)

    if body is None:
        raise garbage("something that is not a JSON object")
    token, token_type = body.get("access_token"), body.get("token_type")
    if not isinstance(token, str) or not token:
        raise garbage("no access_token")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":  # RFC 6749 §7.1
        raise garbage(f"token_type {str(token_type)[:20]!r}, not Bearer")
    expires_in = _expires_in(body.get("expires_in", DEFAULT_EXPIRES_IN))
    if expires_in is None:
        raise garbage("an invalid expires_in")
    scope, issued = body.get("scope"), body.get("issued_token_type")
    return Token.issued(token, now=now, expires_in=expires_in,
                        scope=scope if isinstance(scope, str) else None,
                        issued_token_type=issued if isinstance(issued, str) else None)
