"""What a batch's delivery outcomes mean: retry actions, ledger changes, counters and log lines (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from queue_services.adapters.ledger import MessageRecord
from queue_services.delivery import BEING_SENT, DeliveryOutcome, OutcomeKind
from queue_services.models import Counters, QueuedMessage
from queue_services.retry import RetryPolicy, retry_delay_seconds
from queue_services.statuses import MessageStatus


@dataclass(frozen=True)
class ReceivedMessage:
    """One SQS record of the batch, parsed."""

    sqs_id: str
    receipt_handle: str
    receive_count: int
    message: QueuedMessage


@dataclass(frozen=True)
class RetryActions:
    """How the batch's retryable records come back.

    hide: receipt handle → seconds (ChangeMessageVisibility); requeue: SQS id → (fresh copy, DelaySeconds),
    for a record about to reach maxReceiveCount; dead_letter: SQS id → copy for the DLQ (attempts used up).
    """

    hide: dict[str, int] = field(default_factory=dict)
    requeue: dict[str, tuple[QueuedMessage, int]] = field(default_factory=dict)
    dead_letter: dict[str, QueuedMessage] = field(default_factory=dict)


def plan_retries(
    received: Iterable[ReceivedMessage],
    outcomes: Mapping[str, DeliveryOutcome],
    policy: RetryPolicy,
    max_receive_count: int,
) -> RetryActions:
    """The retry policy (README "Retries and backoff") applied to each retryable outcome, keyed by SQS id.

    An early, paused or capped message is hidden for its retry_after (neither a failure nor an attempt). A record whose
    receive count is one short of maxReceiveCount is re-queued as a fresh copy, so throttling can never
    dead-letter it; one still failing transiently after max_attempts deliveries is dead-lettered.
    """
    actions = RetryActions()
    for item in received:
        outcome = outcomes.get(item.sqs_id)
        if outcome is None or not outcome.kind.retryable:
            continue
        if outcome.kind is OutcomeKind.DEFERRED and outcome.retry_after is not None:
            # Not an attempt (early, paused, capped): attempts stay, but the receive count still grows.
            wait = retry_delay_seconds(outcome, 1, policy.base_seconds, policy.cap_seconds)
            if item.receive_count >= max_receive_count - 1:
                actions.requeue[item.sqs_id] = (item.message, wait)
            else:
                actions.hide[item.receipt_handle] = wait
            continue
        attempts = item.message.attempts + item.receive_count
        delay = retry_delay_seconds(outcome, attempts, policy.base_seconds, policy.cap_seconds)
        copy = item.message.model_copy(update={"attempts": attempts, "last_error": outcome.reason})
        if outcome.kind is OutcomeKind.TRANSIENT and attempts >= policy.max_attempts:
            actions.dead_letter[item.sqs_id] = copy
        elif item.receive_count >= max_receive_count - 1:
            actions.requeue[item.sqs_id] = (copy, delay)
        else:
            actions.hide[item.receipt_handle] = delay
    return actions


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


def ledger_updates(
    outcomes: Mapping[str, DeliveryOutcome],
    records: Mapping[str, MessageRecord],
    dead_lettered: set[str],
    now: datetime,
) -> list[MessageRecord]:
    """The batch's records with their new statuses (outcomes keyed by SQS id, records by messageId).

    Skipped messages were never claimed, and a message deferred before its claim did not change: neither
    is written.
    """
    updates = []
    for sqs_id, outcome in outcomes.items():
        record = records.get(outcome.message_id)
        if record is None or outcome.kind is OutcomeKind.SKIPPED:
            continue
        if outcome.kind is OutcomeKind.DEFERRED and record.status is not MessageStatus.SENDING:
            continue
        if outcome.reason == BEING_SENT:
            continue  # the delivery sending it settles its record (and counts it)
        updates.append(record.model_copy(update=ledger_changes(outcome, record, sqs_id in dead_lettered, now)))
    return updates


def earned_counts(records: Iterable[MessageRecord]) -> dict[str, Counters]:
    """What records moving to their new statuses count, by workspace (DESIGN §3): sent is a success, failed a
    failure, both in total; a record going back to queued (a retry) counts nothing. Counted only when the
    record's conditional write lands (adapters.settlement), so each message is counted once."""
    counts: dict[str, Counters] = {}
    for record in records:
        success = int(record.status is MessageStatus.SENT)
        failed = int(record.status is MessageStatus.FAILED)
        if success or failed:
            step = Counters(total=1, success=success, failed=failed)
            counts[record.workspace_id] = counts.get(record.workspace_id, Counters()) + step
    return counts


@dataclass(frozen=True)
class MessageReport:
    """What happened to one message in this batch, as its log line says it."""

    event: str  # sent, already sent, failed, dropped, retried, held, dead-lettered
    warning: bool
    message_id: str
    workspace_id: str
    reason: str | None = None
    retry_in_seconds: int | None = None
    attempts: int | None = None


def message_reports(
    received: Iterable[ReceivedMessage],
    outcomes: Mapping[str, DeliveryOutcome],
    actions: RetryActions,
    settled: set[str],
    dead_lettered: set[str],
) -> list[MessageReport]:
    """One report per message of the batch; settled are the SQS ids whose copy was accepted."""
    reports = []
    for item in received:
        outcome = outcomes.get(item.sqs_id)
        if outcome is not None:
            event, warning, retry_in, attempts = _describe(item, outcome, actions, settled, dead_lettered)
            reports.append(
                MessageReport(
                    event, warning, outcome.message_id, outcome.workspace_id, outcome.reason, retry_in, attempts
                )
            )
    return reports


def _describe(
    item: ReceivedMessage,
    outcome: DeliveryOutcome,
    actions: RetryActions,
    settled: set[str],
    dead_lettered: set[str],
) -> tuple[str, bool, int | None, int | None]:
    """(event, is a warning, retry in seconds, attempts) for one message."""
    if outcome.kind is OutcomeKind.SENT:
        return ("already sent" if outcome.replayed else "sent"), False, None, None
    if outcome.kind is OutcomeKind.PERMANENT:
        return "failed", True, None, None
    if outcome.kind is OutcomeKind.SKIPPED:
        return "dropped", False, None, None
    if item.sqs_id in dead_lettered:
        return "dead-lettered", True, None, actions.dead_letter[item.sqs_id].attempts
    if item.sqs_id in settled:
        copy, delay = actions.requeue[item.sqs_id]
        return "retried", False, delay, copy.attempts
    held = outcome.kind is OutcomeKind.DEFERRED and outcome.retry_after is not None
    return ("held" if held else "retried"), False, actions.hide.get(item.receipt_handle), None
