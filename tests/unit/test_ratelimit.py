"""The limiter's rules: SlotPlan, the per-invocation SharedRateLimiter and the 429 pushback (no network).

The DynamoDB claimer has its own integration test.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque

import pytest

from queue_services.ratelimit import (
    LIGHT_MAX_RETRY_AFTER,
    CappedBesideOthers,
    CappedLimiter,
    ClaimLatency,
    Pause,
    ProviderPushback,
    SharedRateLimiter,
    Skip,
    Slot,
    SlotPlan,
    WorkspaceCapReached,
    pushback_for,
)


@pytest.mark.parametrize(
    ("rate", "slots", "per_claim", "skip"),
    [(50, 49, 5, 2), (100, 98, 10, 5), (20, 19, 2, 1), (7, 6, 1, 1), (1000, 980, 98, 49)],
)
def test_slot_plan_leaves_a_margin_below_the_rate(rate: float, slots: int, per_claim: int, skip: int) -> None:
    plan = SlotPlan.for_rate(rate)
    assert (plan.slots_per_period, plan.slots_per_claim, plan.skip_slots) == (slots, per_claim, skip)
    # At least 2 % of a second is left over at the provider's rate, a quarter of it for a call's lateness
    # (the rest for its way to the provider).
    assert plan.margin_seconds >= 0.02
    assert plan.lateness_seconds == pytest.approx(plan.margin_seconds / 4)


@pytest.mark.parametrize(
    ("rate", "slots", "period"),
    [(4.5, 3, 1.0), (3.5, 2, 1.0), (2, 1, 1.0), (1.5, 1, 1.1), (1, 1, 1.1), (0.5, 1, 2.04), (0.1, 1, 10.2)],
)
def test_fractional_and_low_rates_get_slots_from_their_whole_part_or_periods_over_a_second(
    rate: float, slots: int, period: float
) -> None:
    # A rate's fraction adds no slot (3 slots for 4.5 a second, as for 4); under 2 a second one slot a
    # period, the period over a second by the low-rate margin at least, and no faster than the rate.
    plan = SlotPlan.for_rate(rate)
    assert (plan.slots_per_period, plan.period_seconds) == (slots, pytest.approx(period))
    assert plan.slots_per_second <= rate
    assert plan.margin_seconds >= 0.1


def most_in_a_second(times: list[float]) -> int:
    ordered = sorted(times)
    window: deque[float] = deque()
    most = 0
    for moment in ordered:
        window.append(moment)
        while window[0] <= moment - 1.0:
            window.popleft()
        most = max(most, len(window))
    return most


@pytest.mark.parametrize("rate", [20, 50, 100, 500])
def test_calls_late_by_up_to_the_margin_never_put_more_than_the_rate_in_a_sliding_second(rate: int) -> None:
    # Given every slot of five seconds used, each call arriving up to the plan's whole margin late
    # (its own lateness plus the network's), at random and in the worst pattern (the first call of a
    # window as late as allowed, every later one on time)
    plan = SlotPlan.for_rate(rate)
    slots = [n * plan.slot_seconds for n in range(5 * plan.slots_per_period)]
    worst = plan.margin_seconds * 0.999
    generator = random.Random(rate)
    patterns = [[generator.uniform(0, worst) for _ in slots] for _ in range(20)]
    patterns += [[worst if n % plan.slots_per_period == 0 else 0.0 for n in range(len(slots))]]
    # Then no sliding second at the provider holds more than the rate
    for delays in patterns:
        assert most_in_a_second([at + delay for at, delay in zip(slots, delays, strict=True)]) <= rate
    # And without the margin (slots at the full rate) the worst pattern goes over it
    full = [n / rate for n in range(5 * rate)]
    assert most_in_a_second([at + (0.01 if n % rate == 0 else 0.0) for n, at in enumerate(full)]) > rate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 4))
        self.now += seconds


class SequentialClaimer:
    """Hands out consecutive slots, as the channel's only claimer would get them."""

    def __init__(self, plan: SlotPlan, clock: FakeClock) -> None:
        self.plan = plan
        self.clock = clock
        self.next_start = clock.now
        self.claims: list[Slot] = []
        self.slots_asked: list[int | None] = []
        self.pauses: list[float] = []

    def claim(self, earliest: float, latest: float, max_slots: int | None = None) -> Slot | None:
        start = max(earliest, self.next_start)
        if start > latest:
            return None
        self.slots_asked.append(max_slots)
        slots = max_slots or self.plan.slots_per_claim
        self.next_start = start + slots * self.plan.slot_seconds
        self.claims.append(Slot(start, self.next_start, slots))
        return self.claims[-1]

    def slow_down(self, now: float, pause_seconds: float) -> None:
        self.pauses.append(pause_seconds)

    def known_frontier(self) -> float | None:
        return self.next_start if self.claims else None


def far() -> float:
    return time.monotonic() + 3600


def limiter_for(
    rate: float, demand: int | None = None, oversleep: float = 0.0
) -> tuple[SharedRateLimiter, SequentialClaimer, FakeClock]:
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan.for_rate(rate), clock)
    limiter = SharedRateLimiter(
        claimer, demand=demand, clock=clock, sleep=lambda seconds: clock.sleep(seconds + oversleep)
    )
    return limiter, claimer, clock


def test_one_call_per_slot_evenly_spaced_then_the_next_claim() -> None:
    # Given 10/s: 9 slots a second, a claim of one slot at a time
    limiter, claimer, clock = limiter_for(10)
    assert all(limiter.acquire(far()) for _ in range(4))
    assert len(claimer.claims) == 4
    assert clock.slept == [round(1 / 9, 4)] * 3


def test_what_is_left_of_a_claim_when_it_ends_is_dropped() -> None:
    limiter, claimer, clock = limiter_for(50)  # 5 slots per claim, 20.4 ms apart
    limiter.acquire(far())
    clock.now += 0.5  # the claim ended with four slots unused
    limiter.acquire(far())
    assert len(claimer.claims) == 2


def test_no_slot_before_the_deadline_means_no() -> None:
    # (a rate of 1: one slot every 1.1 s)
    limiter, _, _ = limiter_for(1)
    assert limiter.acquire(far())
    assert not limiter.acquire(time.monotonic() + 0.5)


def test_claims_shrink_to_what_the_batch_still_needs() -> None:
    # Given a batch of 13 calls at 50/s (5 slots per claim)
    limiter, claimer, _ = limiter_for(50, demand=13)
    # When every call acquires its slot
    assert all(limiter.acquire(far()) for _ in range(13))
    # Then the last claim takes only the 3 slots the batch still needs
    assert claimer.slots_asked == [5, 5, 3]


@pytest.mark.parametrize(("late_seconds", "claims"), [(0.0045, 1), (0.0057, 2)])
def test_a_call_later_than_a_quarter_of_the_margin_is_not_made_in_its_slot(late_seconds: float, claims: int) -> None:
    # Given 50/s (5 slots per claim, lateness 5.1 ms) and a thread that oversleeps once by late_seconds
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan.for_rate(50), clock)
    late = [late_seconds]

    def sleep(seconds: float) -> None:
        clock.sleep(seconds + (late.pop() if late else 0.0))

    limiter = SharedRateLimiter(claimer, clock=clock, sleep=sleep)
    # When five calls acquire one after the other
    assert all(limiter.acquire(far()) for _ in range(5))
    # Then up to 5.1 ms late a slot is used and one claim serves all five; later, the late call's slot
    # is dropped (it takes the next one) and the fifth call needs a second claim
    assert len(claimer.claims) == claims


def test_a_dropped_slot_is_still_owed_to_its_call() -> None:
    # Given a batch of 3 calls and threads that wake long after their slot
    limiter, claimer, _ = limiter_for(50, demand=3, oversleep=1.0)
    # When the first call takes the claim's first slot (no wait) and the second oversleeps
    limiter.acquire(far())
    limiter.acquire(far())
    # Then the second's new claim still counts it among the two calls left
    assert claimer.slots_asked[:2] == [3, 2]


def test_a_call_of_three_tokens_takes_three_consecutive_slots_and_goes_at_the_last() -> None:
    # Given 100/s (98 slots a second) and a batch of 4 tokens: one claim of 4 slots
    limiter, claimer, clock = limiter_for(100, demand=4)
    start = clock.now
    # When a one-token call, then a three-token call acquire
    assert limiter.acquire(far())
    assert limiter.acquire(far(), tokens=3)
    # Then the second went at the fourth slot's time, the only claim's last slot
    assert [slot.tokens for slot in claimer.claims] == [4]
    assert clock.now == pytest.approx(start + 3 / 98)


def test_a_call_that_does_not_fit_in_what_is_left_of_a_claim_claims_enough_slots() -> None:
    limiter, claimer, _ = limiter_for(50)
    assert limiter.acquire(far())  # 4 of 5 slots left
    assert limiter.acquire(far(), tokens=6)
    assert claimer.slots_asked == [5, 6]


def test_a_call_of_more_tokens_than_a_second_holds_waits_for_a_second_of_slots() -> None:
    limiter, claimer, _ = limiter_for(5)  # 4 slots a second
    assert limiter.acquire(far(), tokens=9)
    assert claimer.slots_asked == [4]


@pytest.mark.parametrize(
    ("recent", "retry_after", "expected"),
    [
        (0, 1.0, Skip(2)),  # a provider at its limit: 2 slots (41 ms at 50/s) left unused
        (0, None, Skip(2)),  # no Retry-After, a default pause of a second or less: the same
        (1, 0.5, Skip(2)),
        (2, 1.0, Pause(1.0)),  # the third close together: stop and ramp
        (0, 1.5, Pause(1.5)),  # asked to wait longer than a second
        (0, 30.0, Pause(30.0)),
    ],
)
def test_pushback_rules(recent: int, retry_after: float | None, expected: Skip | Pause) -> None:
    assert pushback_for(recent, retry_after, LIGHT_MAX_RETRY_AFTER, SlotPlan.for_rate(50)) == expected


def test_no_retry_after_pauses_for_the_default_when_that_is_over_a_second() -> None:
    assert pushback_for(0, None, 2.0, SlotPlan.for_rate(50)) == Pause(2.0)


def test_pushback_skips_slots_for_everyone_then_pauses_on_repeats_and_forgets_old_429s() -> None:
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan.for_rate(100), clock)
    pushback = ProviderPushback(claimer, default_pause=2.0, clock=clock)
    # A 429 claims the next 5 free slots of the channel (50 ms) and never uses them
    assert pushback.react(1.0) == Skip(5)
    assert claimer.slots_asked == [5]
    clock.now += 0.1
    assert pushback.react(1.0) == Skip(5)
    clock.now += 0.1
    # The third within 25 slots' time (255 ms at 98 slots a second) pauses the whole channel
    assert claimer.plan.repeat_window_seconds == pytest.approx(25 / 98)
    assert pushback.react(1.0) == Pause(1.0)
    assert claimer.pauses == [1.0]
    # Once that time has passed, those are forgotten
    clock.now += 0.26
    assert pushback.react(1.0) == Skip(5)
    clock.now += 0.2
    assert pushback.react(1.0) == Skip(5)


def test_the_limiter_hands_429s_to_the_pushback() -> None:
    limiter, claimer, _ = limiter_for(50)
    limiter.slow_down(5.0)
    limiter.slow_down(None)
    assert claimer.pauses == [5.0]
    assert claimer.slots_asked == [2]


def test_a_slot_after_the_deadline_is_not_taken_and_stays_for_the_next_call() -> None:
    limiter, claimer, clock = limiter_for(50)  # 5 slots per claim, 20.4 ms apart
    assert limiter.acquire(far())
    # The next slot is 20.4 ms away: a call that may wait only 10 ms does not get it
    assert not limiter.acquire(time.monotonic() + 0.010)
    assert limiter.acquire(far())
    assert len(claimer.claims) == 1
    assert clock.slept == [pytest.approx(1 / 49, abs=1e-4)]


class Grants:
    """A limiter that says yes or no as told, recording the deadlines it was given."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.deadlines: list[float] = []
        self.pauses: list[float | None] = []

    def acquire(self, deadline: float, tokens: int = 1) -> bool:
        self.deadlines.append(deadline - time.monotonic())
        return self.answer

    def slow_down(self, retry_after: float | None) -> None:
        self.pauses.append(retry_after)


@pytest.mark.parametrize(("workspace_ok", "channel_ok"), [(False, True), (True, False)])
def test_a_capped_call_needs_its_workspace_slot_and_a_channel_slot_right_after(
    workspace_ok: bool, channel_ok: bool
) -> None:
    workspace, channel = Grants(workspace_ok), Grants(channel_ok)
    capped = CappedLimiter(workspace, channel, wait_seconds=0.2, slack_seconds=0.111)
    with pytest.raises(WorkspaceCapReached):
        capped.acquire(far())
    # The workspace slot is waited for at most 0.2 s, the channel's at most one workspace slot (111 ms)
    assert workspace.deadlines[0] == pytest.approx(0.2, abs=0.05)
    if workspace_ok:
        assert channel.deadlines[0] == pytest.approx(0.111, abs=0.05)
    else:
        assert channel.deadlines == []


def test_a_capped_call_with_both_slots_goes_and_429s_reach_the_channel() -> None:
    workspace, channel = Grants(True), Grants(True)
    capped = CappedLimiter(workspace, channel, wait_seconds=0.2, slack_seconds=0.1)
    assert capped.acquire(far())
    capped.slow_down(1.0)
    assert (channel.pauses, workspace.pauses) == ([1.0], [])


def test_each_capped_call_takes_a_channel_handle_of_its_own_tokens_and_429s_reach_the_batch_one() -> None:
    # A capped call that took a run of the batch handle's slots would leave the rest to go stale: the next
    # capped call comes a workspace slot later. So each asks for a handle sized for exactly its own tokens.
    workspace, batch_channel = Grants(True), Grants(True)
    made: list[tuple[int, Grants]] = []

    def channel_for_call(tokens: int) -> Grants:
        made.append((tokens, Grants(True)))
        return made[-1][1]

    capped = CappedLimiter(workspace, batch_channel, 0.2, 0.1, channel_for_call=channel_for_call)
    assert capped.acquire(far(), tokens=2)
    assert capped.acquire(far())
    assert [tokens for tokens, _ in made] == [2, 1]
    assert all(len(handle.deadlines) == 1 for _, handle in made)
    assert batch_channel.deadlines == []
    capped.slow_down(1.0)
    assert batch_channel.pauses == [1.0]


def test_a_slot_given_back_goes_to_the_next_call_while_it_is_fresh_then_is_dropped() -> None:
    limiter, claimer, clock = limiter_for(50)
    at = limiter.reserve(far())
    assert at == clock.now
    limiter.release(at)
    # The next call takes it again, with no claim of its own
    assert limiter.next_time() == at
    assert limiter.reserve(far()) == at
    assert len(claimer.claims) == 1
    limiter.release(at)
    # Once later than a call may be for it, it is dropped, not handed out
    clock.now = at + claimer.plan.lateness_seconds + 0.001
    later = limiter.reserve(far())
    assert later is not None
    assert later > at
    assert limiter.dropped >= 1


def test_a_call_given_up_or_given_back_no_longer_counts_in_the_batch_demand() -> None:
    # Given a batch of 7 tokens, 5 slots a claim: the first claim takes 5
    limiter, claimer, _ = limiter_for(50, demand=7)
    for _ in range(5):
        assert limiter.acquire(far())
    # When one call is given up before taking a slot
    limiter.forgo()
    # Then the last claim is sized for the one call left, not two
    assert limiter.acquire(far())
    assert claimer.slots_asked == [5, 1]


def test_next_time_is_the_handle_next_fresh_slot_without_claiming() -> None:
    limiter, claimer, _ = limiter_for(50)
    assert limiter.next_time() is None
    first = limiter.reserve(far())
    assert first is not None
    assert limiter.next_time() == pytest.approx(first + claimer.plan.slot_seconds)
    assert len(claimer.claims) == 1


class GridClaimer(SequentialClaimer):
    """Hands out the slot that holds `earliest` (it may start up to a slot before it), as the table does."""

    def claim(self, earliest: float, latest: float, max_slots: int | None = None) -> Slot | None:
        step = self.plan.slot_seconds
        return super().claim(math.floor(earliest / step + 1e-9) * step, latest, max_slots)


class BesideOthers:
    """A capped workspace's CappedBesideOthers on a 50/s batch handle, with both claimers to look at."""

    def __init__(self, cap: float) -> None:
        self.channel, self.channel_claimer, self.clock = limiter_for(50)
        self.workspace = GridClaimer(SlotPlan.for_rate(cap), self.clock)
        self.capped = CappedBesideOthers(self.workspace, self.channel)


@pytest.mark.parametrize("offset", [0.0, 0.03, 0.07, 0.1])
def test_beside_others_the_workspace_slot_is_within_follow_seconds_of_the_channel_slot_on_the_grid(
    offset: float,
) -> None:
    # Given a workspace (cap 10: slots 111 ms apart) whose claims round down to the slot holding `earliest`
    setup = BesideOthers(10)
    setup.clock.now += 0.5 + offset
    setup.workspace.next_start = 0.0
    # When a capped call gets a channel slot and a workspace slot for it
    if not _acquired(setup.capped):
        return  # no workspace slot in the window: handed back, nothing sent
    # Then the call is made at most follow_seconds after its workspace slot, never a whole slot after it
    own = setup.workspace.claims[-1]
    assert own.start <= setup.clock.now <= own.start + setup.workspace.plan.follow_seconds + 1e-9


def _acquired(capped: CappedBesideOthers) -> bool:
    try:
        return capped.acquire(far())
    except WorkspaceCapReached:
        return False


def test_beside_others_a_capped_call_takes_the_channel_slot_then_a_workspace_slot_just_before_it() -> None:
    setup = BesideOthers(10)
    capped, workspace, clock = setup.capped, setup.workspace, setup.clock
    clock.now += 0.5  # the channel's slots free from here; the workspace's from 1000.0
    assert capped.acquire(far())
    own = workspace.claims[0]
    # The call is made at its channel slot, at most half the workspace plan's margin after its workspace slot
    assert own.start <= clock.now <= own.start + workspace.plan.follow_seconds + 1e-9
    assert workspace.plan.follow_seconds == pytest.approx((10 / 9 - 1) / 2)


def test_beside_others_a_channel_slot_that_finds_no_workspace_slot_goes_back_to_the_batch() -> None:
    setup = BesideOthers(10)
    capped, channel, workspace, clock = setup.capped, setup.channel, setup.workspace, setup.clock
    workspace.next_start = clock.now + 5.0  # the workspace's slots are taken for five seconds
    with pytest.raises(WorkspaceCapReached):
        capped.acquire(far())
    # The batch's next (uncapped) call gets the slot the capped one gave back
    assert channel.reserve(far()) == clock.now
    assert channel.dropped == 0


def test_beside_others_no_slot_is_taken_when_the_workspace_is_known_to_be_full_past_the_channel() -> None:
    setup = BesideOthers(10)
    capped, channel, workspace, clock = setup.capped, setup.channel, setup.workspace, setup.clock
    assert channel.reserve(far()) is not None  # the channel's next slot is 20 ms away
    workspace.claims.append(Slot(clock.now, clock.now + 5.0, 45))
    workspace.next_start = clock.now + 5.0
    with pytest.raises(WorkspaceCapReached):
        capped.acquire(far())
    assert len(workspace.claims) == 1
    assert channel.next_time() == pytest.approx(clock.now + SlotPlan.for_rate(50).slot_seconds)


def test_beside_others_the_cap_holds_and_every_channel_slot_is_used() -> None:
    # Given a batch handle shared by capped calls (cap 10) and uncapped ones, taking turns for 20 s
    setup = BesideOthers(10)
    capped, channel, clock = setup.capped, setup.channel, setup.clock
    capped_times: list[float] = []
    uncapped = 0
    while clock.now < 1020.0:
        try:
            if capped.acquire(far()):
                capped_times.append(clock.now)
        except WorkspaceCapReached:
            pass
        assert channel.acquire(far())
        uncapped += 1
    # Then the capped workspace never had more than its cap in any second, and got close to it
    assert most_in_a_second(capped_times) <= 10
    assert len(capped_times) / 20 >= 8.5
    # And no channel slot went unused: every slot claimed was a call
    claimed = sum(slot.tokens for slot in setup.channel_claimer.claims)
    assert claimed - (len(capped_times) + uncapped) <= setup.channel_claimer.plan.slots_per_claim
    assert channel.dropped == 0


def test_a_broadcast_handle_claims_no_slot_beyond_its_horizon_and_waits_for_it() -> None:
    # Given single sends holding the channel's next second
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan.for_rate(50), clock)
    claimer.next_start = clock.now + 1.0
    bulk = SharedRateLimiter(claimer, clock=clock, sleep=clock.sleep, horizon=0.25)
    # When a broadcast's call asks for a slot
    assert bulk.acquire(far())
    # Then it claimed only once the first free slot was within 0.25 s, and was made at that slot
    assert len(claimer.claims) == 1
    assert claimer.claims[0].start == pytest.approx(1001.0)
    assert clock.now == pytest.approx(1001.0)
    waited_before_claiming = sum(clock.slept[:-1])
    assert 0.75 - 0.05 <= waited_before_claiming <= 0.75 + 0.05
    assert clock.slept[-1] <= 0.25 + 1e-9


@pytest.mark.parametrize(("demand", "sent_first", "horizon"), [(10, 0, 0.12), (12, 5, 0.12), (10, 5, 0.25)])
def test_a_broadcast_batch_claims_only_a_little_ahead_while_more_than_half_of_it_is_left(
    demand: int, sent_first: int, horizon: float
) -> None:
    # Given a broadcast's batch, sent_first of its messages sent (one claim of 5 slots, all used)
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan.for_rate(50), clock)
    bulk = SharedRateLimiter(claimer, demand=demand, clock=clock, sleep=clock.sleep, horizon=0.25, behind_horizon=0.12)
    for _ in range(sent_first):
        assert bulk.acquire(far())
    assert bulk.next_time() is None
    # And another batch holding the channel's next 10 slots (0.2 s)
    claimer.claim(clock.now, clock.now + 1.0, 10)
    taken_until, asked_at = claimer.next_start, clock.now
    clock.slept.clear()
    # When it asks for its next slot
    assert bulk.acquire(far())
    # Then with more than half of it left it waited until the first free slot was within 0.12 s (a batch
    # nearer its end, claiming up to 0.25 s ahead, gets those slots first); with half or less left, within
    # 0.25 s: at once here. Either way the call is made at that first free slot.
    waited_before_claiming = sum(clock.slept[:-1])
    expected = max(0.0, taken_until - horizon - asked_at)
    assert expected - 1e-9 <= waited_before_claiming <= expected + claimer.plan.slot_seconds
    assert clock.now == pytest.approx(taken_until)


def test_a_single_send_handle_claims_as_far_ahead_as_it_must() -> None:
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan.for_rate(50), clock)
    claimer.next_start = clock.now + 1.0
    single = SharedRateLimiter(claimer, clock=clock, sleep=clock.sleep)
    assert single.acquire(far())
    # One claim at once, then one wait until the slot
    assert clock.slept == [pytest.approx(1.0)]


def test_a_broadcast_handle_defers_when_its_horizon_never_comes_before_the_deadline() -> None:
    clock = FakeClock()
    claimer = SequentialClaimer(SlotPlan.for_rate(50), clock)
    claimer.next_start = clock.now + 5.0
    bulk = SharedRateLimiter(claimer, clock=clock, sleep=clock.sleep, horizon=0.25)
    assert bulk.reserve(time.monotonic() + 1.0) is None
    assert claimer.claims == []


class SlowClaimer(SequentialClaimer):
    """A claimer whose every write takes `write_seconds` (the clock moves on while it claims)."""

    def __init__(self, plan: SlotPlan, clock: FakeClock, write_seconds: float) -> None:
        super().__init__(plan, clock)
        self.write_seconds = write_seconds
        self.earliest_asked: list[float] = []

    def claim(self, earliest: float, latest: float, max_slots: int | None = None) -> Slot | None:
        self.earliest_asked.append(round(earliest - self.clock.now, 4))
        slot = super().claim(earliest, latest, max_slots)
        self.clock.now += self.write_seconds
        return slot


def test_claims_ask_for_slots_from_when_the_write_will_have_returned() -> None:
    # Given an idle channel at 50/s whose claims take 30 ms to write, and one environment's memory of it
    clock = FakeClock()
    claimer = SlowClaimer(SlotPlan.for_rate(50), clock, write_seconds=0.03)
    latency = ClaimLatency()
    first = SharedRateLimiter(claimer, demand=5, clock=clock, sleep=clock.sleep, latency=latency)
    # When a first batch claims from now: its first two slots (0 and 20.4 ms) are past their 5.1 ms when
    # the write returns at 30 ms
    assert all(first.acquire(far()) for _ in range(3))
    assert claimer.earliest_asked == [0.0]
    assert first.dropped == 2
    # Then the next batch, after an idle moment, asks for slots from 30 ms on and loses none
    clock.now += 1.0
    claimer.next_start = clock.now
    second = SharedRateLimiter(claimer, demand=5, clock=clock, sleep=clock.sleep, latency=latency)
    assert all(second.acquire(far()) for _ in range(5))
    assert claimer.earliest_asked[-1] == 0.03
    assert second.dropped == 0


def test_a_broadcast_batch_whose_claims_are_slow_still_gets_slots_while_more_than_half_is_left() -> None:
    # Given an idle channel whose claims take 150 ms, past the 0.12 s a batch with most of it left claims
    clock = FakeClock()
    claimer = SlowClaimer(SlotPlan.for_rate(50), clock, write_seconds=0.15)
    latency = ClaimLatency(most=0.2)
    latency.record(0.15)
    bulk = SharedRateLimiter(
        claimer, demand=10, clock=clock, sleep=clock.sleep, horizon=0.25, latency=latency, behind_horizon=0.12
    )
    # When its first call asks for a slot within a second
    asked_at = clock.now
    assert bulk.acquire(time.monotonic() + 1.0)
    # Then its claim asked from 150 ms on (up to a slot later) and got that slot, used in time
    assert claimer.earliest_asked == [0.15]
    assert clock.now == pytest.approx(asked_at + 0.15)
    assert bulk.dropped == 0


def test_claim_latency_is_the_slowest_recent_claim_within_bounds() -> None:
    latency = ClaimLatency(kept=3, most=0.1)
    assert latency.lead() == 0.0
    for seconds in (0.02, 0.05, 0.01):
        latency.record(seconds)
    assert latency.lead() == 0.05
    latency.record(0.01)  # 0.02 falls out; 0.05 is still among the last three
    assert latency.lead() == 0.05
    latency.record(0.01)
    assert latency.lead() == 0.01
    latency.record(0.4)  # a stall is not waited out whole
    assert latency.lead() == 0.1


@pytest.mark.parametrize("cap", [0.1, 0.5, 1, 1.5, 2, 3.5, 4.5, 5, 10, 25, 49, 49.9])
def test_capped_calls_following_their_slots_within_bounds_never_put_more_than_the_cap_in_a_second(cap: float) -> None:
    # Given every workspace slot of ten periods used, each call made up to follow_seconds after its slot
    # and then up to the other half of the margin later still (lateness and the trip), at random and in
    # the worst pattern (a window's first call as late as allowed, every later one on time)
    plan = SlotPlan.for_rate(cap)
    slots = [n * plan.slot_seconds for n in range(10 * plan.slots_per_period)]
    worst = (plan.follow_seconds + plan.margin_seconds / 2) * 0.999
    generator = random.Random(cap)
    patterns = [[generator.uniform(0, worst) for _ in slots] for _ in range(20)]
    patterns += [[worst if n % plan.slots_per_period == 0 else 0.0 for n in range(len(slots))]]
    # Then no sliding second holds more than the cap (one call, under 2 a second), nor do the calls average
    # more than the cap
    for delays in patterns:
        assert most_in_a_second([at + delay for at, delay in zip(slots, delays, strict=True)]) <= max(1, cap)
    assert len(slots) / (len(slots) * plan.slot_seconds) <= cap


def test_a_slot_over_a_second_long_is_asked_for_where_a_call_can_still_use_it() -> None:
    # Given a workspace capped at 0.5 a second (a slot every 2.04 s on the table's grid), 1.5 s into a slot
    clock = FakeClock()
    plan = SlotPlan.for_rate(0.5)
    clock.now = 490 * plan.slot_seconds + 1.5
    claimer = GridClaimer(plan, clock)
    claimer.next_start = 0.0  # nothing claimed yet
    limiter = SharedRateLimiter(claimer, demand=1, clock=clock, sleep=clock.sleep)
    # When a call reserves its slot
    at = limiter.reserve(far())
    # Then it gets the next slot, in one claim, none dropped: the slot holding now began 1.5 s ago, far
    # more than the 0.26 s a call may be late
    assert at == pytest.approx(491 * plan.slot_seconds)
    assert (len(claimer.claims), limiter.dropped) == (1, 0)
