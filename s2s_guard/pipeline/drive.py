"""The pipeline's I/O as data, and the two drivers that perform it (httpx's ``auth_flow`` pattern).

A decision is a :data:`Flow`: a generator that yields an :data:`IO` whenever it needs keys,
an introspection answer or the shared cache, is sent that call's result (or has its
exception thrown in, where it was asked for), and returns the principal. :func:`run` performs
each call with its blocking method, :func:`arun` awaits its async twin; nothing else about a
decision differs between ``authenticate_sync`` and ``authenticate``. The two loops are the
same few lines, as httpx's ``sync_auth_flow`` and ``async_auth_flow`` are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["IO", "Flow", "arun", "run"]

T = TypeVar("T")

#: One I/O call a flow asks for: ``(blocking method, its async twin, arguments)``. A plain tuple,
#: not a class: building one is on every cold request's path.
IO = tuple[Callable[..., Any], Callable[..., Awaitable[Any]], tuple[Any, ...]]
#: A flow yields :data:`IO` calls, is sent their results, and returns ``T``.
Flow = Generator[IO, Any, T]


async def _drive(flow: Flow[T]) -> T:
    """The async driver loop: each call awaited, its result sent in or what it
    raised thrown in where the flow asked (so the flow's own handlers see it: a span closes, a
    challenge is set; a cancellation too)."""
    try:
        call, acall, args = next(flow)
        while True:
            try:
                result = await acall(*args)
            except BaseException as exc:
                call, acall, args = flow.throw(exc)
            else:
                call, acall, args = flow.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


def run(flow: Flow[T]) -> T:
    """Drive ``flow`` to its result with blocking I/O: :func:`_drive`'s loop without a coroutine
    around it (every cold blocking request pays for that wrapper otherwise)."""
    try:
        call, _, args = next(flow)
        while True:
            try:
                result = call(*args)
            except BaseException as exc:
                call, _, args = flow.throw(exc)
            else:
                call, _, args = flow.send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


def arun(flow: Flow[T]) -> Coroutine[Any, Any, T]:
    """Drive ``flow`` to its result, awaiting each call: ``await arun(flow)``."""
    return _drive(flow)
