"""The rate limiter's DynamoDB table: each period (a second) of a channel is one item whose slots are claimed once."""

from __future__ import annotations

import math
import threading
from typing import Any

from queue_services.adapters.aws import call_aws_or_refusal
from queue_services.ratelimit import Slot, SlotPlan

# After a 429 the channel pauses for Retry-After, then recovers over these seconds (share of slots usable).
RECOVERY_STEPS = (0.25, 0.5, 0.75)


class DynamoDbSlotClaimer:
    """Slot claims on one DynamoDB item per channel and period (time in the key, TTL only for clean-up).

    A period is a second, or longer for a rate under 2 a second (SlotPlan); the key is the period's number
    (epoch seconds // period_seconds: the second itself for a one-second period). The item's `next` is the
    first unclaimed slot of that period; a claim sets it past the claimed slot
    with a condition on its old value (optimistic concurrency), so slots go out in time order and once.
    `cap`, written after a provider 429, lowers how many slots of a period may be claimed: that is how
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

    def _key(self, period: int) -> dict[str, Any]:
        return {"pk": {"S": self._pk}, "sk": {"S": str(period)}}

    def _period_of(self, moment: float) -> int:
        return math.floor(moment / self.plan.period_seconds)

    def _time_of(self, period: int, index: int) -> float:
        """When slot index of the period starts (epoch seconds)."""
        plan = self.plan
        return (period + index / plan.slots_per_period) * plan.period_seconds

    def _expiry(self, period: int) -> dict[str, str]:
        return {"N": str(int(self._time_of(period, 0)) + 3600)}

    def _conditional_update(self, period: int, **kwargs: Any) -> dict[str, Any] | None:
        """UpdateItem on the period's item; the refusal's response if its condition failed, else None."""
        self.writes += 1
        _, refusal = call_aws_or_refusal(
            self._ddb,
            "update_item",
            "rate-limit table",
            "ConditionalCheckFailedException",
            TableName=self._table,
            Key=self._key(period),
            **kwargs,
        )
        return refusal

    def claim(self, earliest: float, latest: float, max_slots: int | None = None) -> Slot | None:
        plan = self.plan
        per_claim = plan.slots_per_claim if max_slots is None else max(1, max_slots)
        period = self._period_of(earliest)
        index = int((earliest - self._time_of(period, 0)) * plan.slots_per_period / plan.period_seconds)
        with self._lock:
            # What this process last saw of the period: saves a failed write per claim.
            taken, cap = self._seen.get(period, (None, plan.slots_per_period))
        while True:
            slot_index = max(taken or 0, index)
            if slot_index >= cap:
                period, index = period + 1, 0
                with self._lock:
                    taken, cap = self._seen.get(period, (None, plan.slots_per_period))
                continue
            start = self._time_of(period, slot_index)
            if start > latest:
                return None
            count = min(per_claim, cap - slot_index)
            condition = "attribute_not_exists(#next)" if taken is None else "#next = :taken"
            values: dict[str, Any] = {
                ":next": {"N": str(slot_index + count)},
                ":last": {"N": str(slot_index + count - 1)},
                ":expires": self._expiry(period),
            }
            if taken is not None:
                values[":taken"] = {"N": str(taken)}
            refusal = self._conditional_update(
                period,
                UpdateExpression="SET #next = :next, expiresAt = :expires",
                ConditionExpression=f"({condition}) AND (attribute_not_exists(#cap) OR #cap > :last)",
                ExpressionAttributeNames={"#next": "next", "#cap": "cap"},
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            if refusal is not None:
                item = refusal.get("Item") or {}
                taken = int(item["next"]["N"]) if "next" in item else None
                cap = int(item["cap"]["N"]) if "cap" in item else plan.slots_per_period
                if taken is None and cap > slot_index:
                    cap = slot_index  # lost a race that left no trace; move on rather than spin
                with self._lock:
                    self._seen[period] = (taken, cap)
                continue
            with self._lock:
                self._seen[period] = (slot_index + count, cap)
                for old in [s for s in self._seen if s < period - 1]:
                    del self._seen[old]
            return Slot(start, self._time_of(period, slot_index + count), count)

    def known_frontier(self) -> float | None:
        with self._lock:
            if not self._seen:
                return None
            period = max(self._seen)
            taken, cap = self._seen[period]
        return self._time_of(period, min(taken or 0, cap))

    def slow_down(self, now: float, pause_seconds: float) -> None:
        """No slots until the pause ends (whole periods), then a gradual return to the full rate."""
        plan = self.plan
        first = self._period_of(now)
        last_paused = self._period_of(now + max(pause_seconds, plan.slot_seconds))
        caps = {first: int((now - self._time_of(first, 0)) / plan.slot_seconds)}
        caps.update({period: 0 for period in range(first + 1, last_paused + 1)})
        for step, share in enumerate(RECOVERY_STEPS, start=1):
            caps[last_paused + step] = max(1, int(plan.slots_per_period * share))
        for period, cap in caps.items():
            # Refused when a lower cap is there already: that one stands.
            self._conditional_update(
                period,
                UpdateExpression="SET #cap = :cap, expiresAt = :expires",
                ConditionExpression="attribute_not_exists(#cap) OR #cap > :cap",
                ExpressionAttributeNames={"#cap": "cap"},
                ExpressionAttributeValues={":cap": {"N": str(cap)}, ":expires": self._expiry(period)},
            )

    def places_in_line(self, now: float, step: float, count: int) -> list[float]:
        """Book the next count places in this limiter's waiting line, step seconds apart after the last one
        (or after now, if the line has run dry), in one write: when messages handed back for lack of a
        slot should come back."""
        key = {"pk": {"S": self._pk}, "sk": {"S": "line"}}
        names = {"#until": "until"}
        span = step * count
        later = {":step": {"N": f"{span:.6f}"}, ":now": {"N": f"{now:.6f}"}}
        first = {":first": {"N": f"{now + span:.6f}"}, ":now": later[":now"], ":expires": {"N": str(int(now) + 3600)}}
        attempts = (
            ("SET #until = #until + :step", "#until >= :now", later),
            ("SET #until = :first, expiresAt = :expires", "attribute_not_exists(#until) OR #until < :now", first),
        )
        while True:
            for update, condition, values in attempts:
                self.writes += 1
                answer, _ = call_aws_or_refusal(
                    self._ddb,
                    "update_item",
                    "rate-limit table",
                    "ConditionalCheckFailedException",
                    TableName=self._table,
                    Key=key,
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                )
                if answer is not None:
                    last = float(answer["Attributes"]["until"]["N"])
                    return [last - step * n for n in reversed(range(count))]
