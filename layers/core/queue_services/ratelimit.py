"""Rate limiting of provider calls: the RateLimiter seam and the per-invocation pacer behind it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    """Grants permission to make one provider call; shared by every sending thread of an invocation."""

    def acquire(self, deadline: float) -> bool:
        """Block until a call may be made and return True, or return False if that would be after deadline.

        deadline is a time.monotonic() value.
        """
        ...


class IntervalPacer:
    """Spaces calls evenly at rate_per_second within one process (thread-safe).

    Each concurrent Lambda invocation gets its share of the channel rate (rate / MaximumConcurrency), so
    together they never exceed it. Slots are reserved under the lock and waited for outside it.
    """

    def __init__(
        self,
        rate_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self._interval = 1.0 / rate_per_second
        self._clock = clock
        self._sleep = sleep
        self._next_slot = float("-inf")
        self._lock = threading.Lock()

    @property
    def interval(self) -> float:
        return self._interval

    def acquire(self, deadline: float) -> bool:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            if slot > deadline:
                return False
            self._next_slot = slot + self._interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return True
