"""Identity-provider load as workers scale out: a script with a report, not a test (``make scale``).

Everything runs on 127.0.0.1. N uvicorn worker processes (``--workers N``, one shared socket)
serve one guarded app; with the Redis backend they share one redis-server this script starts.
A loopback identity provider in its own process serves the JWKS and the introspection endpoint
(answering after ``--idp-delay``, as a real one does), with HTTP/1.1 keep-alive, and counts the
requests and the TCP connections it accepts.

For each backend (memory, redis), token kind (JWT, introspected) and N, every worker starts cold
and K distinct tokens are each sent R times at once (the cold burst), interleaved over many
keep-alive connections. The app answers with its worker's pid: uvicorn's shared socket spreads
connections unevenly, so tokens that did not reach every worker in the burst are then sent on
fresh connections until they have (the "reach" column says how many token x worker pairs were
covered). Reported per N: JWKS fetches and introspection calls at the identity provider, its
TCP connections, the burst's throughput and p99 latency, and the workers' resident memory.

    .venv/bin/python benchmarks/scale.py [--workers 1 2 4 8] [-k 50] [-r 20]
        [--hosts 2] [--cluster] [--steady SECONDS]

``--hosts 2`` starts two ``uvicorn --workers N`` groups on two ports (N workers each, 2N in all:
two hosts sharing the Redis); the client spreads its connections over both and every token
reaches every worker of both. ``--cluster`` adds the backend ``redis-cluster``: the same runs
against a three-master Redis Cluster this script starts (tests/redis_topologies.py), next to the
single server. ``--steady SECONDS`` adds a steady-state phase after the cold burst: the same
tokens re-sent for that long over keep-alive connections, reporting the IdP calls made during
it (expected 0: everything is cached) and its throughput and p99 latency.

``S2S_SCALE_DIR=<dir>`` keeps the workers' logs (``uvicorn-<N>.log``) there instead of a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load_support import RedisServer, free_port, proc_status, redis_version, wait_listening  # noqa: E402

AUD = "api://scale"
SECRET = "a-scale-benchmark-cache-secret-of-32-bytes-or-more"
HERE = Path(__file__).resolve().parent


# -- the identity provider (its own process) --------------------------------------------------------

def serve_idp(port: int, delay: float, keyfile: str) -> None:
    """Discovery at ``/.well-known/openid-configuration``, JWKS at ``/jwks``, RFC 7662 at ``/introspect``
    (``opaque-*`` tokens are active), counters at ``/_stats``."""
    stats = {"discovery": 0, "jwks": 0, "introspect": 0, "connections": 0}
    lock = threading.Lock()
    jwks = Path(keyfile).read_bytes()
    issuer = f"http://127.0.0.1:{port}"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            with lock:
                stats["connections"] += 1
            super().setup()

        def _reply(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/_stats":
                self._reply(json.dumps(stats).encode())
                return
            if self.path == "/.well-known/openid-configuration":
                with lock:
                    stats["discovery"] += 1
                time.sleep(delay)
                self._reply(json.dumps({"issuer": issuer, "jwks_uri": issuer + "/jwks",
                                        "introspection_endpoint": issuer + "/introspect"}).encode())
                return
            with lock:
                stats["jwks"] += 1
            time.sleep(delay)
            self._reply(jwks)

        def do_POST(self) -> None:  # noqa: N802
            form = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.path == "/_reset":
                with lock:
                    stats.update(discovery=0, jwks=0, introspect=0, connections=0)
                self._reply(b"{}")
                return
            with lock:
                stats["introspect"] += 1
            time.sleep(delay)
            active = "token=opaque-" in form
            self._reply(json.dumps({"active": active, "iss": issuer, "aud": AUD, "client_id": "caller",
                                    "exp": int(time.time()) + 3600} if active else {"active": False}).encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads, request_queue_size = True, 1024  # a deep backlog, read when listen() runs

    Server(("127.0.0.1", port), Handler).serve_forever()


# -- the app (imported by each uvicorn worker) ------------------------------------------------------

def make_app() -> Any:
    """``GET /`` behind ``GuardMiddleware``, answering with this worker's pid."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from s2s_guard import Guard, GuardMiddleware

    async def pid(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(os.getpid()))

    config = json.loads(Path(os.environ["S2S_SCALE_CONFIG"]).read_text())
    return GuardMiddleware(Starlette(routes=[Route("/", pid)]), guard=Guard.from_config(config))


# -- one run --------------------------------------------------------------------------------------

@dataclass
class Row:
    backend: str
    kind: str
    hosts: int
    workers: int
    discovery: int
    jwks: int
    introspect: int
    connections: int
    reach: float
    rps: float
    p99_ms: float
    rss_mb: float
    errors: int
    steady_idp: int | None = None
    steady_rps: float = 0.0
    steady_p99_ms: float = 0.0


class Workers:
    """``uvicorn --workers N`` on a free port, with the guard configured by ``config``."""

    def __init__(self, n: int, config: dict[str, Any], workdir: Path, host: int = 0) -> None:
        self.n, self.port = n, free_port()
        path = workdir / "config.json"
        path.write_text(json.dumps(config))
        self.log = open(workdir / (f"uvicorn-{n}.log" if host == 0 else f"uvicorn-{n}-host{host}.log"), "w+b")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "scale:make_app", "--app-dir", str(HERE),
             "--workers", str(n), "--host", "127.0.0.1", "--port", str(self.port), "--lifespan", "off",
             "--no-access-log", "--log-level", "info"],
            env={**os.environ, "S2S_SCALE_CONFIG": str(path)}, stdout=self.log, stderr=subprocess.STDOUT)
        wait_listening(self.port)
        deadline = time.monotonic() + 60
        while self._started() < n and time.monotonic() < deadline:
            time.sleep(0.1)

    def _started(self) -> int:
        self.log.flush()
        return Path(self.log.name).read_bytes().count(b"Started server process")

    def rss_mb(self) -> float:
        """Resident memory of the workers (the supervisor excluded), summed."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return sum(proc_status(int(pid), "VmRSS") for pid in children or [str(self.proc.pid)])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class _Connection:
    """One HTTP/1.1 keep-alive connection (asyncio streams: the client must not be the bottleneck)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, token: str) -> tuple[float, int, str]:
        """(latency, status, body) of ``GET /`` with ``token``; status 0 when the connection failed."""
        started = time.perf_counter()
        try:
            if self.reader is None or self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
            head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            length = int(head.lower().split("content-length:", 1)[1].split("\r\n", 1)[0])
            body = (await self.reader.readexactly(length)).decode()
            return time.perf_counter() - started, int(head.split(" ", 2)[1]), body
        except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
            self.close()
            return time.perf_counter() - started, 0, ""

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _run(ports: Sequence[int], order: Sequence[str], connections: int, keep_alive: bool = True,
               until: float | None = None) -> list[tuple[str, tuple[float, int, str]]]:
    """Send ``order`` over ``connections`` connections at once, spread over ``ports`` (fresh ones per
    request unless ``keep_alive``); with ``until`` (a perf_counter time), ``order`` again and again until then."""
    queue = list(reversed(order))
    results: list[tuple[str, tuple[float, int, str]]] = []

    async def loop(i: int) -> None:
        conn = _Connection(ports[i % len(ports)])
        while queue or (until is not None and time.perf_counter() < until):
            if not queue:
                queue.extend(reversed(order))
            token = queue.pop()
            results.append((token, await conn.get(token)))
            if not keep_alive:
                conn.close()
        conn.close()

    await asyncio.gather(*(loop(i) for i in range(connections)))
    return results


async def _burst(ports: Sequence[int], tokens: Sequence[str], repeat: int, connections: int
                 ) -> tuple[list[tuple[float, int, str]], float, dict[str, set[str]]]:
    """Every token ``repeat`` times at once, interleaved (request i carries token i mod K)."""
    order = [tokens[i % len(tokens)] for i in range(len(tokens) * repeat)]
    started = time.perf_counter()
    results = await _run(ports, order, connections)
    elapsed = time.perf_counter() - started
    seen: dict[str, set[str]] = {t: set() for t in tokens}
    for token, (_, status, body) in results:
        if status == 200:
            seen[token].add(body)
    return [result for _, result in results], elapsed, seen


async def _cover(ports: Sequence[int], seen: dict[str, set[str]], workers: int, attempts: int = 40) -> None:
    """Send tokens that missed a worker on fresh connections until they reached all of them."""
    for _ in range(attempts):
        missing = [t for t, pids in seen.items() if len(pids) < workers]
        if not missing:
            return
        for token, (_, status, body) in await _run(ports, missing * workers, 16, keep_alive=False):
            if status == 200:
                seen[token].add(body)


def _idp(idp_url: str, path: str) -> dict[str, int]:
    import httpx

    response = httpx.request("GET" if path == "/_stats" else "POST", idp_url + path)
    return dict(response.json())


def _p99_ms(results: Sequence[tuple[float, int, str]]) -> float:
    latencies = sorted(latency for latency, _, _ in results)
    return latencies[int(0.99 * (len(latencies) - 1))] * 1000


def run_one(args: argparse.Namespace, backend: str, kind: str, n: int, idp_url: str, tokens: list[str],
            redis_url: str | None, workdir: Path) -> Row:
    discovery = idp_url + "/.well-known/openid-configuration"  # keys and endpoint found as in production
    config: dict[str, Any] = {"audience": [AUD], "issuers": [{"issuer": idp_url, "algorithms": ["ES256"],
                                                              "discovery": discovery}]}
    if kind == "introspected":
        config["issuers"] = [{"issuer": idp_url, "validation": "introspect", "discovery": discovery}]
        config["introspection"] = {"client_id": "api", "client_secret": "s"}
    if redis_url is not None:
        import redis as redis_py

        client = redis_py.RedisCluster if backend == "redis-cluster" else redis_py.Redis
        client.from_url(redis_url).flushall()  # a cluster's: on every master
        config["cache"] = {"backend": backend, "url": redis_url, "secret": SECRET}
    _idp(idp_url, "/_reset")
    groups: list[Workers] = []
    try:
        groups.extend(Workers(n, config, workdir, host) for host in range(args.hosts))
        ports, total = [w.port for w in groups], n * args.hosts
        results, elapsed, seen = asyncio.run(_burst(ports, tokens, args.r, args.connections))
        asyncio.run(_cover(ports, seen, total))
        stats = _idp(idp_url, "/_stats")
        reach = sum(min(len(pids), total) for pids in seen.values()) / (len(tokens) * total)
        connections = stats["connections"] - 1  # the /_stats request's own
        row = Row(backend, kind, args.hosts, n, stats["discovery"], stats["jwks"], stats["introspect"], connections,
                  reach,
                  len(results) / elapsed, _p99_ms(results), sum(w.rss_mb() for w in groups),
                  sum(1 for _, status, _ in results if status != 200))
        if args.steady:
            started = time.perf_counter()
            steady = asyncio.run(_run(ports, tokens, args.connections, until=started + args.steady))
            elapsed = time.perf_counter() - started
            after = _idp(idp_url, "/_stats")
            row.steady_idp = sum(after[name] - stats[name] for name in ("discovery", "jwks", "introspect"))
            row.steady_rps, row.steady_p99_ms = len(steady) / elapsed, _p99_ms([r for _, r in steady])
            row.errors += sum(1 for _, (_, status, _) in steady if status != 200)
        return row
    finally:
        for w in groups:
            w.stop()


# -- the report -----------------------------------------------------------------------------------

def table(rows: Sequence[Row]) -> str:
    hosts = any(r.hosts > 1 for r in rows)
    steady = any(r.steady_idp is not None for r in rows)
    lines = ["| backend | tokens | " + ("hosts | N per host" if hosts else "N") + " | discovery fetches | JWKS fetches "
             "| introspection calls | IdP TCP connections | reach | burst req/s | p99 ms | "
             + ("steady IdP calls | steady req/s | steady p99 ms | " if steady else "")
             + "workers' RSS MB | errors |",
             "|---|---|---|---|---|---|---|---|---|---|" + "---|" * (hosts + 3 * steady + 2)]
    for r in rows:
        lines.append(f"| {r.backend} | {r.kind} | " + (f"{r.hosts} | " if hosts else "")
                     + f"{r.workers} | {r.discovery} | {r.jwks} | {r.introspect} | {r.connections} "
                     f"| {r.reach:.0%} | {r.rps:,.0f} | {r.p99_ms:.0f} | "
                     + (f"{r.steady_idp} | {r.steady_rps:,.0f} | {r.steady_p99_ms:.0f} | " if steady else "")
                     + f"{r.rss_mb:.0f} | {r.errors} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("-k", type=int, default=50, help="distinct tokens (default 50)")
    p.add_argument("-r", type=int, default=20, help="requests per token in the burst (default 20)")
    p.add_argument("--connections", type=int, default=100, help="client keep-alive connections in the burst")
    p.add_argument("--idp-delay", type=float, default=0.02, help="the IdP's answer time in seconds")
    p.add_argument("--backends", nargs="+", default=["memory", "redis"],
                   choices=["memory", "redis", "redis-cluster"])
    p.add_argument("--kinds", nargs="+", default=["jwt", "introspected"], choices=["jwt", "introspected"])
    p.add_argument("--hosts", type=int, default=1, choices=[1, 2],
                   help="uvicorn groups on their own ports, N workers each (2: two hosts sharing the Redis)")
    p.add_argument("--cluster", action="store_true",
                   help="add the backend redis-cluster: a three-master Redis Cluster started here")
    p.add_argument("--steady", type=float, default=0.0, metavar="SECONDS",
                   help="after the burst, re-send the same tokens for SECONDS (IdP calls, req/s, p99)")
    args = p.parse_args(argv)
    if args.cluster and "redis-cluster" not in args.backends:
        args.backends.append("redis-cluster")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    from s2s_guard.testing import LocalIssuer

    with tempfile.TemporaryDirectory(prefix="s2s-scale-") as tmp:
        tmp = os.environ.get("S2S_SCALE_DIR", tmp)
        workdir, port = Path(tmp), free_port()
        idp_url = f"http://127.0.0.1:{port}"
        issuer = LocalIssuer(issuer=idp_url, audience=AUD, algorithms=("ES256",))
        keyfile = workdir / "jwks.json"
        keyfile.write_text(json.dumps(issuer.jwks()))
        idp = subprocess.Popen([sys.executable, __file__, "idp", str(port), str(args.idp_delay), str(keyfile)])
        redis = RedisServer(workdir).start() if "redis" in args.backends else None
        stack = ExitStack()
        try:
            urls = {"memory": None, "redis": redis.url if redis is not None else None}
            if "redis-cluster" in args.backends:
                sys.path.insert(0, str(HERE.parent / "tests"))
                from redis_topologies import running_cluster  # type: ignore[import-not-found]

                urls["redis-cluster"] = stack.enter_context(running_cluster()).url
            wait_listening(port)
            tokens = {"jwt": [issuer.app_token(f"app-{i}", alg="ES256", ttl=3600) for i in range(args.k)],
                      "introspected": [f"opaque-{i}-{os.urandom(8).hex()}" for i in range(args.k)]}
            rows = []
            for backend in args.backends:
                for kind in args.kinds:
                    for n in args.workers:
                        row = run_one(args, backend, kind, n, idp_url, tokens[kind], urls[backend], workdir)
                        print(table([row]).splitlines()[-1], flush=True)
                        rows.append(row)
        finally:
            idp.terminate()
            idp.wait()
            stack.close()
            if redis is not None:
                redis.stop()
    print(f"\nK = {args.k} tokens x R = {args.r} requests, cold burst over {args.connections} connections"
          + (f" to {args.hosts} hosts (uvicorn groups) of N workers each" if args.hosts > 1 else "")
          + (f", then {args.steady:g} s steady state" if args.steady else "") + "; "
          f"IdP answers in {args.idp_delay * 1000:.0f} ms; redis-server {redis_version()}; "
          f"{os.cpu_count()} cores\n")
    print(table(rows))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "idp":
        serve_idp(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    else:
        main()
