"""EventBridge Scheduler adapter: one-time schedules that put a message on its send queue, fired early.

Scheduler fires within about a minute of the time asked. Each schedule therefore fires LEAD seconds
before the send time, through the universal `sqs:sendMessage` target so that it can set DelaySeconds,
and the message reaches the queue up to a minute early; the worker then holds it (visibility) until its
exact send time.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from queue_services.adapters.aws import call_aws, call_aws_or_none
from queue_services.channels import Channel
from queue_services.codec import encode_fanout_order, encode_queued_message
from queue_services.models import MAX_SQS_DELAY_SECONDS, QueuedMessage

UNIVERSAL_SQS_SEND = "arn:aws:scheduler:::aws-sdk:sqs:sendMessage"
# Scheduler's documented precision is about 60 s: fire two minutes ahead, land one minute ahead.
SCHEDULE_LEAD_SECONDS = 120
SCHEDULER_JITTER_SECONDS = 60
MIN_FIRE_AHEAD_SECONDS = 5


def schedule_name(message: QueuedMessage) -> str:
    """The messageId, plus the version after a reschedule (names must be unique within a group)."""
    return message.message_id if message.version == 0 else f"{message.message_id}-v{message.version}"


def fire_plan(send_at: datetime, now: datetime) -> tuple[datetime, int]:
    """When the schedule fires (whole seconds, UTC) and the DelaySeconds it sends the message with."""
    earliest = now + timedelta(seconds=MIN_FIRE_AHEAD_SECONDS)
    fire_at = max(earliest, send_at - timedelta(seconds=SCHEDULE_LEAD_SECONDS))
    fire_at = fire_at.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    remaining = (send_at - fire_at).total_seconds()
    delay = max(0, min(MAX_SQS_DELAY_SECONDS, math.floor(remaining) - SCHEDULER_JITTER_SECONDS))
    return fire_at, delay


class ScheduleStore:
    """Creates and deletes the one-time schedules of the scheduled-sms / scheduled-email groups."""

    def __init__(
        self,
        scheduler_client: Any,
        groups: dict[Channel, str],
        queue_urls: dict[Channel, str],
        role_arn: str,
        bulk_queue_urls: dict[Channel, str] | None = None,
    ) -> None:
        self._scheduler = scheduler_client
        self._groups = groups
        self._queue_urls = queue_urls
        self._bulk_queue_urls = bulk_queue_urls or queue_urls
        self._role_arn = role_arn

    def create(self, message: QueuedMessage, now: datetime) -> str:
        name = schedule_name(message)
        body = encode_queued_message(message)
        self._create(
            name, message.channel, self._queue_urls[message.channel], body, message.workspace_id, message.send_at, now
        )
        return name

    def create_fanout(
        self, broadcast_id: str, channel: Channel, workspace_id: str, send_at: datetime, now: datetime
    ) -> str:
        """One schedule for a whole broadcast: at fire time it puts a fan-out order on the bulk queue, and the
        worker that gets it queues the broadcast's messages (queue_services.fanout)."""
        name = f"broadcast-{broadcast_id}"
        body = encode_fanout_order(broadcast_id, channel)
        self._create(name, channel, self._bulk_queue_urls[channel], body, workspace_id, send_at, now)
        return name

    def _create(
        self,
        name: str,
        channel: Channel,
        queue_url: str,
        body: str,
        group_id: str,
        send_at: datetime,
        now: datetime,
    ) -> None:
        fire_at, delay = fire_plan(send_at, now)
        request = {"QueueUrl": queue_url, "MessageBody": body, "DelaySeconds": delay, "MessageGroupId": group_id}
        call_aws(
            self._scheduler,
            "create_schedule",
            "scheduler",
            Name=name,
            GroupName=self._groups[channel],
            ScheduleExpression=f"at({fire_at.strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Target={"Arn": UNIVERSAL_SQS_SEND, "RoleArn": self._role_arn, "Input": json.dumps(request)},
        )

    def delete(self, channel: Channel, name: str) -> bool:
        """Delete a schedule; False if it no longer exists (it fired, or was deleted before)."""
        deleted = call_aws_or_none(
            self._scheduler,
            "delete_schedule",
            "scheduler",
            "ResourceNotFoundException",
            GroupName=self._groups[channel],
            Name=name,
        )
        return deleted is not None
