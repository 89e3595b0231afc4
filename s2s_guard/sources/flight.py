"""Single flight: concurrent callers asking for the same key share one call (sync and async).

Two hundred requests carrying the same cold token cause one introspection request; N requests
with the same unknown ``kid`` cause one JWKS fetch. Results should be values, not exceptions:
an exception object raised in many tasks at once would share one traceback.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

__all__ = ["AsyncFlights", "SyncFlights"]

T = TypeVar("T")


class _Call(Generic[T]):
    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class SyncFlights(Generic[T]):
    """Thread-safe single flight: the first caller runs ``fn``, the others wait for its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call[T]] = {}

    def busy(self, key: str) -> bool:
        """Whether a call for ``key`` is in flight."""
        return key in self._calls

    def run(self, key: str, fn: Callable[[], T]) -> T:
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
        if leader:
            self._lead(key, call, fn)
        else:
            call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    def start(self, key: str, fn: Callable[[], T]) -> bool:
        """Run ``fn`` in a daemon thread unless a call for ``key`` is in flight; callers may join it.

        The call is registered before this returns, so a caller arriving next waits for it.
        """
        with self._lock:
            if key in self._calls:
                return False
            call = self._calls[key] = _Call()
        threading.Thread(target=self._lead, args=(key, call, fn), daemon=True,
                         name=f"s2s_guard-{key}").start()
        return True

    def _lead(self, key: str, call: _Call[T], fn: Callable[[], T]) -> None:
        try:
            call.result = fn()
        except BaseException as exc:  # handed to every caller of run(); a background call keeps it
            call.error = exc
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved here so an unawaited failure is not reported as lost


class AsyncFlights(Generic[T]):
    """Single flight on an event loop: the call runs as a task that every caller awaits shielded,
    so one cancelled request does not cancel the work the others wait for."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[T]] = {}

    def busy(self, key: str) -> bool:
        """Whether a call for ``key`` is in flight."""
        return key in self._tasks

    async def run(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        return await asyncio.shield(self.start(key, fn))

    def start(self, key: str, fn: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        """The task for ``key`` on this loop, created now (in the background) unless one is in flight."""
        loop = asyncio.get_running_loop()
        task = self._tasks.get(key)
        if task is None or task.get_loop() is not loop:
            task = loop.create_task(self._tracked(key, fn))
            task.add_done_callback(_consume)
            self._tasks[key] = task
        return task

    async def _tracked(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
