"""Accepts schedule requests and manages accepted messages: status, cancel, reschedule."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from queue_services.adapters.ledger import Ledger, MessageRecord, retention_epoch
from queue_services.adapters.schedules import ScheduleStore, schedule_name
from queue_services.adapters.send_queue import SendQueue
from queue_services.channels import Channel
from queue_services.codec import decode_queued_message, encode_queued_message
from queue_services.errors import Conflict, DependencyUnavailable, InvalidRequest, NotFound
from queue_services.masking import mask_recipient
from queue_services.models import (
    QueuedEmail,
    QueuedMessage,
    QueuedSms,
    RescheduleRequest,
    ScheduleEmailRequest,
    ScheduleRequest,
    ScheduleResponse,
    ScheduleSmsRequest,
)
from queue_services.scheduling import DeliveryPlan, iso_utc, plan_delivery, resolve_expiry
from queue_services.segments import count_segments
from queue_services.statuses import MessageStatus, accepted_status, is_cancellable
from queue_services.tenancy import Principal


def build_queued_message(
    request: ScheduleRequest, message_id: str, now: datetime, send_at: datetime, broadcast_id: str | None = None
) -> QueuedMessage:
    common = {
        "broadcast_id": broadcast_id,
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


def sms_parts(message: QueuedMessage) -> dict[str, Any]:
    """The ledger's segments and encoding fields for an SMS (none for an email)."""
    if not isinstance(message, QueuedSms):
        return {}
    parts = count_segments(message.message)
    return {"segments": parts.count, "encoding": parts.encoding.value}


def channel_of(request: ScheduleRequest) -> Channel:
    return Channel.EMAIL if isinstance(request, ScheduleEmailRequest) else Channel.SMS


class MessageIntake:
    """The api function's business logic for messages."""

    def __init__(
        self,
        queues: Mapping[Channel, SendQueue],
        ledger: Ledger,
        schedules: ScheduleStore,
        max_sqs_delay_seconds: int,
        recipient_hash: Callable[[str], str | None] = lambda _recipient: None,
    ) -> None:
        self._queues = queues
        self._recipient_hash = recipient_hash
        self._ledger = ledger
        self._schedules = schedules
        self._max_sqs_delay = max_sqs_delay_seconds

    def schedule(self, request: ScheduleRequest, principal: Principal, now: datetime) -> ScheduleResponse:
        principal.require_workspace(request.workspace_id)
        plan = plan_delivery(request.delay, request.send_at, now, self._max_sqs_delay)
        message = build_queued_message(request, str(uuid.uuid4()), now, plan.send_at)
        status = accepted_status(plan.via_scheduler)
        record = MessageRecord(
            message_id=message.message_id,
            channel=message.channel,
            workspace_id=message.workspace_id,
            contact_id=message.contact_id,
            to=mask_recipient(message.to),
            recipient_hash=self._recipient_hash(message.to),
            status=status,
            send_at=plan.send_at,
            created_at=now,
            updated_at=now,
            expires_at=message.expires_at,
            schedule_name=schedule_name(message) if plan.via_scheduler else None,
            **sms_parts(message),
            retain_until=retention_epoch(now, self._ledger.retention_days, plan.send_at),
            payload=encode_queued_message(message),
        )
        # The record first: a worker that gets the message finds it, and a message never exists unrecorded.
        self._ledger.create(record)
        self._dispatch(message, plan, record, now)
        return ScheduleResponse(message_id=message.message_id, status=status.value, send_at=iso_utc(plan.send_at))

    def status(self, message_id: str, principal: Principal) -> MessageRecord:
        record = self._ledger.get(message_id)
        # Someone else's message is answered as unknown: its existence is not theirs to learn.
        if record is None or (not principal.is_admin and record.workspace_id != principal.workspace_id):
            raise NotFound("no such message")
        return record

    def cancel(self, message_id: str, principal: Principal, now: datetime) -> MessageRecord:
        record = self.status(message_id, principal)
        if record.status is MessageStatus.CANCELLED:
            return record
        if not is_cancellable(record.status):
            raise Conflict(
                f"the message is already {record.status.value}; only queued or scheduled ones can be cancelled"
            )
        if record.status is MessageStatus.SCHEDULED and record.schedule_name:
            # Not found means it already fired: the copy in SQS is then skipped by the worker.
            self._schedules.delete(Channel(record.channel), record.schedule_name)
        # A cancelled message is never sent: its full recipient and text go with it (README "payload").
        cancelled = self._ledger.transition(record, {"status": MessageStatus.CANCELLED, "payload": None}, now)
        if cancelled is None:
            return self._refused(message_id, principal, "cancelled")
        return cancelled

    def reschedule(
        self, message_id: str, request: RescheduleRequest, principal: Principal, now: datetime
    ) -> MessageRecord:
        record = self.status(message_id, principal)
        if not is_cancellable(record.status):
            raise Conflict(f"the message is already {record.status.value}; only a queued or scheduled one can be moved")
        if request.delay is None and request.send_at is None:
            raise InvalidRequest("give delay or sendAt", field="sendAt")
        plan = plan_delivery(request.delay, request.send_at, now, self._max_sqs_delay)
        if record.expires_at is not None and plan.send_at >= record.expires_at:
            raise InvalidRequest("is past the message's expiresAt: it could never be sent", field="sendAt")
        version = record.version + 1
        status = accepted_status(plan.via_scheduler)
        pending_message = self._message_from_queue_copy(record, plan.send_at, version)
        moved = self._ledger.transition(
            record,
            {
                "status": status,
                "send_at": plan.send_at,
                "version": version,
                "schedule_name": schedule_name(pending_message) if plan.via_scheduler else None,
                "payload": encode_queued_message(pending_message),
            },
            now,
        )
        if moved is None:
            return self._refused(message_id, principal, "rescheduled")
        if record.status is MessageStatus.SCHEDULED and record.schedule_name:
            self._schedules.delete(Channel(record.channel), record.schedule_name)
        self._dispatch(pending_message, plan, moved, now)
        return moved

    def _message_from_queue_copy(self, record: MessageRecord, send_at: datetime, version: int) -> QueuedMessage:
        """The message to queue again: the ledger holds no content, so it comes from the stored copy."""
        if record.payload is None:
            raise Conflict("the message content is no longer available to reschedule")
        stored = decode_queued_message(record.payload)
        return stored.model_copy(update={"send_at": send_at, "version": version})

    def _dispatch(self, message: QueuedMessage, plan: DeliveryPlan, record: MessageRecord, now: datetime) -> None:
        try:
            if plan.via_scheduler:
                self._schedules.create(message, now)
            else:
                self._queues[message.channel].enqueue(message, plan.delay_seconds)
        except DependencyUnavailable as exc:
            self._ledger.save_many(
                [record.model_copy(update={"status": MessageStatus.FAILED, "last_error": f"not queued: {exc}"})]
            )
            raise

    def _refused(self, message_id: str, principal: Principal, verb: str) -> MessageRecord:
        current = self.status(message_id, principal)
        raise Conflict(f"the message could not be {verb}: it is {current.status.value} now")
