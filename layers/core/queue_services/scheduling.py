"""Turns a request's delay or sendAt into a send time and the SQS DelaySeconds that gets it there."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from queue_services.errors import InvalidRequest
from queue_services.models import MAX_SQS_DELAY_SECONDS


@dataclass(frozen=True)
class DeliveryPlan:
    """When a message should go out and how long SQS must hold it."""

    send_at: datetime
    delay_seconds: int


def plan_delivery(delay_ms: int | None, send_at: datetime | None, now: datetime) -> DeliveryPlan:
    """Plan a message given at most one of delay_ms and send_at; a past send_at means now."""
    if delay_ms is not None and send_at is not None:
        raise InvalidRequest("give either delay or sendAt, not both", field="sendAt")
    if send_at is not None:
        wait = (send_at - now).total_seconds()
        if wait > MAX_SQS_DELAY_SECONDS:
            raise InvalidRequest(
                f"must be at most {MAX_SQS_DELAY_SECONDS} s (15 minutes) ahead; longer schedules are not supported yet",
                field="sendAt",
            )
        if wait <= 0:
            return DeliveryPlan(send_at=now, delay_seconds=0)
        return DeliveryPlan(send_at=send_at.astimezone(UTC), delay_seconds=min(math.ceil(wait), MAX_SQS_DELAY_SECONDS))
    delay = delay_ms or 0
    return DeliveryPlan(send_at=now + timedelta(milliseconds=delay), delay_seconds=math.ceil(delay / 1000))


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a Z, as the old service printed times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
