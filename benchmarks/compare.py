"""Side by side: this checkout's s2s_guard against an earlier commit's, in one process, one run.

``python benchmarks/compare.py --base <commit>`` exports that commit's ``s2s_guard`` package
(``git archive``) into a temporary folder, imports it as ``s2s_guard_base`` next to the working
tree's ``s2s_guard``, and measures both on the same tokens with bench.py's interleaved rounds:
cold RS256/ES256/EdDSA (verified cache off), warm RS256 (verified cache hit) and an
introspection-cache hit; with ``--uvicorn N``, also requests/s and server CPU per request of
both versions behind uvicorn on loopback (warm path, rounds alternating). It prints each figure
and the ratio after/before, so a change on the request path is judged against the previous main
under the same machine load.
Not a test: it prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (ALGS, AUD, ISS, Contender, _check_accepted, bare_app, guard_config,  # noqa: E402
                   machine, make_keys, measure, mint, public_jwk)
from extras import _free_port, _wait_listening, introspection_server, measure_servers  # noqa: E402

import s2s_guard  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def load_base(commit: str, into: Path) -> ModuleType:
    """Import ``commit``'s package as ``s2s_guard_base`` (its imports are relative, so it stays apart)."""
    archive = into / "base.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", commit, "s2s_guard"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    package = into / "s2s_guard"
    spec = importlib.util.spec_from_file_location("s2s_guard_base", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["s2s_guard_base"] = module
    spec.loader.exec_module(module)
    return module


def contenders(pkg: ModuleType, label: str, keys: dict[str, Any], tokens: dict[str, str],
               introspection_url: str) -> list[Contender]:
    """The request paths a change may slow down, built from one version of the package."""
    jwks = {"keys": [public_jwk(alg, key) for alg, key in keys.items()]}

    def guarded(config: dict[str, Any]) -> Any:
        return pkg.GuardMiddleware(bare_app(), guard=pkg.Guard.from_config(config))

    rows: list[Contender] = [(f"{label} cold (cache off)", alg, guarded(guard_config(jwks, verified=False)),
                              tokens[alg]) for alg in ALGS]
    rows.append((f"{label} warm (verified cache)", "RS256", guarded(guard_config(jwks, verified=True)),
                 tokens["RS256"]))
    config = {"audience": [AUD], "cache": {"verified": False},
              "issuers": [{"issuer": ISS, "validation": "introspect"}],
              "introspection": {"endpoint": introspection_url, "client_id": "bench", "client_secret": "s"}}
    rows.append((f"{label} introspection cache hit", "opaque", guarded(config), "opaque-token-1"))
    return rows


async def run(base: ModuleType, n: int, rounds: int) -> list[tuple[str, str, float | None]]:
    keys = make_keys()
    tokens = {alg: mint(alg, keys[alg]) for alg in ALGS}
    with introspection_server(ISS, AUD) as url:
        rows = contenders(base, "before", keys, tokens, url) + contenders(s2s_guard, "after", keys, tokens, url)
        for _name, _alg, app, token in rows:
            if not await _check_accepted(app, token):  # also primes the introspection cache
                raise SystemExit(f"{_name} {_alg}: the token was refused")
    return await measure([("bare Starlette", "-", bare_app(), None), *rows], n, rounds)


def _serve(port: int, package: str, jwks: dict[str, Any]) -> None:
    """A forked child: uvicorn serving the bench app behind ``package``'s guard (warm path)."""
    import uvicorn

    pkg = sys.modules[package]
    app = pkg.GuardMiddleware(bare_app(), guard=pkg.Guard.from_config(guard_config(jwks, verified=True)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def uvicorn_rows(base: ModuleType, total: int, rounds: int = 5) -> list[str]:
    """Requests/s and server CPU µs/request of both versions under uvicorn, rounds alternating."""
    keys = make_keys()
    jwks = {"keys": [public_jwk(alg, key) for alg, key in keys.items()]}
    request = (b"GET /orders HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer "
               + mint("RS256", keys["RS256"]).encode() + b"\r\n\r\n")
    servers = []
    for package in (base.__name__, "s2s_guard"):
        port = _free_port()
        proc = multiprocessing.get_context("fork").Process(target=_serve, args=(port, package, jwks), daemon=True)
        proc.start()
        _wait_listening(port)
        servers.append((proc, port))
    rps, cpu = measure_servers(servers, request, total, rounds)
    return [f"| uvicorn warm, req/s (best of {rounds}) | RS256 | {rps[0]:,.0f} | {rps[1]:,.0f} | "
            f"{rps[1] / rps[0]:.3f} |",
            f"| uvicorn warm, server CPU µs/request | RS256 | {cpu[0]:.0f} | {cpu[1]:.0f} | {cpu[1] / cpu[0]:.3f} |"]


def render(rows: list[tuple[str, str, float | None]]) -> list[str]:
    """One line per request path: before, after and their ratio (the ratio is what to read)."""
    values = {(name, alg): value for name, alg, value in rows}
    lines = ["| path | alg | before µs | after µs | after / before |", "|---|---|---:|---:|---:|"]
    for name, alg, after in rows:
        if name.startswith("after "):
            path = name.removeprefix("after ")
            before = values.get((f"before {path}", alg))
            if after and before:
                lines.append(f"| {path} | {alg} | {before:.1f} | {after:.1f} | {after / before:.3f} |")
    bare = values.get(("bare Starlette", "-"))
    if bare:
        lines.append(f"\nbare Starlette: {bare:.1f} µs/request")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare with (e.g. origin/main, HEAD~3)")
    parser.add_argument("-n", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--uvicorn", type=int, default=0, metavar="N",
                        help="also N keep-alive requests per round through uvicorn, both versions (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = load_base(args.base, Path(tmp))
        print(f"machine: {machine()}\nbefore: {args.base}, after: the working tree\n")
        lines = render(asyncio.run(run(base, args.n, args.rounds)))
        if args.uvicorn:
            lines[2:2] = uvicorn_rows(base, args.uvicorn)
        print("\n".join(lines))


if __name__ == "__main__":
    main()
