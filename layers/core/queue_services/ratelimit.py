"""Rate limiting of provider calls: one limit per channel, shared by every invocation (adapters.rate_limit_table)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class RateLimiter(Protocol):
    """Grants permission to make one provider call; shared by every sending thread of an invocation."""

    def acquire(self, deadline: float) -> bool:
        """Block until a call may be made and return True, or return False if that would be after deadline.

        deadline is a time.monotonic() value.
        """
        ...

    def slow_down(self, pause_seconds: float) -> None:
        """The provider said 429: every sender of the channel pauses, then recovers gradually."""
        ...


@dataclass(frozen=True)
class SlotPlan:
    """How a channel's rate is cut into time slots: tokens_per_slot calls in each of slots_per_second slots.

    Calls are made only inside their slot, so any sliding 1 s window meets at most slots_per_second + 1
    slots: rate + tokens_per_slot calls.
    """

    tokens_per_slot: int
    slots_per_second: int

    @classmethod
    def for_rate(cls, rate_per_second: float) -> SlotPlan:
        # About 20 slots a second: a sliding second then holds at most rate + rate/20 calls, leaving half
        # of the provider's 10 % tolerance for network and scheduling jitter; chunks stay >= 2 calls at 50/s.
        tokens = max(1, round(rate_per_second / 20))
        return cls(tokens_per_slot=tokens, slots_per_second=max(1, int(rate_per_second // tokens)))

    @property
    def slot_seconds(self) -> float:
        return 1.0 / self.slots_per_second

    @property
    def slots_per_claim(self) -> int:
        """Consecutive slots one write claims (about 100 ms worth): fewer writes, the same bound."""
        return max(1, round(self.slots_per_second / 10))


@dataclass(frozen=True)
class Slot:
    """One or more consecutive slots claimed together: `tokens` calls spread over [start, end)."""

    start: float  # epoch seconds
    end: float
    tokens: int


class SlotClaimer(Protocol):
    """Hands out the channel's time slots, each to exactly one claimer, across every concurrent invocation."""

    plan: SlotPlan

    def claim(self, earliest: float, latest: float, max_slots: int | None = None) -> Slot | None:
        """The first free slots at or after earliest (at most max_slots, or plan.slots_per_claim), or None
        if none starts by latest."""
        ...

    def slow_down(self, now: float, pause_seconds: float) -> None: ...


class SharedRateLimiter:
    """One invocation's view of the channel limiter: claims a slot, hands its tokens to the sending threads.

    A slot's tokens are spread evenly across it, each with its own time; a token more than a slot past its
    time is dropped, never carried. demand, the number of calls the batch may make, keeps the last claims small:
    a slot claimed and not used is lost to every worker of the channel, and five batches ending together
    would otherwise leave up to a claim's worth of slots each unused.
    """

    def __init__(
        self,
        claimer: SlotClaimer,
        demand: int | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._claimer = claimer
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slot: Slot | None = None
        self._tokens = 0
        self._demand = demand
        self._granted = 0

    def _slots_wanted(self) -> int | None:
        if self._demand is None:
            return None
        still_needed = max(1, self._demand - self._granted)
        return math.ceil(still_needed / self._claimer.plan.tokens_per_slot)

    def acquire(self, deadline: float) -> bool:
        wall_deadline = self._clock() + (deadline - time.monotonic())
        # A call made well after its token's time (a busy process, a claim answered late) would land in
        # later tokens' time and push a sliding second over the limit. Up to one slot late is tolerated
        # (a sliding second then holds at most rate/20 more calls); a token later than that is dropped.
        tolerance = self._claimer.plan.slot_seconds
        while True:
            with self._lock:
                now = self._clock()
                if self._slot is None or self._tokens == 0:
                    slot = self._claimer.claim(now, wall_deadline, self._slots_wanted())
                    if slot is None:
                        return False
                    self._slot, self._tokens = slot, slot.tokens
                slot = self._slot
                # Spread the slot's tokens evenly across it: calls then arrive as a steady stream, not a
                # burst at each slot start that network jitter could push into the next window.
                used = slot.tokens - self._tokens
                self._tokens -= 1
                start = slot.start + (slot.end - slot.start) * used / slot.tokens
                if now > start + tolerance:
                    continue
                self._granted += 1
            if start > now:
                self._sleep(start - now)
            if self._clock() <= start + tolerance:
                return True
            with self._lock:
                self._granted -= 1

    def slow_down(self, pause_seconds: float) -> None:
        self._claimer.slow_down(self._clock(), pause_seconds)
