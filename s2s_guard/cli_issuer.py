"""``s2s-guard issuer`` and ``s2s-guard mint``: a local issuer (RFC 8414, 7517, 6749, 7662) by hand.

``issuer`` runs :class:`~s2s_guard.testing.LocalIssuer` in the foreground, registers demo
clients, saves its state (private keys: mode 0600, for local testing only, removed on a clean
stop) and prints its URLs and a guard configuration. ``mint`` reads that state and prints one
token, for curl. Opaque tokens exist only inside the running issuer, so ``mint opaque`` asks
its ``/token`` endpoint (client credentials, RFC 6749 §4.4) as the ``opaque-app`` demo client.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

import httpx

from .cli_common import DEFAULT_STATE, UsageError
from .client import ClientCredentialsAuth, TokenError
from .client._response import parse_token_response
from .testing import BROKEN, FAMILIES, EntraLocalIssuer, LocalIssuer, describe, mint_token, trust_config
from .testing.state import dump_state, issuer_from_state

__all__ = ["DEFAULT_STATE", "DEMO_CLIENTS", "OPAQUE_CLIENT", "family_table", "mint",
           "register_demo_clients", "run_issuer", "to_toml", "write_state"]

OPAQUE_CLIENT = "opaque-app"
#: Clients ``s2s-guard issuer`` registers at its ``/token`` (secrets are fresh on every start).
DEMO_CLIENTS = {"daemon-app": "client credentials: JWT app-only tokens",
                "web-app": "token exchange or on-behalf-of: user+app tokens",
                OPAQUE_CLIENT: "client credentials: opaque tokens (introspected)"}
_CLI_KEY = "cli"  # our section of the state file: the token endpoint and the demo client secrets
_BEGIN, _END = "# --- begin s2s-guard configuration ---", "# --- end s2s-guard configuration ---"


# -- state ------------------------------------------------------------------------------------

def write_state(issuer: LocalIssuer, path: str | os.PathLike[str], client_secrets: dict[str, str]) -> None:
    """Save the issuer's keys with its token URL and client secrets, readable by the owner only."""
    state = {**dump_state(issuer), _CLI_KEY: {"token_url": issuer.token_url, "clients": client_secrets}}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(state, out, indent=2)


def _read_state(path: str) -> dict[str, Any]:
    try:
        state = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no issuer state at {path}: start `s2s-guard issuer` first "
                         f"(it writes {DEFAULT_STATE} here), or pass --state PATH") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(state, dict):
        raise UsageError(f"{path} is not an s2s-guard issuer state")
    return state


def _remove_state(path: str, issuer: str) -> None:
    """Delete the state file, unless another issuer has written its own there since."""
    try:
        if json.loads(Path(path).read_text(encoding="utf-8")).get("issuer") == issuer:
            os.unlink(path)
    except (OSError, ValueError, AttributeError):
        pass


# -- TOML ------------------------------------------------------------------------------------

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def to_toml(config: dict[str, Any]) -> str:
    """A guard configuration as TOML: keys first, then ``[table]`` and ``[[array]]`` sections."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in config.items()
             if not isinstance(value, dict) and not _is_tables(value)]
    for key, value in config.items():
        if isinstance(value, dict):
            lines += ["", f"[{key}]", *(f"{k} = {_toml_value(v)}" for k, v in value.items())]
        elif _is_tables(value):
            for table in value:
                lines += ["", f"[[{key}]]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


# -- mint -------------------------------------------------------------------------------------

def family_table(width: int = 100) -> str:
    """``mint --list``: every family, whether a guard accepts it, and what it is (``width`` columns)."""
    lines = [f"{'family':<32}  {'guard':<8}  description"]
    for name, (ok, doc) in describe().items():
        first = f"{name:<32}  {'accepts' if ok else 'refuses':<8}  "
        lines += textwrap.wrap(doc, width=width, initial_indent=first, subsequent_indent=" " * len(first),
                               break_on_hyphens=False) or [first.rstrip()]
    return "\n".join(lines) + "\n"


def mint(family: str, *, state_path: str, options: dict[str, Any]) -> str:
    """A token of ``family`` signed with the keys of the issuer saved at ``state_path``."""
    if family not in FAMILIES and family not in BROKEN:
        raise UsageError(f"unknown token family {family!r}: see `s2s-guard mint --list`")
    state = _read_state(state_path)
    if family in BROKEN:
        print(f"note: {family} is a token a guard must refuse", file=sys.stderr)
    if family == "opaque":
        return _mint_opaque(state, state_path, options)
    try:
        issuer = issuer_from_state(state)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{state_path} is not an s2s-guard issuer state ({type(exc).__name__})") from exc
    return mint_token(issuer, family, **options)


def _mint_opaque(state: dict[str, Any], state_path: str, options: dict[str, Any]) -> str:
    """Ask the running issuer's ``/token`` for an opaque token (only it can introspect it later)."""
    cli = state.get(_CLI_KEY)
    secret = cli.get("clients", {}).get(OPAQUE_CLIENT) if isinstance(cli, dict) else None
    if not isinstance(cli, dict) or not isinstance(secret, str) or not isinstance(cli.get("token_url"), str):
        raise UsageError(f"{state_path} was not written by `s2s-guard issuer`: no client for opaque tokens")
    if options.get("client_id", OPAQUE_CLIENT) != OPAQUE_CLIENT:
        raise UsageError(f"opaque tokens are issued to the demo client {OPAQUE_CLIENT!r} only")
    auth = ClientCredentialsAuth(cli["token_url"], OPAQUE_CLIENT, client_secret=secret,
                                 scope=options.get("scopes") or None, resource=options.get("audience"))
    try:
        with httpx.Client(timeout=10.0, trust_env=False) as http:
            response = http.send(auth.token_request(time.time()))
        return parse_token_response(response, auth.token_url, time.time()).access_token
    except httpx.HTTPError as exc:
        raise UsageError(f"the issuer at {cli['token_url']} is not answering ({type(exc).__name__}): "
                         "is `s2s-guard issuer` still running?") from exc
    except TokenError as exc:
        raise UsageError(str(exc)) from exc


# -- issuer -----------------------------------------------------------------------------------

def register_demo_clients(issuer: LocalIssuer) -> dict[str, str]:
    """Register :data:`DEMO_CLIENTS` with fresh secrets; return client_id -> secret."""
    client_secrets = {client_id: secrets.token_urlsafe(16) for client_id in DEMO_CLIENTS}
    for client_id, secret in client_secrets.items():
        issuer.register_client(client_id, secret=secret, opaque=client_id == OPAQUE_CLIENT)
    return client_secrets


def _urls(issuer: LocalIssuer) -> dict[str, str]:
    if isinstance(issuer, EntraLocalIssuer):  # what MSAL and a guard need to trust the local tenant
        return {"authority (MSAL)": issuer.authority, "issuer": issuer.issuer, "discovery": issuer.discovery_url,
                "jwks": issuer.jwks_uri, "token": issuer.token_url, "CA bundle": issuer.ca_bundle}
    return {"issuer": issuer.issuer, "discovery": issuer.url + "/.well-known/openid-configuration",
            "jwks": issuer.jwks_uri, "token": issuer.token_url, "introspection": issuer.introspection_url,
            "SharePoint metadata": issuer.metadata_url}


def _what(issuer: LocalIssuer, what: str) -> str:
    return "client credentials: Entra v2.0 app-only tokens" if isinstance(issuer, EntraLocalIssuer) else what


def _token_help(issuer: LocalIssuer, state: str, client_secrets: dict[str, str]) -> list[str]:
    if not isinstance(issuer, EntraLocalIssuer):
        return ["Mint a token for curl (s2s-guard mint --list shows every family):",
                f'  TOKEN=$(s2s-guard mint app-only --scopes orders.read{state})']
    form = (f"-d grant_type=client_credentials -d client_id=daemon-app "
            f"-d client_secret={client_secrets['daemon-app']} -d scope={issuer.audience}/.default")
    return ["Get a token as MSAL would (ConfidentialClientApplication(authority=<authority above>, "
            "instance_discovery=False, verify=<CA bundle>)), or with curl:",
            f"  TOKEN=$(curl -s --cacert {shlex.quote(issuer.ca_bundle)} {form} {issuer.token_url} "
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"]


def _banner(issuer: LocalIssuer, state_path: str, client_secrets: dict[str, str],
            config: dict[str, Any]) -> str:
    urls = _urls(issuer)
    state = "" if state_path == DEFAULT_STATE else f" --state {shlex.quote(state_path)}"
    lines = [f"s2s-guard local issuer, for testing only (its private keys are in {state_path})", "",
             *(f"  {name:<20} {url}" for name, url in urls.items()),
             f"  {'audience':<20} {issuer.audience}", "",
             "Clients of /token (client_secret_basic or client_secret_post):",
             *(f"  {cid:<11} secret {client_secrets[cid]}  {_what(issuer, what)}" for cid, what in DEMO_CLIENTS.items()),
             "",
             *_token_help(issuer, state, client_secrets),
             '  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/...', "",
             "A guard configuration for your API (save it as s2s-guard.toml):",
             _BEGIN, to_toml(config).rstrip("\n"), _END, "", "Serving until Ctrl-C or SIGTERM."]
    return "\n".join(lines) + "\n"


def _wait_for_stop() -> None:
    """Block until SIGTERM or Ctrl-C (SIGINT)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        while not stop.wait(0.5):  # a timeout keeps Ctrl-C prompt everywhere
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _make_issuer(port: int, audience: str, entra: bool, tenant: str | None) -> LocalIssuer:
    if not entra:
        if tenant is not None:
            raise UsageError("--tenant goes with --entra")
        return LocalIssuer(audience=audience, port=port)
    try:
        tenant_id = str(uuid.UUID(tenant)) if tenant is not None else None
    except ValueError:
        raise UsageError(f"--tenant {tenant!r} is not a GUID (an Entra tenant id)") from None
    return EntraLocalIssuer(audience=audience, port=port, tenant_id=tenant_id)


def _guard_config(issuer: LocalIssuer) -> dict[str, Any]:
    if isinstance(issuer, EntraLocalIssuer):
        return issuer.guard_config()  # Entra has no introspection: JWTs only, entra profile
    return trust_config(issuer)


def run_issuer(*, port: int, state_path: str, audience: str, out: TextIO, entra: bool = False,
               tenant: str | None = None) -> int:
    """Serve a local issuer on 127.0.0.1:``port`` until stopped; 0 on a clean stop.

    With ``entra``, an :class:`EntraLocalIssuer` (https, tenant paths, for MSAL): the banner
    shows its authority and CA bundle, and the guard configuration uses the ``entra`` profile.
    """
    issuer = _make_issuer(port, audience, entra, tenant)
    try:
        issuer.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
    name = issuer.issuer
    try:
        client_secrets = register_demo_clients(issuer)
        config = _guard_config(issuer)  # also registers the guard as an introspection client
        try:
            write_state(issuer, state_path, client_secrets)
        except OSError as exc:
            raise UsageError(f"cannot write {state_path}: {exc.strerror or exc}") from exc
        out.write(_banner(issuer, state_path, client_secrets, config))
        out.flush()
        _wait_for_stop()
    finally:
        issuer.stop()
        _remove_state(state_path, name)
    print("s2s-guard issuer: stopped", file=out, flush=True)
    return 0
