"""The ``s2s-guard`` command (RFC 6750 tooling): ``demo``, ``check`` a token, ``inspect`` a token.

Exit codes: 0 success (accepted, decoded, every demo row matched), 1 refused (token rejected,
a demo row did not match), 2 bad usage or configuration. A raw token is never printed: not in
results, not in error messages.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

from . import __version__
from .errors import AuthError, ConfigurationError
from .guard import Guard
from .inspect_token import NotAJWT, format_text, inspect_token
from .policy import Requirement
from .principal import POLICIES

__all__ = ["build_parser", "main"]

# Something shaped like a compact JWS: redacted from any message we print.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-+/=]{4,}\.[A-Za-z0-9_\-+/=]{4,}\.[A-Za-z0-9_\-+/=]*")
Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad usage or configuration: reported on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose error messages never echo a token (e.g. an extra argument)."""

    def error(self, message: str) -> NoReturn:
        super().error(_TOKEN_LIKE.sub("<token>", message))


def _read_token(arg: str) -> str:
    """The token argument, or stdin for ``-``; whitespace and a ``Bearer`` prefix are dropped."""
    token = (sys.stdin.read() if arg == "-" else arg).strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    if not token:
        raise UsageError("no token given" + (" on stdin" if arg == "-" else ""))
    return token


def _emit(obj: object) -> None:
    print(json.dumps(obj, indent=2))


def _demo(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("uvicorn") is None:
        raise UsageError("the demo needs uvicorn: pip install 's2s_guard[server]'")
    from .demo import run_demo  # imports Starlette routing and the testing issuer

    return run_demo(sys.stdout)


def _check(args: argparse.Namespace) -> int:
    token = _read_token(args.token)
    try:
        guard = Guard.from_config(args.config)
        requirement = Requirement(policy=args.policy, scopes=args.scope)
    except ConfigurationError as exc:
        raise UsageError(f"configuration error: {exc}") from exc
    try:
        principal = guard.authenticate_sync("Bearer " + token, requirement)
    except AuthError as exc:
        _emit({"accepted": False, **exc.to_dict()})
        return 1
    _emit({"accepted": True, "principal": principal.to_dict()})
    return 0


def _inspect(args: argparse.Namespace) -> int:
    token = _read_token(args.token)
    try:
        report = inspect_token(token, now=time.time())
    except NotAJWT as exc:
        raise UsageError(str(exc)) from exc
    print(format_text(report) if args.text else json.dumps(report, indent=2))
    return 0


def _add(sub: argparse._SubParsersAction[_Parser], name: str, handler: Handler,
         help: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: ``demo``, ``check`` and ``inspect`` subcommands."""
    parser = _Parser(prog="s2s-guard", description="Validate and inspect OAuth 2.0 Bearer tokens "
                     "(RFC 6750) the way an s2s_guard-protected API does.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add(sub, "demo", _demo, "run a local issuer and a guarded API and show how each token fares")
    check = _add(sub, "check", _check, "validate one token with a configuration file (JSON result)")
    check.add_argument("--config", required=True, metavar="FILE", help="TOML or JSON configuration")
    check.add_argument("--policy", choices=POLICIES, help="policy the token must satisfy")
    check.add_argument("--scope", action="append", default=[], metavar="S",
                       help="scope the token must grant (repeatable)")
    check.add_argument("token", metavar="TOKEN|-", help="the access token, or - to read stdin")
    inspect = _add(sub, "inspect", _inspect, "decode a token WITHOUT verifying it and flag problems")
    inspect.add_argument("--text", action="store_true", help="human-readable output instead of JSON")
    inspect.add_argument("token", metavar="TOKEN|-", help="the token, or - to read stdin")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except UsageError as exc:
        print(f"s2s-guard {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
