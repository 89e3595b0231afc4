"""Plumbing for ``benchmarks/load.py``: the guarded server process, redis-server, and the two load drivers.

Everything listens on 127.0.0.1. The app under test runs in its own process (``python
load_support.py serve``) so its resident memory and CPU time are its own, and so it inherits no
listening socket of the local issuer (a stopped issuer must really refuse connections). Load
comes from ``wrk`` (throughput, counts by status through a Lua script) or from httpx clients in
spawned processes, which time-stamp every request so faults can be placed on a timeline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import multiprocessing
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: One answered request: (sent, latency, kind index, status, has Retry-After); sent is seconds after
#: the run's start, status 0 is a client-side failure (refused, reset, timed out).
Record = tuple[float, float, int, int, bool]


# -- processes and ports ---------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 30.0) -> None:
    """Block until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


def proc_status(pid: int, field: str) -> float:
    """A ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``) in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, in seconds (Linux ``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class AppServer:
    """The app (guarded by ``config``, or bare when ``None``) under uvicorn in a child process."""

    def __init__(self, config: dict[str, Any] | None, workdir: Path, name: str) -> None:
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        config_path = workdir / f"{name}.json"
        config_path.write_text(json.dumps(config))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "serve", "--port", str(self.port), "--config", str(config_path)],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_listening(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"the app did not start; see {self.log_path}") from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        return proc_status(self.proc.pid, "VmRSS")

    def peak_mb(self) -> float:
        return proc_status(self.proc.pid, "VmHWM")

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class RedisServer:
    """A private redis-server on a free loopback port; ``stop()`` and ``start()`` keep the port."""

    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise FileNotFoundError("redis-server")
        self.executable, self.workdir, self.port = executable, workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = open(self.workdir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        wait_listening(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def redis_version() -> str:
    """``redis-server --version``'s number, or ``absent``."""
    executable = shutil.which("redis-server")
    if executable is None:
        return "absent"
    out = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"v=(\S+)", out)
    return match.group(1) if match else out.strip()


def wrk_version() -> str | None:
    """``wrk``'s version, or ``None`` when it is not installed."""
    executable = shutil.which("wrk")
    if executable is None:
        return None
    out = subprocess.run([executable, "-v"], capture_output=True, text=True)
    match = re.search(r"wrk (\S+)", out.stdout + out.stderr)
    return match.group(1) if match else "?"


# -- the app ---------------------------------------------------------------------------------

def build_app(config: dict[str, Any] | None) -> Any:
    """``GET /orders`` answers ``ok``; with a config, behind ``GuardMiddleware`` (``/health`` public)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from s2s_guard import Guard, GuardMiddleware

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/orders", ok), Route("/health", ok)])
    if config is None:
        return app
    return GuardMiddleware(app, guard=Guard.from_config(config), public_paths=["/health"])


def serve(port: int, config_path: str) -> None:
    """Run the app under uvicorn (one process, one event loop); warnings go to stderr."""
    import uvicorn

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = build_app(json.loads(Path(config_path).read_text()))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


# -- load from httpx clients in spawned processes ------------------------------------------------

@dataclass(frozen=True)
class Stream:
    """One kind of token in the mix: its name, the tokens (cycled) and its share of requests."""

    kind: str
    tokens: Sequence[str]
    weight: int = 1


@dataclass(frozen=True)
class _Job:
    port: int
    streams: list[tuple[list[str], int]]
    start_at: float
    duration: float
    concurrency: int
    limit: int | None


def _pattern(weights: Sequence[int]) -> list[int]:
    """Kind indices interleaved by weight: [2, 1] -> [0, 1, 0]."""
    pattern: list[int] = []
    for round_ in range(max(weights)):
        pattern += [i for i, weight in enumerate(weights) if round_ < weight]
    return pattern


async def _drive(job: _Job) -> list[Record]:
    import httpx

    pattern = _pattern([weight for _, weight in job.streams])
    cursors = [0] * len(job.streams)
    issued = [0]
    records: list[Record] = []
    deadline = job.start_at + job.duration
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.time() < deadline and (job.limit is None or issued[0] < job.limit):
            kind = pattern[issued[0] % len(pattern)]
            issued[0] += 1
            tokens = job.streams[kind][0]
            token = tokens[cursors[kind] % len(tokens)]
            cursors[kind] += 1
            records.append(await _one(client, kind, token, job.start_at))

    # One client (one keep-alive connection) per task: httpcore's pool gets slow with many connections.
    # Plain HTTP, but httpx builds a TLS context per client unless given one: share one.
    tls = ssl.create_default_context()
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{job.port}", limits=limits, timeout=30.0,
                                 verify=tls) for _ in range(job.concurrency)]
    await asyncio.sleep(max(0.0, job.start_at - time.time()))
    await asyncio.gather(*(client_loop(client) for client in clients))
    for client in clients:
        await client.aclose()
    return records


async def _one(client: Any, kind: int, token: str, start_at: float) -> Record:
    import httpx

    sent = time.time()
    try:
        response = await client.get("/orders", headers={"Authorization": "Bearer " + token})
        status, retry = response.status_code, "retry-after" in response.headers
    except httpx.HTTPError:
        status, retry = 0, False
    return (sent - start_at, time.time() - sent, kind, status, retry)


def _worker(job: _Job) -> list[Record]:
    return asyncio.run(_drive(job))


class PythonLoad:
    """Closed-loop load: ``processes`` x ``concurrency`` keep-alive httpx connections, from
    ``start_at`` for ``duration`` seconds (or until ``limit`` requests). Each process gets every
    ``processes``-th token of each stream, so token sets do not overlap between processes."""

    def __init__(self, port: int, streams: Sequence[Stream], *, duration: float, processes: int,
                 concurrency: int, limit: int | None = None, lead: float = 3.0) -> None:
        self.kinds = [stream.kind for stream in streams]
        self.start_at = time.time() + lead  # spawned interpreters need a moment to import httpx
        self.duration = duration
        jobs = [_Job(port, [(list(s.tokens[w::processes]) or list(s.tokens), s.weight) for s in streams],
                     self.start_at, duration, concurrency,
                     None if limit is None else limit // processes + (w < limit % processes))
                for w in range(processes)]
        self._pool = multiprocessing.get_context("spawn").Pool(processes)
        self._result = self._pool.map_async(_worker, jobs)

    def wait(self) -> list[Record]:
        """All records, once every process is done."""
        try:
            chunks = self._result.get(timeout=self.duration + 600)
        finally:
            self._pool.close()
            self._pool.join()
        return sorted((record for chunk in chunks for record in chunk), key=lambda r: r[0])


# -- load from wrk ----------------------------------------------------------------------------

_WRK_LUA = """
local token_file, done_file, nthreads, once = %(file)s, %(done)s, %(threads)d, %(once)s
local threads, counter = {}, 0
local requests, n, i, answered, finished = {}, 0, 0, 0, false
counts = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local index = 0
  for line in io.lines(token_file) do
    if index %% nthreads == tid then
      n = n + 1
      requests[n] = wrk.format("GET", "/orders", {["Authorization"] = "Bearer " .. line})
    end
    index = index + 1
  end
end

function request()
  i = i + 1
  return requests[((i - 1) %% n) + 1]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  answered = answered + 1
  if once and answered >= n and not finished then
    finished = true  -- wrk's main thread sleeps for -d: tell the driver, which sends SIGINT
    local f = io.open(done_file, "a")
    f:write("done\\n")
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, reqs)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("counts")) do
      io.write(string.format("LOAD status %%d %%d\\n", status, count))
    end
  end
  local e = summary.errors
  io.write(string.format("LOAD summary %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("LOAD latency %%d %%d\\n", latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run saw: answers by status, requests/s, socket errors, latency in ms."""

    statuses: Counter[int]
    requests: int
    seconds: float
    socket_errors: int
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(url: str, tokens: Sequence[str], *, duration: float, threads: int, connections: int,
            once: bool = False) -> WrkResult:
    """Run wrk against ``url/orders``, each thread cycling through its share of ``tokens`` (or
    sending each of them once when ``once``; ``duration`` is then an upper bound)."""
    with tempfile.TemporaryDirectory() as tmp:
        token_file, done_file, script = Path(tmp, "tokens"), Path(tmp, "done"), Path(tmp, "load.lua")
        token_file.write_text("\n".join(tokens) + "\n")
        script.write_text(_WRK_LUA % {"file": json.dumps(str(token_file)), "done": json.dumps(str(done_file)),
                                      "threads": threads, "once": "true" if once else "false"})
        wrk = subprocess.Popen(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{math.ceil(duration)}s",
                                "--timeout", "30s", "-s", str(script), url + "/orders"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if once:
            _interrupt_when_done(wrk, done_file, threads)
        out, _ = wrk.communicate(timeout=duration + 120)
    return _parse_wrk(out)


def _interrupt_when_done(wrk: subprocess.Popen[str], done_file: Path, threads: int) -> None:
    """SIGINT wrk (it then reports as usual) once every thread has sent its share of tokens."""
    while wrk.poll() is None:
        if done_file.exists() and done_file.read_text().count("done") >= threads:
            wrk.send_signal(signal.SIGINT)
            return
        time.sleep(0.05)


def _parse_wrk(text: str) -> WrkResult:
    statuses: Counter[int] = Counter()
    summary, latency = [0] * 7, [0, 0]
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["LOAD", "status"]:
            statuses[int(parts[2])] += int(parts[3])
        elif parts[:2] == ["LOAD", "summary"]:
            summary = [int(p) for p in parts[2:]]
        elif parts[:2] == ["LOAD", "latency"]:
            latency = [int(p) for p in parts[2:]]
    if not summary[0]:
        raise RuntimeError("wrk reported nothing:\n" + text[-2000:])
    return WrkResult(statuses, summary[0], summary[1] / 1e6, sum(summary[2:5]) + summary[6],
                     latency[0] / 1000, latency[1] / 1000)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the app process of benchmarks/load.py")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve")
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    serve(args.port, args.config)


if __name__ == "__main__":
    main()
