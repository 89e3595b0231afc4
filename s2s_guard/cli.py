"""The ``s2s-guard`` command (RFC 6750 tooling): ``demo``, ``check`` and ``inspect`` a token,
``issuer`` (a local issuer in the foreground) and ``mint`` (a token from it, for curl).

Exit codes: 0 success (accepted, decoded, every demo row matched, minted, issuer stopped
cleanly), 1 refused (token rejected, a demo row did not match), 2 bad usage or configuration,
141 stdout closed early (``| head``), silently, as a shell tool killed by SIGPIPE (128 + 13).
A raw token is never printed: not in results, not in error messages; ``mint`` alone prints
the token it made, which is its purpose.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

from . import __version__
from .cli_common import DEFAULT_STATE as DEFAULT_STATE, UsageError as UsageError  # importable here too
from .errors import AuthError, ConfigurationError
from .config import load_config
from .diagnose import explain_refusal
from .explain import findings
from .guard import Guard
from .inspect_token import NotAJWT, format_text, inspect_token
from .policy import Requirement
from .principal import POLICIES

__all__ = ["build_parser", "main"]

# Something shaped like a compact JWS: redacted from any message we print.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-+/=]{4,}\.[A-Za-z0-9_\-+/=]{4,}\.[A-Za-z0-9_\-+/=]*")
Handler = Callable[[argparse.Namespace], int]


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
        scopes = [scope for value in args.scope for scope in value.split()]  # --scopes "a b" too
        requirement = Requirement(policy=args.policy, scopes=scopes, right=args.right, resource=args.resource)
    except ConfigurationError as exc:
        raise UsageError(f"configuration error: {exc}") from exc
    try:
        principal = guard.authenticate_sync("Bearer " + token, requirement)
    except AuthError as exc:
        explanation = {"explanation": explain_refusal(guard, exc, authorization="Bearer " + token,
                                                      requirement=requirement)} if args.verbose else {}
        _emit({"accepted": False, **exc.to_dict(), **explanation})
        return 1
    finally:
        guard.close()
    _emit({"accepted": True, "principal": principal.to_dict()})
    return 0


def _inspect(args: argparse.Namespace) -> int:
    token = _read_token(args.token)
    try:
        report = inspect_token(token, now=time.time())
    except NotAJWT as exc:
        raise UsageError(str(exc)) from exc
    if args.config is not None:
        _flag_config(report, args.config)
    print(format_text(report) if args.text else json.dumps(report, indent=2))
    return 0


def _flag_config(report: dict[str, object], path: str) -> None:
    """Add a ``config_<reason>`` flag for each check the configuration at ``path`` would fail."""
    try:
        config = load_config(path)
    except ConfigurationError as exc:
        raise UsageError(f"configuration error: {exc}") from exc
    header, claims, flags = report.get("header"), report.get("claims"), report.get("flags")
    if isinstance(header, dict) and isinstance(claims, dict) and isinstance(flags, list):
        flags += [{"code": f"config_{finding.code or 'note'}", "message": finding.message}
                  for finding in findings(header, claims, config, now=time.time())]


def _mint(args: argparse.Namespace) -> int:
    from .cli_issuer import family_table, mint  # imports the testing kit

    if args.list:
        sys.stdout.write(family_table())
        return 0
    if args.family is None:
        raise UsageError("name a token family; `s2s-guard mint --list` shows them")
    names = ("client_id", "user", "audience", "host", "ttl")
    options = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.scopes:
        options["scopes"] = " ".join(args.scopes)
    print(mint(args.family, state_path=args.state, options=options))  # the one place a token is printed
    return 0


def _issuer(args: argparse.Namespace) -> int:
    from .cli_issuer import run_issuer

    return run_issuer(port=args.port, state_path=args.state, audience=args.audience, out=sys.stdout,
                      entra=args.entra, tenant=args.tenant)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 10 ** 9:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number (0: any free port), got {text!r}")
    return int(text)


def _add(sub: argparse._SubParsersAction[_Parser], name: str, handler: Handler,
         help: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=help)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: ``demo``, ``check``, ``inspect``, ``mint`` and ``issuer`` subcommands."""
    parser = _Parser(prog="s2s-guard", description="Validate and inspect OAuth 2.0 Bearer tokens "
                     "(RFC 6750) the way an s2s_guard-protected API does.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add(sub, "demo", _demo, "run a local issuer and a guarded API and show how each token fares")
    check = _add(sub, "check", _check, "validate one token with a configuration file (JSON result)")
    check.add_argument("--config", required=True, metavar="FILE", help="TOML or JSON configuration")
    check.add_argument("--policy", choices=POLICIES, help="policy the token must satisfy")
    check.add_argument("--scope", "--scopes", action="append", default=[], metavar="S",
                       help="scope(s) the token must grant, space-separated (repeatable)")
    check.add_argument("--right", metavar="R", help="right the app or user must hold on --resource")
    check.add_argument("--resource", metavar="PATH", help="resource path of --right ([[grants]])")
    check.add_argument("--verbose", "-v", action="store_true",
                       help="explain a refusal with expected vs actual values (for you, never the caller)")
    check.add_argument("token", metavar="TOKEN|-", help="the access token, or - to read stdin")
    inspect = _add(sub, "inspect", _inspect, "decode a token WITHOUT verifying it and flag problems")
    inspect.add_argument("--text", action="store_true", help="human-readable output instead of JSON")
    inspect.add_argument("--config", metavar="FILE",
                         help="also flag what this configuration would refuse (iss, aud, alg, typ, times, tid)")
    inspect.add_argument("token", metavar="TOKEN|-", help="the token, or - to read stdin")
    _add_mint(sub)
    _add_issuer(sub)
    return parser


_STATE_HELP = "the running issuer's state file (default: %(default)s, written by `s2s-guard issuer`)"


def _add_mint(sub: argparse._SubParsersAction[_Parser]) -> None:
    mint = _add(sub, "mint", _mint, "print a token of a chosen family, signed by a running `s2s-guard "
                "issuer` (for curl)")
    mint.add_argument("family", nargs="?", metavar="FAMILY", help="token family (see --list)")
    mint.add_argument("--list", action="store_true", help="list the families and exit")
    mint.add_argument("--client-id", help="the app (client_id, appid/azp, SharePoint add-in)")
    mint.add_argument("--user", help="the user of user+app and delegated families")
    mint.add_argument("--scopes", action="append", metavar="'S1 S2'",
                      help="space-separated scopes (Entra app-only: roles); repeatable")
    mint.add_argument("--audience", help="aud (default: the issuer's audience)")
    mint.add_argument("--host", help="SharePoint host in aud (default: localhost)")
    mint.add_argument("--ttl", type=_positive, metavar="SECONDS", help="lifetime (default: 300)")
    mint.add_argument("--state", default=DEFAULT_STATE, metavar="PATH", help=_STATE_HELP)


def _add_issuer(sub: argparse._SubParsersAction[_Parser]) -> None:
    issuer = _add(sub, "issuer", _issuer, "run a local issuer on 127.0.0.1 in the foreground and print "
                  "a guard configuration for it")
    issuer.add_argument("--port", type=_port, default=0, help="port to listen on (default: any free one)")
    issuer.add_argument("--state", default=DEFAULT_STATE, metavar="PATH",
                        help="where to save its keys for `s2s-guard mint` (default: %(default)s)")
    issuer.add_argument("--audience", default="api://demo", help="aud of its tokens (default: %(default)s)")
    issuer.add_argument("--entra", action="store_true",
                        help="act as an Entra ID tenant over https for MSAL (prints the authority and CA bundle)")
    issuer.add_argument("--tenant", metavar="GUID", help="with --entra: the tenant id (default: a random one)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        try:
            code = _run(build_parser().parse_args(argv))
        finally:
            sys.stdout.flush()  # a closed pipe fails here (also after --help), not at interpreter exit
    except BrokenPipeError:
        return _stdout_closed()
    return code


def _run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; a :class:`UsageError` goes to stderr with exit code 2."""
    try:
        return int(args.handler(args))
    except UsageError as exc:
        print(f"s2s-guard {args.command}: {exc}", file=sys.stderr)
        return 2


def _stdout_closed() -> int:
    """Point stdout at devnull so nothing fails again at exit (Python docs, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


if __name__ == "__main__":
    # Run the importable module's main, so the UsageError other modules raise is the one it catches.
    from s2s_guard.cli import main as _main

    sys.exit(_main())
