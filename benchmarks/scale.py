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
    """JWKS at ``/jwks``, RFC 7662 at ``/introspect`` (``opaque-*`` tokens are active), counters at ``/_stats``."""
    stats = {"jwks": 0, "introspect": 0, "connections": 0}
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
            with lock:
                stats["jwks"] += 1
            time.sleep(delay)
            self._reply(jwks)

        def do_POST(self) -> None:  # noqa: N802
            form = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.path == "/_reset":
                with lock:
                    stats.update(jwks=0, introspect=0, connections=0)
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
    workers: int
    jwks: int
    introspect: int
    connections: int
    reach: float
    rps: float
    p99_ms: float
    rss_mb: float
    errors: int


class Workers:
    """``uvicorn --workers N`` on a free port, with the guard configured by ``config``."""

    def __init__(self, n: int, config: dict[str, Any], workdir: Path) -> None:
        self.n, self.port = n, free_port()
        path = workdir / "config.json"
        path.write_text(json.dumps(config))
        self.log = open(workdir / f"uvicorn-{n}.log", "w+b")
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


async def _run(port: int, order: Sequence[str], connections: int, keep_alive: bool = True
               ) -> list[tuple[str, tuple[float, int, str]]]:
    """Send ``order`` over ``connections`` connections at once (fresh ones per request unless ``keep_alive``)."""
    queue = list(reversed(order))
    results: list[tuple[str, tuple[float, int, str]]] = []

    async def loop() -> None:
        conn = _Connection(port)
        while queue:
            token = queue.pop()
            results.append((token, await conn.get(token)))
            if not keep_alive:
                conn.close()
        conn.close()

    await asyncio.gather(*(loop() for _ in range(connections)))
    return results


async def _burst(port: int, tokens: Sequence[str], repeat: int, connections: int
                 ) -> tuple[list[tuple[float, int, str]], float, dict[str, set[str]]]:
    """Every token ``repeat`` times at once, interleaved (request i carries token i mod K)."""
    order = [tokens[i % len(tokens)] for i in range(len(tokens) * repeat)]
    started = time.perf_counter()
    results = await _run(port, order, connections)
    elapsed = time.perf_counter() - started
    seen: dict[str, set[str]] = {t: set() for t in tokens}
    for token, (_, status, body) in results:
        if status == 200:
            seen[token].add(body)
    return [result for _, result in results], elapsed, seen


async def _cover(port: int, seen: dict[str, set[str]], workers: int, attempts: int = 40) -> None:
    """Send tokens that missed a worker on fresh connections until they reached all of them."""
    for _ in range(attempts):
        missing = [t for t, pids in seen.items() if len(pids) < workers]
        if not missing:
            return
        for token, (_, status, body) in await _run(port, missing * workers, 16, keep_alive=False):
            if status == 200:
                seen[token].add(body)


def _idp(idp_url: str, path: str) -> dict[str, int]:
    import httpx

    response = httpx.request("GET" if path == "/_stats" else "POST", idp_url + path)
    return dict(response.json())


def run_one(args: argparse.Namespace, backend: str, kind: str, n: int, idp_url: str, tokens: list[str],
            redis: RedisServer | None, workdir: Path) -> Row:
    config: dict[str, Any] = {"audience": [AUD], "issuers": [{"issuer": idp_url, "algorithms": ["ES256"],
                                                              "jwks_uri": idp_url + "/jwks"}]}
    if kind == "introspected":
        config["issuers"] = [{"issuer": idp_url, "validation": "introspect"}]
        config["introspection"] = {"endpoint": idp_url + "/introspect", "client_id": "api", "client_secret": "s"}
    if redis is not None:
        import redis as redis_py

        redis_py.Redis.from_url(redis.url).flushall()
        config["cache"] = {"backend": "redis", "url": redis.url, "secret": SECRET}
    _idp(idp_url, "/_reset")
    workers = Workers(n, config, workdir)
    try:
        results, elapsed, seen = asyncio.run(_burst(workers.port, tokens, args.r, args.connections))
        asyncio.run(_cover(workers.port, seen, n))
        stats = _idp(idp_url, "/_stats")
        latencies = sorted(latency for latency, _, _ in results)
        reach = sum(min(len(pids), n) for pids in seen.values()) / (len(tokens) * n)
        connections = stats["connections"] - 1  # the /_stats request's own
        return Row(backend, kind, n, stats["jwks"], stats["introspect"], connections, reach,
                   len(results) / elapsed, latencies[int(0.99 * (len(latencies) - 1))] * 1000,
                   workers.rss_mb(), sum(1 for _, status, _ in results if status != 200))
    finally:
        workers.stop()


# -- the report -----------------------------------------------------------------------------------

def table(rows: Sequence[Row]) -> str:
    lines = ["| backend | tokens | N | JWKS fetches | introspection calls | IdP TCP connections | reach "
             "| burst req/s | p99 ms | workers' RSS MB | errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.backend} | {r.kind} | {r.workers} | {r.jwks} | {r.introspect} | {r.connections} "
                     f"| {r.reach:.0%} | {r.rps:,.0f} | {r.p99_ms:.0f} | {r.rss_mb:.0f} | {r.errors} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("-k", type=int, default=50, help="distinct tokens (default 50)")
    p.add_argument("-r", type=int, default=20, help="requests per token in the burst (default 20)")
    p.add_argument("--connections", type=int, default=100, help="client keep-alive connections in the burst")
    p.add_argument("--idp-delay", type=float, default=0.02, help="the IdP's answer time in seconds")
    p.add_argument("--backends", nargs="+", default=["memory", "redis"], choices=["memory", "redis"])
    p.add_argument("--kinds", nargs="+", default=["jwt", "introspected"], choices=["jwt", "introspected"])
    return p.parse_args(argv)


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
        try:
            wait_listening(port)
            tokens = {"jwt": [issuer.app_token(f"app-{i}", alg="ES256", ttl=3600) for i in range(args.k)],
                      "introspected": [f"opaque-{i}-{os.urandom(8).hex()}" for i in range(args.k)]}
            rows = []
            for backend in args.backends:
                for kind in args.kinds:
                    for n in args.workers:
                        row = run_one(args, backend, kind, n, idp_url, tokens[kind],
                                      redis if backend == "redis" else None, workdir)
                        print(table([row]).splitlines()[-1], flush=True)
                        rows.append(row)
        finally:
            idp.terminate()
            idp.wait()
            if redis is not None:
                redis.stop()
    print(f"\nK = {args.k} tokens x R = {args.r} requests, cold burst over {args.connections} connections; "
          f"IdP answers in {args.idp_delay * 1000:.0f} ms; redis-server {redis_version()}; "
          f"{os.cpu_count()} cores\n")
    print(table(rows))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "idp":
        serve_idp(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    else:
        main()
