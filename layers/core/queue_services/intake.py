"""Accepts schedule requests: plans the send time, builds the queued message and puts it on its queue."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from queue_services.channels import Channel
from queue_services.models import (
    QueuedEmail,
    QueuedMessage,
    QueuedSms,
    ScheduleEmailRequest,
    ScheduleRequest,
    ScheduleResponse,
    ScheduleSmsRequest,
)
from queue_services.queueing import SendQueue
from queue_services.scheduling import iso_utc, plan_delivery, resolve_expiry
from queue_services.tenancy import Principal


def build_queued_message(request: ScheduleRequest, message_id: str, now: datetime, send_at: datetime) -> QueuedMessage:
    common = {
        "expires_at": resolve_expiry(request.expires_at, request.ttl_seconds, now, send_at),
        "message_id": message_id,
        "workspace_id": request.workspace_id,
        "contact_id": request.contact_id,
        "metadata": request.metadata,
        "created_at": now,
        "send_at": send_at,
    }
    if isinstance(request, ScheduleSmsRequest):
        return QueuedSms(to=request.phone_number, message=request.message, **common)
    return QueuedEmail(to=request.to, subject=request.subject, html=request.html, text=request.text, **common)


def channel_of(request: ScheduleRequest) -> Channel:
    return Channel.EMAIL if isinstance(request, ScheduleEmailRequest) else Channel.SMS


class MessageIntake:
    """The api function's business logic for the schedule routes."""

    def __init__(self, queues: Mapping[Channel, SendQueue]) -> None:
        self._queues = queues

    def schedule(self, request: ScheduleRequest, principal: Principal, now: datetime) -> ScheduleResponse:
        principal.require_workspace(request.workspace_id)
        plan = plan_delivery(request.delay, request.send_at, now)
        message = build_queued_message(request, str(uuid.uuid4()), now, plan.send_at)
        self._queues[channel_of(request)].enqueue(message, plan.delay_seconds)
        return ScheduleResponse(message_id=message.message_id, status="queued", send_at=iso_utc(plan.send_at))
