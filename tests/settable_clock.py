"""A clock tests move by hand: max-age, cooldowns and expiry without sleeping."""

from __future__ import annotations

import time


class Clock:
    """Pass as ``clock=`` to a guard or LocalIssuer; set or advance ``now``."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now
