"""Helpers shared by the contrib tests (a plain module: conftest files are not importable by name)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

AUD = "api://orders"
DOWN_ISSUER = "https://down.example"


def free_port() -> int:
    """A loopback port that nothing listens on (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_in_thread(serve: Callable[[], None], started: Callable[[], bool]) -> threading.Thread:
    """Start a server loop in a daemon thread and wait until it says it is up."""
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not started():
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    return thread
