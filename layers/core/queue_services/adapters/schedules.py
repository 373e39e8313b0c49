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
from queue_services.codec import encode_queued_message
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
    ) -> None:
        self._scheduler = scheduler_client
        self._groups = groups
        self._queue_urls = queue_urls
        self._role_arn = role_arn

    def create(self, message: QueuedMessage, now: datetime) -> str:
        channel = message.channel
        fire_at, delay = fire_plan(message.send_at, now)
        request = {
            "QueueUrl": self._queue_urls[channel],
            "MessageBody": encode_queued_message(message),
            "DelaySeconds": delay,
            "MessageGroupId": message.workspace_id,
        }
        name = schedule_name(message)
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
        return name

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
