"""The rate limiter's DynamoDB table: each second of a channel is one item whose slots are claimed once."""

from __future__ import annotations

import threading
from typing import Any

from queue_services.adapters.aws import call_aws_or_refusal
from queue_services.ratelimit import Slot, SlotPlan

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

    def _conditional_update(self, second: int, **kwargs: Any) -> dict[str, Any] | None:
        """UpdateItem on the second's item; the refusal's response if its condition failed, else None."""
        self.writes += 1
        _, refusal = call_aws_or_refusal(
            self._ddb,
            "update_item",
            "rate-limit table",
            "ConditionalCheckFailedException",
            TableName=self._table,
            Key=self._key(second),
            **kwargs,
        )
        return refusal

    def claim(self, earliest: float, latest: float, max_slots: int | None = None) -> Slot | None:
        plan = self.plan
        per_claim = plan.slots_per_claim if max_slots is None else max(1, max_slots)
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
            refusal = self._conditional_update(
                second,
                UpdateExpression="SET #next = :next, expiresAt = :expires",
                ConditionExpression=f"({condition}) AND (attribute_not_exists(#cap) OR #cap > :last)",
                ExpressionAttributeNames={"#next": "next", "#cap": "cap"},
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            if refusal is not None:
                item = refusal.get("Item") or {}
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
            return Slot(start, second + (slot_index + count) / plan.slots_per_second, count)

    def known_frontier(self) -> float | None:
        with self._lock:
            if not self._seen:
                return None
            second = max(self._seen)
            taken, cap = self._seen[second]
        return second + min(taken or 0, cap) / self.plan.slots_per_second

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
            # Refused when a lower cap is there already: that one stands.
            self._conditional_update(
                second,
                UpdateExpression="SET #cap = :cap, expiresAt = :expires",
                ConditionExpression="attribute_not_exists(#cap) OR #cap > :cap",
                ExpressionAttributeNames={"#cap": "cap"},
                ExpressionAttributeValues={":cap": {"N": str(cap)}, ":expires": {"N": str(second + 3600)}},
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
