"""Turns a request's delay or sendAt into a send time and the SQS DelaySeconds that gets it there."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from queue_services.errors import InvalidRequest
from queue_services.models import MAX_SCHEDULE_SECONDS, MAX_SQS_DELAY_SECONDS
from queue_services.times import iso_utc as iso_utc  # re-exported: callers import it with the scheduling rules


@dataclass(frozen=True)
class DeliveryPlan:
    """When a message should go out, and how: SQS DelaySeconds, or an EventBridge Scheduler schedule."""

    send_at: datetime
    delay_seconds: int
    via_scheduler: bool = False


def plan_delivery(
    delay_ms: int | None,
    send_at: datetime | None,
    now: datetime,
    max_sqs_delay_seconds: int = MAX_SQS_DELAY_SECONDS,
) -> DeliveryPlan:
    """Plan a message given at most one of delay_ms and send_at; a past send_at means now.

    Up to max_sqs_delay_seconds ahead (900, SQS's limit) the send queue holds it; up to a year ahead a
    one-time schedule does; further is refused.
    """
    if delay_ms is not None and send_at is not None:
        raise InvalidRequest("give either delay or sendAt, not both", field="sendAt")
    if send_at is None:
        send_at = now + timedelta(milliseconds=delay_ms or 0)
        field = "delay"
    else:
        field = "sendAt"
    wait = (send_at - now).total_seconds()
    if wait > MAX_SCHEDULE_SECONDS:
        raise InvalidRequest("must be at most one year ahead", field=field)
    if wait <= 0:
        return DeliveryPlan(send_at=now, delay_seconds=0)
    send_at = send_at.astimezone(UTC)
    if wait > max_sqs_delay_seconds:
        return DeliveryPlan(send_at=send_at, delay_seconds=0, via_scheduler=True)
    return DeliveryPlan(send_at=send_at, delay_seconds=min(math.ceil(wait), MAX_SQS_DELAY_SECONDS))


def resolve_expiry(
    expires_at: datetime | None, ttl_seconds: int | None, now: datetime, send_at: datetime
) -> datetime | None:
    """The instant after which the message must not be sent, from expiresAt or ttlSeconds (counted from now)."""
    if expires_at is not None and ttl_seconds is not None:
        raise InvalidRequest("give either expiresAt or ttlSeconds, not both", field="expiresAt")
    if ttl_seconds is not None:
        expires_at = now + timedelta(seconds=ttl_seconds)
    if expires_at is None:
        return None
    if expires_at <= now:
        raise InvalidRequest("is already in the past", field="expiresAt")
    if expires_at <= send_at:
        raise InvalidRequest("is not after the send time: the message could never be sent", field="expiresAt")
    return expires_at.astimezone(UTC)
