"""Broadcasts: accept a bulk request (ledger records and queue copies written in batches, in parallel),
report its progress from its counters, list a workspace's, cancel what is not yet sent."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from pydantic import Field

from queue_services.adapters.broadcasts import BroadcastRecord, BroadcastState, BroadcastStore
from queue_services.adapters.ledger import Ledger, MessageRecord, retention_epoch
from queue_services.adapters.schedules import ScheduleStore
from queue_services.adapters.send_queue import SendQueue
from queue_services.broadcast_progress import ReportedState, StatusMove, progress_steps, reported_state
from queue_services.bulk import BulkEmailRequest, BulkSmsRequest, Rejection, split_recipients
from queue_services.channels import Channel
from queue_services.codec import encode_fanout_order, encode_queued_message
from queue_services.errors import Conflict, InvalidRequest, NotFound
from queue_services.intake import build_queued_message, sms_parts
from queue_services.masking import mask_recipient
from queue_services.models import CamelModel, QueuedMessage
from queue_services.scheduling import iso_utc, plan_delivery
from queue_services.statuses import MessageStatus
from queue_services.tenancy import Principal

# Parallel SendMessageBatch / BatchWriteItem calls while accepting one request. Side by side on the local
# stack (2,000 recipients due now, sets of 10): 8 gave 1.68-1.96 s p50, 16 gave 1.41-1.85 s, 32 no better
# than 16 (bench/RESULTS.md, "Less time outside the send phase").
PARALLEL_CALLS = 16
# A chunk of work for one thread: 25 ledger records (one BatchWriteItem) or 10 queue copies (one SendMessageBatch).
LEDGER_CHUNK = 25
QUEUE_CHUNK = 10
NOT_QUEUED = "not queued"


class RejectedRecipient(CamelModel):
    index: int
    contact_id: str | None = None
    error: str


class BulkAccepted(CamelModel):
    """202 answer of POST /api/bulk-sms and /api/bulk-email."""

    broadcast_id: str
    accepted: int
    rejected: list[RejectedRecipient]
    send_at: str


class BroadcastView(CamelModel):
    """GET /api/broadcasts/{broadcastId}: its progress, from the counters its messages' ledger moves add."""

    broadcast_id: str
    workspace_id: str
    channel: str
    name: str | None = None
    state: ReportedState = Field(description="active; done when every message is sent, failed or cancelled; cancelled")
    send_at: str
    created_at: str
    cancelled_at: str | None = None
    total: int
    queued: int
    sending: int
    sent: int
    failed: int
    failed_by_reason: dict[str, int]
    cancelled: int
    rate_limited: int
    eta_seconds: float | None = Field(description="backlog / the rate the workspace can get; null when done")


class BroadcastSummary(CamelModel):
    broadcast_id: str
    channel: str
    name: str | None = None
    state: ReportedState
    total: int
    send_at: str
    created_at: str


class BroadcastList(CamelModel):
    """GET /api/broadcasts?workspaceId=...: newest first; `cursor` fetches the next page."""

    broadcasts: list[BroadcastSummary]
    cursor: str | None = None


def state_of(record: BroadcastRecord) -> ReportedState:
    return reported_state(
        record.state is BroadcastState.CANCELLED, record.total, record.sent, record.failed, record.cancelled
    )


def enqueue_all(queue: SendQueue, messages: list[QueuedMessage], delay_seconds: int) -> set[str]:
    """Queue every copy, ten per SendMessageBatch, PARALLEL_CALLS at a time; a chunk refused is tried once
    more. Returns the ids of messages that could not be queued."""
    pending = {message.message_id: (message, delay_seconds) for message in messages}
    for _ in range(2):
        items = list(pending.items())
        chunks = [dict(items[i : i + QUEUE_CHUNK]) for i in range(0, len(items), QUEUE_CHUNK)]
        with ThreadPoolExecutor(max_workers=PARALLEL_CALLS, thread_name_prefix="enqueue") as pool:
            for accepted in pool.map(queue.enqueue_many, chunks):
                for message_id in accepted:
                    pending.pop(message_id, None)
        if not pending:
            break
    return set(pending)


def rejections_view(rejections: Sequence[Rejection]) -> list[RejectedRecipient]:
    return [RejectedRecipient(index=r.index, contact_id=r.contact_id, error=r.error) for r in rejections]


def eta_seconds(backlog: int, rate_per_second: float) -> float | None:
    """Seconds until the backlog is sent at the given rate (None when nothing is left)."""
    if backlog <= 0:
        return None
    return round(backlog / rate_per_second, 1)


class BroadcastIntake:
    """The api function's business logic for broadcasts."""

    def __init__(
        self,
        bulk_queues: Mapping[Channel, SendQueue],
        ledger: Ledger,
        broadcasts: BroadcastStore,
        max_sqs_delay_seconds: int,
        workspace_rate: Callable[[str, Channel], float],
        schedules: ScheduleStore,
        recipient_hash: Callable[[str], str | None] = lambda _recipient: None,
    ) -> None:
        self._schedules = schedules
        self._recipient_hash = recipient_hash
        self._queues = bulk_queues
        self._ledger = ledger
        self._broadcasts = broadcasts
        self._max_sqs_delay = max_sqs_delay_seconds
        self._workspace_rate = workspace_rate

    def accept(self, bulk: BulkSmsRequest | BulkEmailRequest, principal: Principal, now: datetime) -> BulkAccepted:
        principal.require_workspace(bulk.workspace_id)
        plan = plan_delivery(bulk.delay, bulk.send_at, now, self._max_sqs_delay)
        accepted, rejected = split_recipients(bulk)
        if not accepted:
            first = rejected[0]
            raise InvalidRequest(
                f"no valid recipient ({len(rejected)} rejected; the first, index {first.index}: {first.error})",
                field="recipients",
            )
        channel = Channel.SMS if isinstance(bulk, BulkSmsRequest) else Channel.EMAIL
        broadcast_id = str(uuid.uuid4())
        messages = [
            build_queued_message(request, str(uuid.uuid4()), now, plan.send_at, broadcast_id) for _, request in accepted
        ]
        retain = retention_epoch(now, self._ledger.retention_days, plan.send_at)
        scheduled = f"broadcast-{broadcast_id}" if plan.via_scheduler else None
        self._broadcasts.create(
            BroadcastRecord(
                broadcast_id=broadcast_id,
                workspace_id=bulk.workspace_id,
                channel=str(channel),
                name=bulk.name,
                total=len(messages),
                rejected=len(rejected),
                send_at=plan.send_at,
                created_at=now,
                updated_at=now,
                retain_until=retain,
                schedule_name=scheduled,
            )
        )
        records = [self._record(message, now, retain, plan.via_scheduler) for message in messages]
        # The records first: a worker that gets a message finds its record (as for single sends).
        self._in_parallel(self._ledger.save_many, records, LEDGER_CHUNK)
        if plan.via_scheduler:
            # Due later than SQS can delay: one schedule for the whole broadcast, not one per recipient.
            self._schedules.create_fanout(broadcast_id, channel, bulk.workspace_id, plan.send_at, now)
            return BulkAccepted(
                broadcast_id=broadcast_id,
                accepted=len(messages),
                rejected=rejections_view(rejected),
                send_at=iso_utc(plan.send_at),
            )
        not_queued = enqueue_all(self._queues[channel], messages, plan.delay_seconds)
        if not_queued:
            failed = [r for r in records if r.message_id in not_queued]
            self._ledger.save_many(
                [r.model_copy(update={"status": MessageStatus.FAILED, "last_error": NOT_QUEUED}) for r in failed]
            )
            # Records only this request ever held (never queued): counted as the write above lands.
            moves = [StatusMove(broadcast_id, MessageStatus.QUEUED, MessageStatus.FAILED, NOT_QUEUED) for _ in failed]
            self._broadcasts.add_progress(progress_steps(moves))
            indexes = {m.message_id: index for m, (index, _) in zip(messages, accepted, strict=True)}
            rejected = sorted(
                [*rejected, *(Rejection(indexes[r.message_id], r.contact_id, NOT_QUEUED) for r in failed)],
                key=lambda r: r.index,
            )
        return BulkAccepted(
            broadcast_id=broadcast_id,
            accepted=len(messages) - len(not_queued),
            rejected=rejections_view(rejected),
            send_at=iso_utc(plan.send_at),
        )

    def _record(self, message: QueuedMessage, now: datetime, retain: int, scheduled: bool) -> MessageRecord:
        return MessageRecord(
            message_id=message.message_id,
            channel=message.channel,
            workspace_id=message.workspace_id,
            contact_id=message.contact_id,
            to=mask_recipient(message.to),
            recipient_hash=self._recipient_hash(message.to),
            status=MessageStatus.SCHEDULED if scheduled else MessageStatus.QUEUED,
            send_at=message.send_at,
            created_at=now,
            updated_at=now,
            expires_at=message.expires_at,
            broadcast_id=message.broadcast_id,
            **sms_parts(message),
            retain_until=retain,
            # Stored only until a scheduled broadcast's fan-out queues it. A broadcast's messages are cancelled
            # with it, not rescheduled one by one, and the copy would double each record's size (2 write
            # units instead of 1, and the accept's time).
            payload=encode_queued_message(message) if scheduled else None,
        )

    @staticmethod
    def _in_parallel(write: Callable[[list[MessageRecord]], None], items: list[MessageRecord], size: int) -> None:
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        with ThreadPoolExecutor(max_workers=PARALLEL_CALLS, thread_name_prefix="ledger") as pool:
            # list(): an error in any chunk is raised here (the request fails; nothing was queued yet).
            list(pool.map(write, chunks))

    def get(self, broadcast_id: str, principal: Principal) -> BroadcastRecord:
        record = self._broadcasts.get(broadcast_id)
        # Someone else's broadcast is answered as unknown, as messages are.
        if record is None or (not principal.is_admin and record.workspace_id != principal.workspace_id):
            raise NotFound("no such broadcast")
        return record

    def progress(self, broadcast_id: str, principal: Principal) -> BroadcastView:
        """The broadcast's counters, one read (queue_services.broadcast_progress): queued is what they leave."""
        return self._view(self.get(broadcast_id, principal))

    def _view(self, record: BroadcastRecord) -> BroadcastView:
        queued = max(0, record.total - record.sending - record.sent - record.failed - record.cancelled)
        backlog = queued + record.sending
        state = state_of(record)
        rate = self._workspace_rate(record.workspace_id, Channel(record.channel))
        return BroadcastView(
            broadcast_id=record.broadcast_id,
            workspace_id=record.workspace_id,
            channel=record.channel,
            name=record.name,
            state=state,
            send_at=iso_utc(record.send_at),
            created_at=iso_utc(record.created_at),
            cancelled_at=iso_utc(record.cancelled_at) if record.cancelled_at else None,
            total=record.total,
            queued=queued,
            sending=record.sending,
            sent=record.sent,
            failed=record.failed,
            failed_by_reason=dict(record.failed_by_reason),
            cancelled=record.cancelled,
            rate_limited=record.rate_limited,
            eta_seconds=eta_seconds(backlog, rate) if state == "active" else None,
        )

    def list(self, workspace_id: str, principal: Principal, limit: int, cursor: str | None) -> BroadcastList:
        principal.require_workspace(workspace_id)
        records, next_cursor = self._broadcasts.list_for_workspace(workspace_id, limit, cursor)
        return BroadcastList(
            broadcasts=[
                BroadcastSummary(
                    broadcast_id=r.broadcast_id,
                    channel=r.channel,
                    name=r.name,
                    state=state_of(r),
                    total=r.total,
                    send_at=iso_utc(r.send_at),
                    created_at=iso_utc(r.created_at),
                )
                for r in records
            ],
            cursor=next_cursor,
        )

    def cancel(self, broadcast_id: str, principal: Principal, now: datetime) -> BroadcastView:
        """Cancel what is not yet sent: the broadcast is marked cancelled at once, and each of its messages
        is cancelled in the ledger by the worker that meets it (its copy queued, or still being queued).

        A scheduled broadcast not yet fired has its schedule deleted and its fan-out order put on the bulk
        queue now: the worker that gets it cancels the scheduled messages (queue_services.fanout), in
        seconds, outside this request. Cancelling 10,000 of them here took 100 transactions in a row, and
        timed the api out on the local stack (bench/RESULTS.md); a request's work should not grow with the
        broadcast. Already fired (or firing): the fan-out sees the cancel and cancels them itself. A broadcast
        already done (nothing queued or sending) is left done: there is nothing to cancel."""
        record = self.get(broadcast_id, principal)
        if state_of(record) == "done":
            return self._view(record)  # nothing left to cancel: it stays done
        if record.state is BroadcastState.ACTIVE and self._broadcasts.cancel(record, now) is None:
            raise Conflict("the broadcast changed while being cancelled; look at it again")
        if record.schedule_name is not None:
            channel = Channel(record.channel)
            self._schedules.delete(channel, record.schedule_name)
            self._queues[channel].send_order(encode_fanout_order(broadcast_id, channel), record.workspace_id)
        return self.progress(broadcast_id, principal)
