"""The ``s2s-guard demo`` table (RFC 6750 challenges shown per row), at most :data:`WIDTH` columns."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from .demo_cases import CaseResult, DemoRoute

__all__ = ["WIDTH", "render"]

WIDTH = 100
_WIDTHS = (32, 18, 13, 14, 5)
_INDENT = "    "
_PARAM_SEP = re.compile(r'(?<="), ')  # between auth-params: a quoted value never holds '"'


def _row(*cells: str) -> str:
    return " ".join(f"{cell:<{width}}" for cell, width in zip(cells, _WIDTHS)).rstrip()


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, width=WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False)


def _challenge_lines(challenge: str | None, realm: str) -> list[str]:
    """The challenge without the shared realm, broken between auth-params to fit :data:`WIDTH`."""
    if challenge is None:
        return []
    # Drop each challenge's realm; keep the comma that separates two challenges (Bearer, DPoP).
    shown = re.sub(f' realm="{re.escape(realm)}"(, (?=[\\w-]+=))?', lambda m: " " if m.group(1) else "",
                   challenge)
    pieces = _PARAM_SEP.split(shown)
    pieces = [piece + "," for piece in pieces[:-1]] + pieces[-1:]
    lines = [_INDENT + pieces[0]]
    for piece in pieces[1:]:
        if len(lines[-1]) + 1 + len(piece) <= WIDTH:
            lines[-1] += " " + piece
        else:
            lines += _wrap(piece, _INDENT + "  ", _INDENT + "    ")
    return lines


def _result_lines(result: CaseResult, policies: dict[str, str], realm: str) -> list[str]:
    case = result.case
    status = str(result.status) if result.status == case.expected_status else \
        f"{result.status} (want {case.expected_status})"
    line = _row(case.name, case.token_kind, policies.get(case.path, "?"), status,
                "ok" if result.ok else "FAIL")
    return [line, *_challenge_lines(result.challenge, realm)]


def _summary(results: Sequence[CaseResult]) -> list[str]:
    failed = [r for r in results if not r.ok]
    if not failed:
        return [f"All {len(results)} cases matched."]
    lines = [f"{len(failed)} of {len(results)} cases did not match:"]
    for result in failed:
        lines += _wrap(f"{result.case.name}: {'; '.join(result.problems)}", "  - ", "    ")
    return lines


def _route_lines(routes: Sequence[DemoRoute]) -> list[str]:
    lines = ["Routes of the demo API:"]
    for route in routes:
        lines.append(f"  {route.path:<18} {route.label:<10} {route.demands}".rstrip())
    return lines


def render(results: Sequence[CaseResult], routes: Sequence[DemoRoute], *, realm: str) -> str:
    """The routes, then one row per case (challenge on the next line), then the verdict."""
    lines = [*_route_lines(routes), "", f'Challenges below omit realm="{realm}".', "",
             _row("case", "token kind", "route policy", "HTTP status", "check"),
             _INDENT + "WWW-Authenticate", _row(*("-" * width for width in _WIDTHS))]
    policies = {route.path: route.label for route in routes}
    for result in results:
        lines += _result_lines(result, policies, realm)
    return "\n".join([*lines, "", *_summary(results)]) + "\n"
