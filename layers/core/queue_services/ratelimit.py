"""Rate limiting of provider calls: one limit per channel shared by every invocation (DynamoDB slots)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from queue_services.aws_clients import error_code


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


# After a 429 the channel pauses for Retry-After, then recovers over these seconds (share of slots usable).
RECOVERY_STEPS = (0.25, 0.5, 0.75)


class DynamoDbSlotClaimer:
    """Slot claims on one DynamoDB item per channel and second (time in the key, TTL only for clean-up).

    The item's `next` is the first unclaimed slot of that second; a claim sets it past the claimed slot
    with a condition on its old value (optimistic concurrency), so slots go out in time order and once.
    `cap`, written after a provider 429, lowers how many slots of a second may be claimed: that is how
    every worker of the channel slows down together.
    """

    def __init__(self, dynamodb_client: Any, table_name: str, channel: str, plan: SlotPlan) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self._pk = f"RATE#{channel}"
        self.plan = plan
        self.writes = 0
        self._seen: dict[int, tuple[int | None, int]] = {}
        self._lock = threading.Lock()

    def _key(self, second: int) -> dict[str, Any]:
        return {"pk": {"S": self._pk}, "sk": {"S": str(second)}}

    def claim(self, earliest: float, latest: float, max_slots: int | None = None) -> Slot | None:
        plan = self.plan
        per_claim = plan.slots_per_claim if max_slots is None else max(1, min(max_slots, plan.slots_per_claim))
        second = int(earliest)
        index = int((earliest - second) * plan.slots_per_second)
        with self._lock:
            # What this process last saw of the second: saves a failed write per claim.
            taken, cap = self._seen.get(second, (None, plan.slots_per_second))
        while True:
            slot_index = max(taken or 0, index)
            if slot_index >= cap:
                second, index = second + 1, 0
                with self._lock:
                    taken, cap = self._seen.get(second, (None, plan.slots_per_second))
                continue
            start = second + slot_index / plan.slots_per_second
            if start > latest:
                return None
            count = min(per_claim, cap - slot_index)
            condition = "attribute_not_exists(#next)" if taken is None else "#next = :taken"
            values: dict[str, Any] = {
                ":next": {"N": str(slot_index + count)},
                ":last": {"N": str(slot_index + count - 1)},
                ":expires": {"N": str(second + 3600)},
            }
            if taken is not None:
                values[":taken"] = {"N": str(taken)}
            self.writes += 1
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=self._key(second),
                    UpdateExpression="SET #next = :next, expiresAt = :expires",
                    ConditionExpression=f"({condition}) AND (attribute_not_exists(#cap) OR #cap > :last)",
                    ExpressionAttributeNames={"#next": "next", "#cap": "cap"},
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                item = exc.response.get("Item") or {}
                taken = int(item["next"]["N"]) if "next" in item else None
                cap = int(item["cap"]["N"]) if "cap" in item else plan.slots_per_second
                if taken is None and cap > slot_index:
                    cap = slot_index  # lost a race that left no trace; move on rather than spin
                with self._lock:
                    self._seen[second] = (taken, cap)
                continue
            with self._lock:
                self._seen[second] = (slot_index + count, cap)
                for old in [s for s in self._seen if s < second - 1]:
                    del self._seen[old]
            return Slot(start, second + (slot_index + count) / plan.slots_per_second, count * plan.tokens_per_slot)

    def slow_down(self, now: float, pause_seconds: float) -> None:
        """No slots until the pause ends (whole seconds), then a gradual return to the full rate."""
        plan = self.plan
        first = int(now)
        last_paused = int(now + max(pause_seconds, plan.slot_seconds))
        caps = {first: int((now - first) * plan.slots_per_second)}
        caps.update({second: 0 for second in range(first + 1, last_paused + 1)})
        for step, share in enumerate(RECOVERY_STEPS, start=1):
            caps[last_paused + step] = max(1, int(plan.slots_per_second * share))
        for second, cap in caps.items():
            self.writes += 1
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=self._key(second),
                    UpdateExpression="SET #cap = :cap, expiresAt = :expires",
                    ConditionExpression="attribute_not_exists(#cap) OR #cap > :cap",
                    ExpressionAttributeNames={"#cap": "cap"},
                    ExpressionAttributeValues={":cap": {"N": str(cap)}, ":expires": {"N": str(second + 3600)}},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise


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
        self._spread_from = 0.0
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
                    claimed_at = self._clock()
                    if claimed_at >= slot.end:
                        continue  # the claim was answered after its slots ended: they are gone
                    # A claim answered late (a busy table, a busy process) spreads its tokens over what is
                    # left of its slots: every call still falls inside them.
                    self._slot, self._tokens, self._spread_from = slot, slot.tokens, max(slot.start, claimed_at)
                slot = self._slot
                # Spread the slot's tokens evenly across it: calls then arrive as a steady stream, not a
                # burst at each slot start that network jitter could push into the next window.
                used = slot.tokens - self._tokens
                self._tokens -= 1
                start = self._spread_from + (slot.end - self._spread_from) * used / slot.tokens
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
