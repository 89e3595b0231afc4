"""The benchmark's extra reports: call counts, memory bound and uvicorn throughput on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import multiprocessing
import os
import socket
import threading
import time
from base64 import urlsafe_b64encode
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from s2s_guard import AuthError, Guard

ISS = "https://idp.bench.test"
AUD = "api://bench"


class _Server:
    """A counting loopback HTTP server: ``routes[path] = (status, body)``; ``delay`` per request."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.hits: Counter[str] = Counter()
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.hits[self.path] += 1
                time.sleep(server.delay)
                status, body = server.routes.get(self.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@contextlib.contextmanager
def introspection_server(iss: str, aud: str, delay: float = 0.0) -> Iterator[str]:
    """An introspection endpoint that says every token is active for ``aud``."""
    server = _Server()
    server.delay = delay
    server.routes["/introspect"] = (200, json.dumps({
        "active": True, "iss": iss, "aud": aud, "client_id": "svc-billing", "scope": "orders.read",
        "exp": int(time.time()) + 3600}).encode())
    try:
        yield server.url + "/introspect"
    finally:
        server.stop()


def jwks_calls_for_unknown_kids(keys: dict[str, Any]) -> str:
    """1,000 requests, each with a different random kid, against a real JWKS server."""
    import jwt
    from common import public_jwk  # type: ignore[import-not-found]

    server = _Server()
    server.routes["/jwks"] = (200, json.dumps({"keys": [public_jwk(a, k) for a, k in keys.items()]}).encode())
    guard = Guard.from_config({"audience": [AUD], "issuers": [
        {"issuer": ISS, "algorithms": ["ES256"], "jwks_uri": server.url + "/jwks"}]})
    tokens = [jwt.encode({"iss": ISS, "aud": AUD, "sub": "x", "exp": int(time.time()) + 60},
                         keys["ES256"], algorithm="ES256", headers={"kid": os.urandom(8).hex()})
              for _ in range(1000)]

    async def main() -> list[str]:
        async def one(token: str) -> str:
            try:
                await guard.authenticate("Bearer " + token)
                return "ok"
            except AuthError as exc:
                return exc.reason
        return await asyncio.gather(*(one(t) for t in tokens))

    started = time.perf_counter()
    reasons = Counter(asyncio.run(main()))
    elapsed = time.perf_counter() - started
    server.stop()
    return (f"{server.hits['/jwks']} (target: 1 per 30 s cooldown window; run took {elapsed:.1f} s; "
            f"outcomes {dict(reasons)})")


def introspection_calls_for_cold_token(iss: str, aud: str) -> str:
    """200 concurrent requests carrying one token nobody has seen, endpoint answering in 50 ms."""
    server = _Server()
    server.delay = 0.05
    server.routes["/introspect"] = (200, json.dumps({
        "active": True, "iss": iss, "aud": aud, "client_id": "c", "exp": int(time.time()) + 60}).encode())
    guard = Guard.from_config({"audience": [aud], "issuers": [{"issuer": iss, "validation": "introspect"}],
                               "introspection": {"endpoint": server.url + "/introspect",
                                                 "client_id": "bench", "client_secret": "s"}})

    async def main() -> None:
        await asyncio.gather(*(guard.authenticate("Bearer cold-opaque-token") for _ in range(200)))

    asyncio.run(main())
    server.stop()
    return f"{server.hits['/introspect']} (target: 1)"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _b64(data: bytes) -> bytes:
    return urlsafe_b64encode(data).rstrip(b"=")


def rss_after_distinct_tokens(count: int, maxsize: int = 10_000) -> str:
    """Resident memory after ``count`` distinct valid tokens through the warm-path guard (HS256)."""
    secret = os.urandom(32).hex()
    guard = Guard.from_config({"audience": [AUD], "cache": {"maxsize": maxsize},
                               "issuers": [{"issuer": ISS, "algorithms": ["HS256"], "secret": secret}]})
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    exp = int(time.time()) + 3600
    before = _rss_mb()
    marks: list[str] = []
    started = time.perf_counter()
    for i in range(count):
        payload = _b64(b'{"iss":"%s","aud":"%s","sub":"u%d","client_id":"c","exp":%d}'
                       % (ISS.encode(), AUD.encode(), i, exp))
        signing = header + b"." + payload
        token = signing + b"." + _b64(hmac.new(secret.encode(), signing, hashlib.sha256).digest())
        guard.authenticate_sync("Bearer " + token.decode())
        if (i + 1) in (count // 10, count):
            marks.append(f"{_rss_mb() - before:+.1f} MB after {i + 1:,}")
    elapsed = time.perf_counter() - started
    return (f"resident memory, verified cache maxsize={maxsize:,}: {'; '.join(marks)} distinct tokens "
            f"(baseline {before:.0f} MB; {elapsed:.0f} s)")


# -- uvicorn on loopback ----------------------------------------------------------------------------

def _serve(port: int, jwks: dict[str, Any] | None) -> None:
    import uvicorn
    from common import bare_app, guard_config, guarded  # type: ignore[import-not-found]

    app: Any = bare_app()
    if jwks is not None:
        app = guarded(app, Guard.from_config(guard_config(jwks, verified=True)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(port: int, request: bytes, total: int, connections: int) -> float:
    """Keep-alive GETs over ``connections`` sockets until ``total`` responses; requests/s."""
    remaining = [total]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining[0] > 0:
            remaining[0] -= 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return total / (time.perf_counter() - started)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("uvicorn did not start")


def _start(jwks: dict[str, Any] | None) -> tuple[Any, int]:
    port = _free_port()
    proc = multiprocessing.get_context("fork").Process(target=_serve, args=(port, jwks), daemon=True)
    proc.start()
    _wait_listening(port)
    return proc, port


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _throughputs(jwks: dict[str, Any], request: bytes, total: int,
                 rounds: int = 5) -> tuple[list[float], list[float]]:
    """Best requests/s and least server CPU µs/request, bare then guarded, measured in alternation."""
    return measure_servers([_start(None), _start(jwks)], request, total, rounds)


def measure_servers(servers: list[tuple[Any, int]], request: bytes, total: int,
                    rounds: int = 5) -> tuple[list[float], list[float]]:
    """Best requests/s and least server CPU µs/request of each started (process, port), in
    alternating rounds after a warm-up; the servers are stopped at the end."""
    try:
        for _, port in servers:
            asyncio.run(_load(port, request, 500, 8))  # warm-up (and the one signature check)
        rps, cpu = [0.0] * len(servers), [float("inf")] * len(servers)
        for _ in range(rounds):
            for i, (proc, port) in enumerate(servers):
                before = _cpu_seconds(proc.pid)
                rps[i] = max(rps[i], asyncio.run(_load(port, request, total, 16)))
                cpu[i] = min(cpu[i], (_cpu_seconds(proc.pid) - before) / total * 1e6)
        return rps, cpu
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.join(10)


def uvicorn_share(keys: dict[str, Any], total: int) -> str:
    """Requests/s of the guarded app (warm path) as a share of the bare app, uvicorn on loopback."""
    from common import mint, public_jwk  # type: ignore[import-not-found]

    jwks = {"keys": [public_jwk(a, k) for a, k in keys.items()]}
    token = mint("RS256", keys["RS256"])
    request = (b"GET /orders HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " + token.encode()
               + b"\r\n\r\n")
    (bare, guarded), (bare_cpu, guarded_cpu) = _throughputs(jwks, request, total)
    return (f"uvicorn (h11) on loopback, {total:,} keep-alive requests over 16 connections, best of 5 "
            f"alternating rounds: bare {bare:,.0f} req/s, guarded warm {guarded:,.0f} req/s = "
            f"{guarded / bare:.0%} (target >= 90%); server CPU per request: bare {bare_cpu:.0f} µs, "
            f"guarded {guarded_cpu:.0f} µs = {bare_cpu / guarded_cpu:.0%} of the bare rate")
