"""Rate limiting of provider calls: one limit per channel, shared by every invocation (adapters.rate_limit_table).

The rules, in numbers (README "Rate limiting"):
- A channel of rate r gets N = floor(r / (1 + MARGIN)) slots a second, one call each, evenly spaced:
  49 a second at 50/s, 98 at 100/s, 19 at 20/s. The time left over, r / N - 1 of a second (20 ms at 50/s
  and at 100/s), is the margin for calls that land late.
- A call is made only within a quarter of that margin after its slot's time (5.1 ms at 50/s), else the
  slot is dropped and the call takes a later one. The other three quarters (15.3 ms) are for the way to
  the provider: measured on the local stack, a call's trip to the sink varied by up to 24 ms (p99.9 8 to
  20 ms) with both cores busy, and a half (10 ms) let a 51st call into a second (bench/RESULTS.md).
  Any sliding second at the provider holds at most r calls while lateness and trip together vary by
  less than the margin.
- A provider 429 asking to wait at most a second, from a provider merely at its limit, skips the
  channel's next slots for SKIP_SECONDS (50 ms: 2 slots at 50/s, 5 at 100/s). A Retry-After over a
  second, or REPEAT_COUNT 429s in one environment within REPEAT_WINDOW_SLOTS slots' time (0.5 s at 50/s,
  0.25 s at 100/s: a provider refusing every call, not a few unlucky ones), pauses the channel for
  Retry-After and ramps it back up (adapters.rate_limit_table.RECOVERY_STEPS).
- A broadcast's batch (bulk queue) claims at most BULK_HORIZON_SECONDS ahead (0.25 s), single sends as
  far as they need: single sends go first. While more than half of it is left, a broadcast's batch claims
  at most BULK_BEHIND_HORIZON_SECONDS ahead (0.12 s): of two, the one nearer its end goes first.
- A claim asks for slots no sooner than the time this environment's recent claims took (the slowest of
  the last CLAIM_LATENCY_KEPT, at most MAX_CLAIM_LEAD_SECONDS): a claim written at an idle moment, from
  now, got slots whose first ones were already too late when the write returned (a DynamoDB write takes
  longer than the 5.1 ms of lateness allowed; on the loaded local stack 10 to 75 ms, and 2 to 3 of every
  5 slots of a batch's first claims were dropped).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from queue_services.observability import logger

MARGIN = 0.02
# Under 2 calls a second, a slot's spacing exceeds a second by at least this: room for lateness and the trip.
LOW_RATE_MARGIN_SECONDS = 0.1
# Broadcasts' messages claim slots at most this far ahead (single sends claim as far as they need): a single
# send then waits at most this long behind a broadcast's backlog, which still gets every slot they leave.
BULK_HORIZON_SECONDS = 0.25
# A broadcast's batch with more than half of it left claims only this far ahead, so that of two broadcast
# batches the one nearer its end goes first: they then finish apart, and one sends while the other is
# between batches (sharing evenly kept them in step, both between batches at once). Alone, such a batch
# still gets every slot: its horizon stays a slot past its claims' lead (SharedRateLimiter._current_horizon).
BULK_BEHIND_HORIZON_SECONDS = 0.12
SKIP_SECONDS = 0.05
LIGHT_MAX_RETRY_AFTER = 1.0
REPEAT_COUNT = 3
REPEAT_WINDOW_SLOTS = 25
CLAIM_LATENCY_KEPT = 8
MAX_CLAIM_LEAD_SECONDS = 0.1


class RateLimiter(Protocol):
    """Grants permission to make one provider call; shared by every sending thread of an invocation."""

    def acquire(self, deadline: float, tokens: int = 1) -> bool:
        """Block until a call worth tokens slots may be made and return True, or return False if that
        would be after deadline (a time.monotonic() value)."""
        ...

    def slow_down(self, retry_after: float | None) -> None:
        """The provider said 429 (retry_after: its Retry-After in seconds, if it gave one)."""
        ...


@dataclass(frozen=True)
class SlotPlan:
    """How a rate is cut into time slots: slots_per_period slots of one call each, evenly spaced over each
    period of period_seconds (a second, or longer for a rate under 2 a second).

    From 2 a second up, the slots of a second number floor(whole / (1 + MARGIN)), whole being the rate's
    whole part: a sliding second can hold one call more than a second's slots, so that bound stays at or
    under the rate, fractional rates included (3 slots, at most 4 calls, for a rate of 4.5; 2 and at most 3
    for 3.5). Under 2 a second, a sliding second may hold one call at most: one slot a period, the period
    at least LOW_RATE_MARGIN_SECONDS over a second (two calls never land within a second of each other)
    and long enough that calls average at most the rate (2.04 s for 0.5 a second).
    """

    rate_per_second: float
    slots_per_period: int
    period_seconds: float = 1.0

    @classmethod
    def for_rate(cls, rate_per_second: float) -> SlotPlan:
        whole = math.floor(rate_per_second + 1e-9)
        if whole >= 2:
            slots = max(1, math.floor(whole / (1 + MARGIN) + 1e-9))
            return cls(rate_per_second=rate_per_second, slots_per_period=slots)
        period = max(1 + LOW_RATE_MARGIN_SECONDS, (1 + MARGIN) / rate_per_second)
        return cls(rate_per_second=rate_per_second, slots_per_period=1, period_seconds=period)

    @property
    def slot_seconds(self) -> float:
        return self.period_seconds / self.slots_per_period

    @property
    def slots_per_second(self) -> float:
        """The plan's pace, in slots a second (under 1 for a period over a second)."""
        return self.slots_per_period / self.period_seconds

    @property
    def margin_seconds(self) -> float:
        """The room for late calls: what a second of slots leaves of a second at the rate's whole part, or,
        for a period over a second, what a slot's spacing has over a second."""
        if self.period_seconds > 1.0:
            return self.slot_seconds - 1.0
        whole = math.floor(self.rate_per_second + 1e-9)
        return max(0.0, whole / self.slots_per_period - 1.0)

    @property
    def lateness_seconds(self) -> float:
        """How late after its slot's time a call may still be made: a quarter of the margin (at least 1 ms)."""
        return max(0.001, self.margin_seconds / 4)

    @property
    def follow_seconds(self) -> float:
        """For a capped workspace's plan: how long after one of its slots the call may still be made (the
        channel slot it waits for). Half the margin (55 ms for a cap of 10), the other half for the
        channel's lateness and the trip, so a sliding second holds at most the cap."""
        return max(0.001, min(self.slot_seconds, self.margin_seconds / 2))

    @property
    def slots_per_claim(self) -> int:
        """Consecutive slots one write claims (about 100 ms worth): fewer writes, the same bound."""
        return max(1, round(self.slots_per_second / 10))

    @property
    def repeat_window_seconds(self) -> float:
        """How close together REPEAT_COUNT 429s must come to count as repeated."""
        return REPEAT_WINDOW_SLOTS * self.slot_seconds

    @property
    def skip_slots(self) -> int:
        """Slots a light 429 takes out of the channel's schedule (SKIP_SECONDS worth, at least one)."""
        return max(1, round(SKIP_SECONDS * self.slots_per_second))


@dataclass(frozen=True)
class Slot:
    """One or more consecutive slots claimed together: `tokens` calls spread evenly over [start, end)."""

    start: float  # epoch seconds
    end: float
    tokens: int

    def time_of(self, token: int) -> float:
        return self.start + (self.end - self.start) * token / self.tokens


class SlotClaimer(Protocol):
    """Hands out the channel's time slots, each to exactly one claimer, across every concurrent invocation."""

    plan: SlotPlan

    def claim(self, earliest: float, latest: float, max_slots: int | None = None) -> Slot | None:
        """The first free slots from the one that holds earliest (it may start up to a slot before it), or
        None if none starts by latest: max_slots of them (plan.slots_per_claim if None), fewer where a
        period (a second) ends or a cap stops them."""
        ...

    def slow_down(self, now: float, pause_seconds: float) -> None:
        """No slots for pause_seconds, then a gradual return to the full rate, for every claimer."""
        ...

    def known_frontier(self) -> float | None:
        """The time of the first slot not known (to this process) to be taken, if it has seen any."""
        ...


@dataclass(frozen=True)
class Skip:
    """A light answer to a 429: the channel's next `slots` free slots go unused."""

    slots: int


@dataclass(frozen=True)
class Pause:
    """A strong answer to a 429: the channel stops for `seconds`, then ramps back up."""

    seconds: float


def pushback_for(recent_429s: int, retry_after: float | None, default_pause: float, plan: SlotPlan) -> Skip | Pause:
    """What one 429 does to the channel, given how many this environment saw within the plan's repeat
    window before it (pure: README "Rate limiting" states the same rules)."""
    wait = default_pause if retry_after is None else retry_after
    if wait > LIGHT_MAX_RETRY_AFTER or recent_429s + 1 >= REPEAT_COUNT:
        return Pause(wait)
    return Skip(plan.skip_slots)


class ProviderPushback:
    """One execution environment's memory of the provider's recent 429s, and the reaction to a new one."""

    def __init__(self, claimer: SlotClaimer, default_pause: float, clock: Callable[[], float] = time.time) -> None:
        self._claimer = claimer
        self._default_pause = default_pause
        self._clock = clock
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def react(self, retry_after: float | None) -> Skip | Pause:
        with self._lock:
            now = self._clock()
            while self._recent and self._recent[0] <= now - self._claimer.plan.repeat_window_seconds:
                self._recent.popleft()
            reaction = pushback_for(len(self._recent), retry_after, self._default_pause, self._claimer.plan)
            self._recent.append(now)
        if isinstance(reaction, Pause):
            logger.warning("provider 429: channel paused", extra={"pause_seconds": reaction.seconds})
            self._claimer.slow_down(now, reaction.seconds)
        else:
            logger.info("provider 429: slots skipped", extra={"slots": reaction.slots, "retry_after": retry_after})
            # Claimed and never used: the gap lets a provider at its limit see its window empty a little.
            self._claimer.claim(now, now + 1.0, reaction.slots)
        return reaction


class ClaimLatency:
    """How long one execution environment's recent slot claims took (its memory outlives each batch)."""

    def __init__(self, kept: int = CLAIM_LATENCY_KEPT, most: float = MAX_CLAIM_LEAD_SECONDS) -> None:
        self._recent: deque[float] = deque(maxlen=kept)
        self._most = most
        self._lock = threading.Lock()

    def record(self, seconds: float) -> None:
        with self._lock:
            self._recent.append(max(0.0, seconds))

    def lead(self) -> float:
        """How far after now a claim should ask for its first slot: the slowest recent claim, capped."""
        with self._lock:
            return min(max(self._recent, default=0.0), self._most)


class SharedRateLimiter:
    """One invocation's view of the channel limiter: claims slots, hands them to the sending threads.

    A claim's slots are spread evenly across it, each with its own time. A call of several tokens (a
    multipart SMS counted in segments) takes that many consecutive slots of one claim and is made at the
    last one's time. A call more than plan.lateness_seconds past its time is not made in that slot (the
    slot is dropped, never carried). demand, the tokens the batch may use, keeps the last claims small: a
    slot claimed and not used is lost to every worker of the channel.
    """

    def __init__(
        self,
        claimer: SlotClaimer,
        demand: int | None = None,
        pushback: ProviderPushback | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        horizon: float | None = None,
        latency: ClaimLatency | None = None,
        behind_horizon: float | None = None,
    ) -> None:
        self._claimer = claimer
        # Production passes the environment's ClaimLatency, as it does its ProviderPushback.
        self._latency = latency or ClaimLatency()
        # A broadcast's handle claims no slot further ahead than this (BULK_HORIZON_SECONDS); None: no limit.
        self._horizon = horizon
        # While more than half of the batch's demand is left, its horizon is this (BULK_BEHIND_HORIZON_SECONDS).
        self._behind_horizon = behind_horizon
        # Production passes the environment's ProviderPushback (its memory outlives the batch); tests may not.
        self._pushback = pushback or ProviderPushback(claimer, LIGHT_MAX_RETRY_AFTER, clock)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slot: Slot | None = None
        self._used = 0
        self._demand = demand
        self._granted = 0
        # Slots reserved and given back unused, (time, tokens): a capped call's that found no workspace slot.
        self._returned: list[tuple[float, int]] = []
        # What the batch's pacing cost: claims written, and slots dropped (a call too late for them).
        self.claims = 0
        self.dropped = 0

    def _slots_wanted(self, tokens: int) -> int:
        """A claim's worth of slots, fewer near the end of the batch's demand, never fewer than the call needs."""
        per_claim = self._claimer.plan.slots_per_claim
        if self._demand is None:
            return max(tokens, per_claim)
        return max(tokens, min(per_claim, self._demand - self._granted))

    def acquire(self, deadline: float, tokens: int = 1) -> bool:
        while True:
            at = self.reserve(deadline, tokens)
            if at is None:
                return False
            if self.wait_for(at, tokens):
                return True

    def reserve(self, deadline: float, tokens: int = 1) -> float | None:
        """The time (epoch seconds) of the slots a call of tokens takes, without waiting for it; None if
        there is none by deadline. The call must then wait_for it, or release it."""
        # More tokens than a period's slots can never be claimed together: such a call waits for a period's worth.
        tokens = self._clamp(tokens)
        wall_deadline = self._clock() + (deadline - time.monotonic())
        lateness = self._claimer.plan.lateness_seconds
        with self._lock:
            while True:
                now = self._clock()
                returned = self._take_returned(now, wall_deadline, tokens)
                if returned is not None:
                    self._granted += tokens
                    return returned
                if self._slot is None or self._slot.tokens - self._used < tokens:
                    # What is left of the current claim is too little for this call: those slots go unused.
                    horizon = self._current_horizon()
                    latest = wall_deadline if horizon is None else min(wall_deadline, now + horizon)
                    slot = self._claimer.claim(self._first_usable(now), latest, self._slots_wanted(tokens))
                    self._latency.record(self._clock() - now)
                    if slot is None:
                        if latest >= wall_deadline:
                            return None
                        # Nothing free within the horizon: single sends hold the next slots. Look again soon.
                        self._sleep(self._until_horizon(now, latest - now))
                        continue
                    self._slot, self._used = slot, 0
                    self.claims += 1
                    now = self._clock()  # the claim took time
                    if slot.tokens < tokens:
                        continue  # the end of a second, or of a cap: the call needs a longer run of slots
                slot = self._slot
                self._used += tokens
                at = slot.time_of(self._used - 1)
                if now > at + lateness:
                    self.dropped += tokens
                    continue
                if at > wall_deadline:
                    self._used -= tokens  # not taken: another call of this invocation may still use it
                    return None
                self._granted += tokens
                return at

    def _first_usable(self, now: float) -> float:
        """Where a claim asks for its first slot: from when its write is likely to have returned (earlier
        slots would be too late). For slots over a second long (a rate under 2 a second), a slot later less
        the lateness allowed: the table hands out the slot that holds the time asked for, which began up to
        a slot before it, and such a slot mostly began too long ago to be used (it was taken and dropped)."""
        plan = self._claimer.plan
        earliest = now + self._latency.lead()
        if plan.period_seconds > 1.0:
            earliest += plan.slot_seconds - plan.lateness_seconds
        return earliest

    def _current_horizon(self) -> float | None:
        """How far ahead the handle claims now: no limit, its horizon, or its behind_horizon while more than
        half of its batch's demand is left (under _lock). Never less than a slot past the claim lead: a
        claim asks from the lead on, and one asking past its horizon gets nothing, even alone."""
        if self._horizon is None or self._behind_horizon is None or self._demand is None:
            return self._horizon
        if 2 * (self._demand - self._granted) <= self._demand:
            return self._horizon
        floor = self._latency.lead() + self._claimer.plan.slot_seconds
        return min(self._horizon, max(self._behind_horizon, floor))

    def _until_horizon(self, now: float, horizon: float) -> float:
        """How long a broadcast's handle waits before claiming again: until the first slot it knows taken is
        within its horizon (a slot's time at least, at most 50 ms)."""
        frontier = self._claimer.known_frontier()
        plan = self._claimer.plan
        wait = plan.slot_seconds if frontier is None else frontier - horizon - now
        return min(max(wait, plan.slot_seconds / 2), 0.05)

    def wait_for(self, at: float, tokens: int = 1) -> bool:
        """Sleep until a reserved time; False (the slots dropped) if the call would be too late for them."""
        now = self._clock()
        if at > now:
            self._sleep(at - now)
        if self._clock() <= at + self._claimer.plan.lateness_seconds:
            return True
        with self._lock:
            self._granted -= self._clamp(tokens)
            self.dropped += self._clamp(tokens)
        return False

    def next_time(self) -> float | None:
        """When the next call's slot would be, if this handle holds fresh slots (without claiming any)."""
        with self._lock:
            now = self._clock()
            lateness = self._claimer.plan.lateness_seconds
            returned = [at for at, _ in self._returned if now <= at + lateness]
            if returned:
                return min(returned)
            if self._slot is not None and self._used < self._slot.tokens:
                at = self._slot.time_of(self._used)
                return at if now <= at + lateness else None
            return None

    def forgo(self, tokens: int = 1) -> None:
        """A call of the batch given up before it took slots: the batch's demand no longer counts it."""
        with self._lock:
            if self._demand is not None:
                self._demand -= self._clamp(tokens)

    def release(self, at: float, tokens: int = 1) -> None:
        """Give back reserved slots unused, their call given up (it goes back to SQS): the invocation's next
        call may take them while they are fresh, and the batch's demand no longer counts that call."""
        with self._lock:
            self._granted -= self._clamp(tokens)
            if self._demand is not None:
                self._demand -= self._clamp(tokens)
            self._returned.append((at, self._clamp(tokens)))

    def _clamp(self, tokens: int) -> int:
        return min(max(1, tokens), self._claimer.plan.slots_per_period)

    def _take_returned(self, now: float, wall_deadline: float, tokens: int) -> float | None:
        """The earliest fresh slots given back that fit a call of tokens (stale ones are dropped); under _lock."""
        lateness = self._claimer.plan.lateness_seconds
        fresh = [(at, held) for at, held in self._returned if now <= at + lateness]
        self.dropped += sum(held for at, held in self._returned if now > at + lateness)
        fitting = sorted((at, held) for at, held in fresh if held >= tokens and at <= wall_deadline)
        if not fitting:
            self._returned = fresh
            return None
        chosen = fitting[0]
        fresh.remove(chosen)
        self._returned = fresh
        self.dropped += chosen[1] - tokens
        return chosen[0]

    def slow_down(self, retry_after: float | None) -> None:
        self._pushback.react(retry_after)


class WorkspaceCapReached(Exception):
    """A capped workspace's message got no slot of its workspace in time: it goes back to SQS, unattempted."""


class CappedLimiter:
    """A capped workspace's view in a batch of capped messages only (else CappedBesideOthers): a slot of
    the workspace's own limiter, then one of the channel's within follow_seconds of it.

    The workspace's slots are spaced for its cap (9 a second for a cap of 10), and its calls are made at
    most SlotPlan.follow_seconds (half its margin: 55 ms for a cap of 10) after their workspace slot's
    time, so a sliding second holds at most the cap while lateness and the trip vary by less than the
    other half (it held slots + 2, 11 for a cap of 10, when a call could follow a whole workspace slot
    later); the channel slot keeps the channel under the provider's rate. A
    message that gets no workspace slot within wait_seconds, or no channel slot right after one, is
    handed back (WorkspaceCapReached), so its thread is soon free for the other workspaces.

    channel_for_call(tokens), when given, is a channel handle that claims exactly one call's slots: a
    capped call that shared the batch's handle claimed a run of slots (about 100 ms of them) and used one,
    and the next capped call, a workspace slot later, found the rest stale (measured: 3 to 4 of the
    channel's slots lost per capped call).
    """

    def __init__(
        self,
        workspace: RateLimiter,
        channel: RateLimiter,
        wait_seconds: float,
        slack_seconds: float,
        channel_for_call: Callable[[int], RateLimiter] | None = None,
    ) -> None:
        self._workspace = workspace
        self._channel = channel
        self._wait = wait_seconds
        self._slack = slack_seconds
        self._channel_for_call = channel_for_call

    def acquire(self, deadline: float, tokens: int = 1) -> bool:
        if not self._workspace.acquire(min(deadline, time.monotonic() + self._wait), tokens):
            raise WorkspaceCapReached("no slot of the workspace's cap in time")
        channel = self._channel if self._channel_for_call is None else self._channel_for_call(tokens)
        if not channel.acquire(min(deadline, time.monotonic() + self._slack), tokens):
            raise WorkspaceCapReached("no channel slot right after the workspace's")
        return True

    def slow_down(self, retry_after: float | None) -> None:
        self._channel.slow_down(retry_after)


class CappedBesideOthers:
    """A capped workspace's view in a batch that also holds uncapped messages: a channel slot from the
    batch's handle first, then a slot of the workspace's own in the workspace slot before it.

    The channel's free slots run as far ahead as its waiting calls (seconds, when every thread of every
    worker waits): a workspace slot taken first, near now, rarely finds a channel slot right after it
    (CappedLimiter), and the capped workspace starved while others had work (bench/RESULTS.md, cap
    diagnostics). Taking the channel slot first puts the workspace slot where the channel has room; a
    channel slot that finds none goes back to the batch's handle for its uncapped messages, so the
    channel loses nothing. The bound is CappedLimiter's: each call is made at most follow_seconds after
    its workspace slot's time.
    """

    def __init__(self, workspace: SlotClaimer, channel: SharedRateLimiter) -> None:
        self._workspace = workspace
        self._channel = channel
        self._lock = threading.Lock()

    def acquire(self, deadline: float, tokens: int = 1) -> bool:
        # One of the batch's calls for this workspace at a time: the others then see the workspace slots it
        # found taken and take no channel slot (a workspace slot comes only every 1/cap seconds).
        with self._lock:
            at = self._slots_for(deadline, tokens)
        if at is None:
            return False
        if not self._channel.wait_for(at, tokens):
            raise WorkspaceCapReached("too late for the channel slot")
        return True

    def _slots_for(self, deadline: float, tokens: int) -> float | None:
        taken_until, next_channel_slot = self._workspace.known_frontier(), self._channel.next_time()
        if taken_until is not None and next_channel_slot is not None and taken_until > next_channel_slot:
            # Known already: no workspace slot before the channel's next; take none of the channel's slots.
            self._channel.forgo(tokens)
            raise WorkspaceCapReached("the workspace's slots are taken until after the channel's next slot")
        at = self._channel.reserve(deadline, tokens)
        if at is None:
            return None
        plan = self._workspace.plan
        step = plan.slot_seconds
        tokens = min(max(1, tokens), plan.slots_per_period)
        # The last of the call's workspace slots at most follow_seconds before the channel's. A claim from
        # `earliest` may get the slot that holds it, up to a slot before it (the table's slots are a grid):
        # asking from a slot later, less a hair, gets the first slot starting at or after the window's start.
        last = at - (tokens - 1) * step
        own = self._workspace.claim(last - plan.follow_seconds + step - 1e-6, last, tokens)
        if own is None or own.tokens < tokens:
            self._channel.release(at, tokens)
            raise WorkspaceCapReached("no slot of the workspace's cap right before the channel slot")
        return at

    def slow_down(self, retry_after: float | None) -> None:
        self._channel.slow_down(retry_after)
