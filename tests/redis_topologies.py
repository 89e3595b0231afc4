"""Redis deployments on 127.0.0.1 for the tests: a three-master cluster, a master with a replica
watched by one sentinel, and a TLS-only server with an ACL user. Each runs private redis-server
processes (no persistence) in a temporary directory; each skips only when a binary is missing.

A sentinel is ``redis-server <sentinel.conf> --sentinel`` (Debian's ``redis-sentinel`` is that
binary under another name); ``redis-cli --cluster create`` comes with ``redis-tools``, which the
``redis-server`` package depends on.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import redis
from loopback import HOST, free_port

from s2s_guard.testing import LocalCA

_QUIET = ("--save", "", "--appendonly", "no", "--bind", HOST, "--loglevel", "warning")


def _binaries(*names: str) -> list[str]:
    found = [shutil.which(name) for name in names]
    missing = [name for name, path in zip(names, found) if path is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (make test / .ci/run install redis-server and "
                    "redis-tools with apt-get)")
    return [path for path in found if path is not None]


def wait_until(condition: Callable[[], bool], *, seconds: float = 15, what: str = "redis") -> None:
    """Poll ``condition`` (errors count as not yet) until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready after {seconds} s")


class Process:
    """One redis-server (or sentinel) process; ``stop()`` ends it, as a crash or shutdown would."""

    def __init__(self, args: list[str], port: int, directory: Path, password: str | None = None) -> None:
        self.port, self.args, self.directory, self.password = port, args, directory, password
        log = open(directory / f"{port}.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(args, cwd=directory, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def client(self, **options: object) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=2, password=self.password,
                           **options)  # type: ignore[arg-type]


@contextmanager
def _processes() -> Iterator[tuple[Path, list[Process]]]:
    with tempfile.TemporaryDirectory(prefix="s2s-redis-") as directory:
        started: list[Process] = []
        try:
            yield Path(directory), started
        finally:
            for process in started:
                process.stop()


class Cluster:
    """Three masters, no replicas, every slot covered; ``url`` names one of them as the seed."""

    def __init__(self, nodes: list[Process]) -> None:
        self.nodes = nodes
        self.url = f"redis://{HOST}:{nodes[0].port}"

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host=HOST, port=self.nodes[0].port, socket_timeout=2)


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    server, cli = _binaries("redis-server", "redis-cli")
    with _processes() as (directory, started):
        for _ in range(3):
            port = free_port()
            started.append(Process([server, "--port", str(port), "--cluster-enabled", "yes",
                                    "--cluster-port", str(free_port()), "--cluster-config-file",
                                    f"nodes-{port}.conf", "--cluster-node-timeout", "2000", *_QUIET],
                                   port, directory))
        for node in started:
            wait_until(lambda: bool(node.client().ping()), what="cluster node")
        subprocess.run([cli, "--cluster", "create", *(f"{HOST}:{n.port}" for n in started),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        for node in started:
            wait_until(lambda: node.client().execute_command("CLUSTER INFO")["cluster_state"] == "ok",
                       what="cluster state")
        yield Cluster(started)


class SentinelSet:
    """A master, its replica and one sentinel watching them as ``master``: ``stop_master()``, then
    ``wait_for_promotion()`` until the sentinel names the replica as the new master. With
    ``password``, the servers require it and the sentinel requires ``sentinel_password``."""

    master = "mymaster"
    sentinel_password = "sentinel-password-for-tests"

    def __init__(self, primary: Process, replica: Process, sentinel: Process, password: str | None) -> None:
        self.primary, self.replica, self.sentinel, self.password = primary, replica, sentinel, password

    @property
    def sentinels(self) -> list[str]:
        return [f"{HOST}:{self.sentinel.port}"]

    def master_port(self) -> int:
        host_port = self.sentinel.client().execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master)
        return int(host_port[1])

    def stop_master(self) -> None:
        self.primary.stop()

    def wait_for_promotion(self) -> None:
        wait_until(lambda: self.master_port() == self.replica.port, what="sentinel failover")
        wait_until(lambda: self.replica.client().info("replication")["role"] == "master", what="promotion")


@contextmanager
def running_sentinel(*, password: str | None = None) -> Iterator[SentinelSet]:
    (server,) = _binaries("redis-server")
    auth = [] if password is None else ["--requirepass", password, "--masterauth", password]
    with _processes() as (directory, started):
        primary_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
        started.append(Process([server, "--port", str(primary_port), "--repl-diskless-sync-delay", "0", *auth,
                                *_QUIET], primary_port, directory, password))
        wait_until(lambda: bool(started[0].client().ping()), what="master")
        started.append(Process([server, "--port", str(replica_port), "--replicaof", HOST, str(primary_port),
                                *auth, *_QUIET], replica_port, directory, password))
        wait_until(lambda: started[1].client().info("replication")["master_link_status"] == "up",
                   what="replica")
        conf = directory / "sentinel.conf"  # a sentinel rewrites its own configuration file
        name = SentinelSet.master
        conf.write_text(f"port {sentinel_port}\nbind {HOST}\nsentinel monitor {name} {HOST} {primary_port} 1\n"
                        f"sentinel down-after-milliseconds {name} 400\nsentinel failover-timeout {name} 2000\n"
                        + ("" if password is None else f"sentinel auth-pass {name} {password}\n"
                           f"requirepass {SentinelSet.sentinel_password}\n"))
        started.append(Process([server, str(conf), "--sentinel"], sentinel_port, directory,
                               None if password is None else SentinelSet.sentinel_password))
        topology = SentinelSet(*started, password)
        # the sentinel must know the replica (from the master's INFO) before it can promote it
        wait_until(lambda: len(topology.sentinel.client().execute_command(
            "SENTINEL", "REPLICAS", SentinelSet.master)) == 1, what="sentinel discovery")
        yield topology


class TLSServer:
    """A redis-server listening on TLS only (``--port 0``), whose default user is off and whose
    one user ``guard`` has a password; ``url`` carries both, ``ca_bundle`` trusts its certificate."""

    user, password = "guard", "redis-acl-password-for-tests"

    def __init__(self, process: Process, ca: LocalCA) -> None:
        self.process, self.ca_bundle = process, ca.ca_bundle
        self.url = f"rediss://{self.user}:{self.password}@{HOST}:{process.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, ssl_ca_certs=self.ca_bundle, socket_timeout=2)


@contextmanager
def running_tls_redis() -> Iterator[TLSServer]:
    (server,) = _binaries("redis-server")
    with ExitStack() as stack:
        ca = LocalCA()
        stack.callback(ca.remove)
        directory, started = stack.enter_context(_processes())
        chain = str(ca.directory / "server.pem")  # the loopback certificate and its key, in one PEM file
        port = free_port()
        started.append(Process([server, "--port", "0", "--tls-port", str(port), "--tls-cert-file", chain,
                                "--tls-key-file", chain, "--tls-ca-cert-file", ca.ca_bundle,
                                "--tls-auth-clients", "no", "--user", "default", "off",
                                "--user", TLSServer.user, "on", f">{TLSServer.password}", "~*", "&*", "+@all",
                                *_QUIET], port, directory))
        tls = TLSServer(started[0], ca)
        wait_until(lambda: bool(tls.client().ping()), what="TLS redis-server")
        yield tls
