"""Turns one SQS batch into provider sends, counters, retry decisions and a partial batch response."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import TypeAdapter, ValidationError

from queue_services.channels import Channel
from queue_services.delivery import BatchSender, DeliveryOutcome, OutcomeKind, count_outcomes
from queue_services.errors import DependencyUnavailable, QueueServicesError
from queue_services.ledger import Ledger, MessageRecord, MessageStatus
from queue_services.metrics import MetricsStore, add_batch_metrics
from queue_services.models import Counters, QueuedMessage
from queue_services.observability import logger, metrics
from queue_services.queueing import SendQueue
from queue_services.retry import RetryPolicy, retry_delay_seconds

_QUEUED_MESSAGE = TypeAdapter(QueuedMessage)


class RetryLater(QueueServicesError):
    """Raised for a record SQS should deliver again (rate-limited, transient or deferred)."""


class UnreadableRecord(QueueServicesError):
    """Raised for a record whose body is not a queued message of this channel; it ends in the DLQ."""


# A message due within this is kept and sent at its exact time by the sender; one due later is hidden in
# SQS until shortly before its time (visibility timeouts count whole seconds, polls add up to a second).
HOLD_THRESHOLD = timedelta(seconds=3)
HOLD_MARGIN_SECONDS = 2
FINAL = (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.CANCELLED)


def ledger_changes(
    outcome: DeliveryOutcome, record: MessageRecord, dead_lettered: bool, now: datetime
) -> dict[str, Any]:
    """The record's new fields after one delivery's outcome."""
    changes: dict[str, Any] = {"updated_at": now}
    attempted = outcome.kind is not OutcomeKind.DEFERRED and not outcome.replayed
    if attempted:
        changes["attempts"] = record.attempts + 1
    if outcome.kind is OutcomeKind.SENT:
        changes.update(status=MessageStatus.SENT, sent_at=record.sent_at or now, dead_lettered=False, payload=None)
        changes["provider_message_id"] = outcome.provider_message_id or record.provider_message_id
    elif outcome.kind is OutcomeKind.PERMANENT:
        changes.update(status=MessageStatus.FAILED, last_error=outcome.reason, payload=None)
    else:
        changes.update(status=MessageStatus.QUEUED)
        if attempted:
            changes["last_error"] = outcome.reason
        if dead_lettered and outcome.kind is OutcomeKind.TRANSIENT:
            changes["dead_lettered"] = True
    return changes


def parse_queued_message(body: str, channel: Channel) -> QueuedMessage:
    message = _QUEUED_MESSAGE.validate_python(json.loads(body))
    if message.channel is not channel:
        raise ValueError(f"a {message.channel} message on the {channel} queue")
    return message


@dataclass(frozen=True)
class RetryQueues:
    """Where retries go: the send queue (visibility changes, re-queued copies) and its dead-letter queue."""

    send: SendQueue
    dead_letter: SendQueue
    max_receive_count: int


class ChannelWorker:
    """The body of sms_worker and email_worker.

    raise_on_entire_batch_failure is off on purpose: a batch in which every message was rate-limited or
    deferred is provider back-pressure, not a function error. Every record to retry is named in
    batchItemFailures instead, so SQS redelivers exactly those.

    Retries (README "Retries and backoff"): a retryable record is hidden with ChangeMessageVisibility
    for its delay. A record whose receive count is one short of maxReceiveCount is re-queued as a fresh
    copy (attempts carried in the body) instead, so throttling can never dead-letter it; a record still
    failing transiently after retry_max_attempts deliveries is dead-lettered with its last error.
    """

    def __init__(
        self,
        channel: Channel,
        sender: BatchSender,
        metrics_store: MetricsStore,
        queues: RetryQueues,
        retry_policy: RetryPolicy,
        safety_margin_seconds: float,
        ledger: Ledger | None = None,
        on_invocation: Callable[[Any], None] = lambda context: None,
    ) -> None:
        self._ledger = ledger
        self._channel = channel
        self._sender = sender
        self._metrics_store = metrics_store
        self._queues = queues
        self._retry_policy = retry_policy
        self._margin = safety_margin_seconds
        self._on_invocation = on_invocation

    def process(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records") or []
        if not records:
            # BatchProcessor raises on an empty batch; an empty batch has nothing to fail.
            return {"batchItemFailures": []}
        self._on_invocation(context)
        started = time.monotonic()
        messages: dict[str, QueuedMessage] = {}
        for record in records:
            try:
                messages[record["messageId"]] = parse_queued_message(record["body"], self._channel)
            except (ValidationError, ValueError, KeyError, TypeError) as exc:
                logger.error(
                    "unreadable record", extra={"sqs_message_id": record.get("messageId"), "error": str(exc)[:200]}
                )
        deadline = started + context.get_remaining_time_in_millis() / 1000 - self._margin
        now = datetime.now(UTC)
        ledger_records, held = self._check_ledger(messages, now)
        to_send = {sqs_id: message for sqs_id, message in messages.items() if sqs_id not in held}
        outcomes = dict(zip(to_send, self._sender.send_all(list(to_send.values()), deadline), strict=True))
        outcomes.update(held)
        self._record_counters(outcomes.values(), len(records), started)
        settled, dead_lettered = self._schedule_retries(records, messages, outcomes)
        self._save_ledger(outcomes, ledger_records, dead_lettered, now)

        def check_record(record: SQSRecord) -> None:
            outcome = outcomes.get(record.message_id)
            if outcome is None:
                raise UnreadableRecord("body is not a queued message of this channel")
            if outcome.kind.retryable and record.message_id not in settled:
                raise RetryLater(f"{outcome.kind}: {outcome.reason or ''}")

        # A processor per batch: it holds that batch's records and results, and nothing of the previous one.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response = process_partial_response(
            event=event, record_handler=check_record, processor=processor, context=context
        )
        return dict(response)

    def _check_ledger(
        self, messages: dict[str, QueuedMessage], now: datetime
    ) -> tuple[dict[str, MessageRecord], dict[str, DeliveryOutcome]]:
        """Read the batch's records (one batched read), hold back what must not be sent now, and claim the
        rest (`sending`, one transaction per 100). Returns the records and the held-back outcomes."""
        if self._ledger is None or not messages:
            return {}, {}
        records = self._ledger.get_many(message.message_id for message in messages.values())
        held: dict[str, DeliveryOutcome] = {}
        claims: dict[str, int] = {}
        for sqs_id, message in messages.items():
            ids = (message.message_id, message.workspace_id)
            record = records.get(message.message_id)
            if record is None:
                continue  # accepted before the ledger existed, or its record expired: send without one
            if record.status in FINAL or record.version != message.version:
                held[sqs_id] = DeliveryOutcome(*ids, OutcomeKind.SKIPPED, f"ledger says {record.status.value}")
            elif message.send_at > now + HOLD_THRESHOLD:
                # A scheduled message lands up to a minute early (Scheduler's precision): hide it until just
                # before its send time; the sender then waits out the rest, to the second.
                wait = (message.send_at - now).total_seconds() - HOLD_MARGIN_SECONDS
                held[sqs_id] = DeliveryOutcome(*ids, OutcomeKind.DEFERRED, "before its send time", retry_after=wait)
            else:
                claims[message.message_id] = message.version
        claimed = self._ledger.claim_for_sending(claims, now)
        for sqs_id, message in messages.items():
            if message.message_id in claims and message.message_id not in claimed:
                ids = (message.message_id, message.workspace_id)
                held[sqs_id] = DeliveryOutcome(*ids, OutcomeKind.SKIPPED, "cancelled or moved while queued")
        return records, held

    def _save_ledger(
        self,
        outcomes: dict[str, DeliveryOutcome],
        records: dict[str, MessageRecord],
        dead_lettered: set[str],
        now: datetime,
    ) -> None:
        """Write the batch's new statuses (whole records, 25 per batched write)."""
        if self._ledger is None:
            return
        updates = []
        for sqs_id, outcome in outcomes.items():
            record = records.get(outcome.message_id)
            if record is None or outcome.kind is OutcomeKind.SKIPPED:
                continue
            if outcome.kind is OutcomeKind.DEFERRED and record.status is not MessageStatus.SENDING:
                continue  # held before the claim: the record did not change
            updates.append(record.model_copy(update=ledger_changes(outcome, record, sqs_id in dead_lettered, now)))
        try:
            self._ledger.save_many(updates)
        except DependencyUnavailable:
            # Sends are done and recorded by idempotency; a stale status is better than sending again.
            logger.exception("could not save ledger statuses", extra={"count": len(updates)})

    def _schedule_retries(
        self, records: list[dict[str, Any]], messages: dict[str, QueuedMessage], outcomes: dict[str, DeliveryOutcome]
    ) -> tuple[set[str], set[str]]:
        """Apply the retry policy; return the SQS ids handled by a copy (re-queued or dead-lettered), and
        the dead-lettered ones among them."""
        policy, queues = self._retry_policy, self._queues
        hide: dict[str, int] = {}
        requeue: dict[str, tuple[QueuedMessage, int]] = {}
        dead_letter: dict[str, QueuedMessage] = {}
        for record in records:
            sqs_id = record["messageId"]
            outcome = outcomes.get(sqs_id)
            if outcome is None or not outcome.kind.retryable:
                continue
            if outcome.kind is OutcomeKind.DEFERRED and outcome.retry_after is not None:
                # Early: hide it until its send time; that is neither a failure nor an attempt.
                hide[record["receiptHandle"]] = retry_delay_seconds(outcome, 1, policy.base_seconds, policy.cap_seconds)
                continue
            receive_count = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
            message = messages[sqs_id]
            attempts = message.attempts + receive_count
            delay = retry_delay_seconds(outcome, attempts, policy.base_seconds, policy.cap_seconds)
            if outcome.kind is OutcomeKind.TRANSIENT and attempts >= policy.max_attempts:
                dead_letter[sqs_id] = message.model_copy(update={"attempts": attempts, "last_error": outcome.reason})
            elif receive_count >= queues.max_receive_count - 1:
                copy = message.model_copy(update={"attempts": attempts, "last_error": outcome.reason})
                requeue[sqs_id] = (copy, delay)
            else:
                hide[record["receiptHandle"]] = delay
        if hide:
            queues.send.delay_redelivery(hide)
        settled = queues.send.enqueue_many(requeue)
        buried = queues.dead_letter.enqueue_many({sqs_id: (copy, 0) for sqs_id, copy in dead_letter.items()})
        settled |= buried
        for sqs_id in buried:
            logger.warning(
                "dead-lettered after transient failures",
                extra={"message_id": messages[sqs_id].message_id, "attempts": dead_letter[sqs_id].attempts},
            )
        return settled, buried

    def _record_counters(self, outcomes: Any, batch_size: int, started: float) -> None:
        counts = count_outcomes(outcomes)
        totals = sum(counts.values(), Counters())
        duration_ms = (time.monotonic() - started) * 1000
        add_batch_metrics(metrics, self._channel, totals, batch_size, duration_ms)
        try:
            self._metrics_store.record(self._channel, counts)
        except DependencyUnavailable:
            # The sends already happened: failing the batch now would only redeliver it. Lose a count instead.
            logger.exception(
                "could not record metrics counters", extra={"counts": {k: v.to_wire() for k, v in counts.items()}}
            )
        logger.info(
            "batch done",
            extra={"channel": str(self._channel), "size": batch_size, **totals.to_wire(), "ms": round(duration_ms, 1)},
        )
