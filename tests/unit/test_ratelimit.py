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
        self.slots_asked: list[int | None] = []
        self.pauses: list[float] = []

    def claim(self, earliest: float, latest: float, max_slots: int | None = None) -> Slot | None:
        start = max(earliest, self.next_start)
        if start > latest:
            return None
        self.claims += 1
        self.slots_asked.append(max_slots)
        slots = min(max_slots or self.plan.slots_per_claim, self.plan.slots_per_claim)
        self.next_start = start + slots * self.plan.slot_seconds
        return Slot(start, self.next_start, slots * self.plan.tokens_per_slot)

    def slow_down(self, now: float, pause_seconds: float) -> None:
        self.pauses.append(pause_seconds)


def far() -> float:
    return time.monotonic() + 3600


def test_tokens_are_spread_across_their_slot_then_the_next_slot_is_claimed() -> None:
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan(tokens_per_slot=2, slots_per_second=10), clock)
    assert claimer.plan.slots_per_claim == 1
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


def test_claims_shrink_to_what_the_batch_still_needs() -> None:
    # Given a batch of 13 calls on a plan of 5 tokens per slot and 2 slots per claim
    clock = FakeClock()
    plan = SlotPlan(tokens_per_slot=5, slots_per_second=20)
    claimer = SequentialClaimer(plan, clock)
    limiter = SharedRateLimiter(claimer, demand=13, clock=clock, sleep=clock.sleep)
    # When every call acquires its token
    assert all(limiter.acquire(far()) for _ in range(13))
    # Then the first claim takes two slots (10 tokens) and the last only the one slot the 3 calls left need,
    # so at most 2 tokens go unused instead of 7
    assert claimer.slots_asked == [3, 1]


def test_a_dropped_late_token_is_still_owed_to_its_call() -> None:
    # Given a batch of 3 calls, one token per slot, and threads that wake long after their slot ended
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan(tokens_per_slot=1, slots_per_second=20), clock)
    real_sleep = clock.sleep

    def oversleep(seconds: float) -> None:
        real_sleep(seconds + 1.0)

    limiter = SharedRateLimiter(claimer, demand=3, clock=clock, sleep=oversleep)
    # When the first call takes the slot's first token (no wait) and the second sleeps past the slot's end
    limiter.acquire(far())
    limiter.acquire(far())
    # Then the second dropped its late token and its new claim still counts it among the two calls left
    assert claimer.slots_asked[:2] == [3, 2]


@pytest.mark.parametrize(("late_seconds", "claims"), [(0.040, 1), (0.060, 2)])
def test_a_token_used_more_than_a_slot_late_is_dropped(late_seconds: float, claims: int) -> None:
    # Given a plan of 50 ms slots, two per claim (10 tokens, one every 10 ms), and threads that oversleep
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan(tokens_per_slot=5, slots_per_second=20), clock)
    limiter = SharedRateLimiter(claimer, clock=clock, sleep=lambda seconds: clock.sleep(seconds + late_seconds))
    # When ten calls acquire one after the other
    assert all(limiter.acquire(far()) for _ in range(10))
    # Then up to a slot (50 ms) late a token is used and one claim serves all ten; later, tokens are
    # dropped though their 100 ms claim has not ended (a call must not land in a later token's time)
    assert claimer.claims == claims
