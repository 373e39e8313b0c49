"""SlotPlan and the per-invocation SharedRateLimiter (the DynamoDB claimer has its own integration test)."""

from __future__ import annotations

import time

import pytest

from queue_services.ratelimit import SharedRateLimiter, Slot, SlotPlan


@pytest.mark.parametrize(
    ("rate", "tokens", "slots", "per_claim"),
    [(50, 2, 25, 2), (100, 5, 20, 2), (15, 1, 15, 2), (7, 1, 7, 1), (1, 1, 1, 1), (1000, 50, 20, 2)],
)
def test_slot_plan_splits_the_rate(rate: float, tokens: int, slots: int, per_claim: int) -> None:
    plan = SlotPlan.for_rate(rate)
    assert (plan.tokens_per_slot, plan.slots_per_second, plan.slots_per_claim) == (tokens, slots, per_claim)
    assert plan.tokens_per_slot * plan.slots_per_second <= rate
    # A sliding second meets at most slots + 1 slots: 5 % over the rate at most, half the provider's 10 %.
    assert plan.tokens_per_slot * (plan.slots_per_second + 1) <= rate * 1.05 + 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


class SequentialClaimer:
    """Hands out consecutive slots, as the channel's only claimer would get them."""

    def __init__(self, plan: SlotPlan, clock: FakeClock) -> None:
        self.plan = plan
        self.clock = clock
        self.next_start = clock.now
        self.claims = 0
        self.pauses: list[float] = []

    def claim(self, earliest: float, latest: float) -> Slot | None:
        start = max(earliest, self.next_start)
        if start > latest:
            return None
        self.claims += 1
        self.next_start = start + self.plan.slot_seconds
        return Slot(start, start + self.plan.slot_seconds, self.plan.tokens_per_slot)

    def slow_down(self, now: float, pause_seconds: float) -> None:
        self.pauses.append(pause_seconds)


def far() -> float:
    return time.monotonic() + 3600


def test_tokens_are_spread_across_their_slot_then_the_next_slot_is_claimed() -> None:
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan(tokens_per_slot=2, slots_per_second=10), clock)
    limiter = SharedRateLimiter(claimer, clock=clock, sleep=clock.sleep)
    assert all(limiter.acquire(far()) for _ in range(5))
    assert claimer.claims == 3
    # Two tokens per 100 ms slot: one at the slot's start, one half-way; calls every 50 ms.
    assert clock.slept == [0.05, 0.05, 0.05, 0.05]


def test_what_is_left_of_a_slot_when_it_ends_is_dropped() -> None:
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan(tokens_per_slot=5, slots_per_second=10), clock)
    limiter = SharedRateLimiter(claimer, clock=clock, sleep=clock.sleep)
    limiter.acquire(far())
    clock.now += 0.5  # the slot ended with four tokens unused
    limiter.acquire(far())
    assert claimer.claims == 2


def test_no_slot_before_the_deadline_means_no() -> None:
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan(tokens_per_slot=1, slots_per_second=1), clock)
    limiter = SharedRateLimiter(claimer, clock=clock, sleep=clock.sleep)
    assert limiter.acquire(time.monotonic() + 0.5)
    assert not limiter.acquire(time.monotonic() + 0.5)


def test_slow_down_reaches_the_shared_claimer() -> None:
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan.for_rate(50), clock)
    SharedRateLimiter(claimer, clock=clock, sleep=clock.sleep).slow_down(2.0)
    assert claimer.pauses == [2.0]
