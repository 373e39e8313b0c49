"""Turns one SQS batch into provider sends, counters, retry decisions and a partial batch response."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from queue_services.adapters.broadcasts import BroadcastStore
from queue_services.adapters.ledger import Ledger, MessageRecord
from queue_services.adapters.metrics_store import MetricsStore
from queue_services.adapters.send_queue import SendQueue, queue_name
from queue_services.adapters.settlement import Settlement
from queue_services.batch_outcomes import (
    MessageReport,
    ReceivedMessage,
    RetryActions,
    earned_counts,
    ledger_updates,
    message_reports,
    plan_retries,
)
from queue_services.channels import Channel
from queue_services.codec import decode_queued_message
from queue_services.delivery import BatchSender, DeliveryOutcome, OutcomeKind, count_outcomes
from queue_services.errors import DependencyUnavailable, QueueServicesError
from queue_services.fanout import BroadcastFanout, fanout_order
from queue_services.metrics import add_batch_metrics
from queue_services.models import Counters, QueuedMessage
from queue_services.observability import logger, metrics
from queue_services.retry import RetryPolicy
from queue_services.statuses import is_final
from queue_services.workspaces import SettingsCache, WorkspaceSettings


class RetryLater(QueueServicesError):
    """Raised for a record SQS should deliver again (rate-limited, transient or deferred)."""


class UnreadableRecord(QueueServicesError):
    """Raised for a record whose body is not a queued message of this channel; it ends in the DLQ."""


# A message due within this is kept and sent at its exact time by the sender; one due later is hidden in
# SQS until shortly before its time (visibility timeouts count whole seconds, polls add up to a second).
HOLD_THRESHOLD = timedelta(seconds=3)
# Why a cancelled broadcast's message was not sent (its record is cancelled instead).
BROADCAST_CANCELLED = "broadcast cancelled"
# The deadLetterReason of a well-formed message the service never accepted (its ledger record is missing).
NO_LEDGER_RECORD = "no ledger record: not a message this service accepted (or its record expired)"
HOLD_MARGIN_SECONDS = 2
# A paused workspace's messages are looked at again this often (plus the settings cache's TTL): they
# neither fail nor use up retries (deferred), and go within seconds of a resume.
PAUSED_RECHECK_SECONDS = 4


@dataclass(frozen=True)
class RetryQueues:
    """Where retries go: the send queue (visibility changes, re-queued copies) and its dead-letter queue."""

    send: SendQueue
    dead_letter: SendQueue
    max_receive_count: int
    # A broadcasts' queue: its batches give way to single sends in the limiter.
    bulk: bool = False


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
        workspace_settings: SettingsCache | None = None,
        other_queues: Sequence[RetryQueues] = (),
        broadcasts: BroadcastStore | None = None,
        settlement: Settlement | None = None,
        fanout: BroadcastFanout | None = None,
    ) -> None:
        self._fanout = fanout
        self._broadcasts = broadcasts
        # With it, records' final writes carry their counts (exactly once); without, counts come from outcomes.
        self._settlement = settlement
        # A batch comes from one event source: its retries go back to the queue it came from.
        self._queues_by_name = {q.send.name: q for q in (*other_queues, queues)}
        self._ledger = ledger
        self._workspace_settings = workspace_settings
        self._channel = channel
        self._sender = sender
        self._metrics_store = metrics_store
        self._queues = queues
        self._retry_policy = retry_policy
        self._margin = safety_margin_seconds
        self._on_invocation = on_invocation
        # A batch's independent reads (and, after its sends, its independent writes) run side by side: each
        # round trip before the first send or after the last one is time the environment sends nothing.
        # Made once per environment; one invocation at a time uses it.
        self._side = ThreadPoolExecutor(max_workers=2, thread_name_prefix="batch-io")

    def process(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records") or []
        if not records:
            # BatchProcessor raises on an empty batch; an empty batch has nothing to fail.
            return {"batchItemFailures": []}
        self._on_invocation(context)
        queues = self._queues_for(records)
        started = time.monotonic()
        orders = self._fanout_orders(records)
        received, unreadable = self._parse([record for record in records if record["messageId"] not in orders])
        messages = {item.sqs_id: item.message for item in received}
        deadline = started + context.get_remaining_time_in_millis() / 1000 - self._margin
        now = datetime.now(UTC)
        settings_read = self._side.submit(self._read_settings, messages)
        broadcasts_read = self._side.submit(self._cancelled_broadcasts, list(messages.values()))
        as_read = self._read_records(messages)
        workspaces, unsettled = settings_read.result()
        ledger_records, held, unrecorded = self._check_ledger(
            messages, now, workspaces, as_read, broadcasts_read.result()
        )
        if unrecorded:
            # Every message the api accepts has its record first: one without was never accepted (or was
            # forged). Refused, never sent, and not counted against its workspace.
            bodies = {record["messageId"]: str(record.get("body") or "") for record in records}
            unreadable.update({sqs_id: (bodies[sqs_id], NO_LEDGER_RECORD) for sqs_id in unrecorded})
            received = [item for item in received if item.sqs_id not in unrecorded]
            messages = {sqs_id: m for sqs_id, m in messages.items() if sqs_id not in unrecorded}
            for sqs_id in unrecorded:
                unsettled.pop(sqs_id, None)
        # Not a message of this channel, or not one the service accepted: no retry can change that. To the
        # DLQ at once, with the reason.
        buried = queues.dead_letter.bury_unreadable(unreadable) if unreadable else set()
        held.update(unsettled)
        to_send = {sqs_id: message for sqs_id, message in messages.items() if sqs_id not in held}
        sent = self._sender.send_all(
            list(to_send.values()),
            deadline,
            senders={ws: settings.sender(self._channel) for ws, settings in workspaces.items()},
            caps={ws: settings.cap(self._channel) for ws, settings in workspaces.items()},
            bulk=queues.bulk,
        )
        outcomes = dict(zip(to_send, sent, strict=True))
        outcomes.update(held)
        fanned_out = self._run_fanouts(orders, now)
        counted = self._side.submit(self._record_counters, list(outcomes.values()), len(records), started)
        counted_429s = self._side.submit(self._count_broadcast_429s, to_send, outcomes)
        actions = plan_retries(received, outcomes, self._retry_policy, queues.max_receive_count)
        settled, dead_lettered = self._apply_retries(actions, queues)
        self._save_ledger(ledger_updates(outcomes, ledger_records, dead_lettered, now))
        counted.result()
        counted_429s.result()
        reports = message_reports(received, outcomes, actions, settled, dead_lettered)
        log_reports(self._channel, reports, len(records) - len(received), started)

        def check_record(record: SQSRecord) -> None:
            if record.message_id in orders:
                if record.message_id not in fanned_out:
                    raise RetryLater("the broadcast's fan-out is not finished")
                return
            outcome = outcomes.get(record.message_id)
            if outcome is None:
                if record.message_id in buried:
                    return  # dead-lettered above: delete it from the send queue
                raise UnreadableRecord("body is not a queued message of this channel")
            if outcome.kind.retryable and record.message_id not in settled:
                raise RetryLater(f"{outcome.kind}: {outcome.reason or ''}")

        # A processor per batch: it holds that batch's records and results, and nothing of the previous one.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response = process_partial_response(
            event=event, record_handler=check_record, processor=processor, context=context
        )
        return dict(response)

    def _parse(self, records: list[dict[str, Any]]) -> tuple[list[ReceivedMessage], dict[str, tuple[str, str]]]:
        """The batch's queued messages, and the unreadable records (SQS id -> (body, reason)), logged."""
        received = []
        unreadable: dict[str, tuple[str, str]] = {}
        for record in records:
            try:
                received.append(
                    ReceivedMessage(
                        sqs_id=record["messageId"],
                        receipt_handle=record["receiptHandle"],
                        receive_count=int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")),
                        message=decode_queued_message(record["body"], self._channel),
                    )
                )
            except (ValidationError, ValueError, KeyError, TypeError) as exc:
                reason = unreadable_reason(exc)
                logger.error("unreadable record", extra={"sqs_message_id": record.get("messageId"), "error": reason})
                if isinstance(record.get("messageId"), str):
                    unreadable[record["messageId"]] = (str(record.get("body") or ""), reason)
        return received, unreadable

    def _read_settings(
        self, messages: dict[str, QueuedMessage]
    ) -> tuple[dict[str, WorkspaceSettings], dict[str, DeliveryOutcome]]:
        """The batch's workspaces' settings (one batched read, cached); if they cannot be read, every
        message is deferred: sending without them could send for a paused workspace or from the wrong ID."""
        if self._workspace_settings is None or not messages:
            return {}, {}
        try:
            return self._workspace_settings.for_workspaces(m.workspace_id for m in messages.values()), {}
        except DependencyUnavailable as exc:
            logger.warning("could not read workspace settings", extra={"error": str(exc)})
            return {}, {
                sqs_id: DeliveryOutcome(
                    m.message_id, m.workspace_id, OutcomeKind.DEFERRED, "workspace settings unavailable", retry_after=1
                )
                for sqs_id, m in messages.items()
            }

    def _read_records(self, messages: dict[str, QueuedMessage]) -> dict[str, MessageRecord]:
        """The batch's ledger records (one batched read)."""
        if self._ledger is None or not messages:
            return {}
        return self._ledger.get_many(message.message_id for message in messages.values())

    def _check_ledger(
        self,
        messages: dict[str, QueuedMessage],
        now: datetime,
        workspaces: dict[str, WorkspaceSettings],
        records: dict[str, MessageRecord],
        cancelled_broadcasts: set[str],
    ) -> tuple[dict[str, MessageRecord], dict[str, DeliveryOutcome], set[str]]:
        """From the batch's records as read, hold back what must not be sent now (paused workspaces and
        cancelled broadcasts included), and claim the rest (`sending`, one transaction per 100). Returns the
        records, the held-back outcomes, and the SQS ids of messages that have no record (to be refused)."""
        paused = {ws for ws, settings in workspaces.items() if settings.paused}
        if self._ledger is None or not messages:
            return {}, self._hold_paused(messages, paused), set()
        held: dict[str, DeliveryOutcome] = {}
        claims: dict[str, int] = {}
        unrecorded: set[str] = set()
        to_cancel: dict[str, int] = {}
        for sqs_id, message in messages.items():
            ids = (message.message_id, message.workspace_id)
            record = records.get(message.message_id)
            if record is not None and message.broadcast_id in cancelled_broadcasts and not is_final(record.status):
                to_cancel[message.message_id] = record.version
                held[sqs_id] = DeliveryOutcome(*ids, OutcomeKind.SKIPPED, BROADCAST_CANCELLED)
                continue
            if record is None:
                logger.error("no ledger record: refused", extra={"message_id": message.message_id})
                unrecorded.add(sqs_id)
                continue
            if is_final(record.status) or record.version != message.version:
                held[sqs_id] = DeliveryOutcome(*ids, OutcomeKind.SKIPPED, f"ledger says {record.status.value}")
            elif message.workspace_id in paused:
                held.update(self._hold_paused({sqs_id: message}, paused))
            elif message.send_at > now + HOLD_THRESHOLD:
                # A scheduled message lands up to a minute early (Scheduler's precision): hide it until just
                # before its send time; the sender then waits out the rest, to the second.
                wait = (message.send_at - now).total_seconds() - HOLD_MARGIN_SECONDS
                held[sqs_id] = DeliveryOutcome(*ids, OutcomeKind.DEFERRED, "before its send time", retry_after=wait)
            else:
                claims[message.message_id] = message.version
        # Each record's broadcast and status as read: what its move counts in the broadcast's progress.
        origins = {message_id: (record.broadcast_id, record.status) for message_id, record in records.items()}
        if to_cancel:
            self._ledger.cancel_many(to_cancel, now, origins)
        # A capped workspace's messages past what this batch can send for it go back untried and unclaimed.
        candidates = {sqs_id: message for sqs_id, message in messages.items() if message.message_id in claims}
        caps = {workspace: settings.cap(self._channel) for workspace, settings in workspaces.items()}
        over_cap = self._sender.hold_over_caps(candidates, caps)
        by_message = {outcome.message_id: outcome for outcome in over_cap.values()}
        for sqs_id, message in candidates.items():
            if message.message_id in by_message:
                # Every copy of it in the batch (SQS may deliver one twice): none of them is claimed.
                held[sqs_id] = over_cap.get(sqs_id) or by_message[message.message_id]
                claims.pop(message.message_id, None)
        claimed = self._ledger.claim_for_sending(claims, now, origins)
        for sqs_id, message in messages.items():
            if message.message_id in claims and message.message_id not in claimed:
                ids = (message.message_id, message.workspace_id)
                held[sqs_id] = DeliveryOutcome(*ids, OutcomeKind.SKIPPED, "cancelled or moved while queued")
        return records, held, unrecorded

    def _fanout_orders(self, records: list[dict[str, Any]]) -> dict[str, str]:
        """The batch's fan-out orders (a scheduled broadcast's schedule fired): SQS id -> broadcastId."""
        if self._fanout is None:
            return {}
        orders = {record["messageId"]: fanout_order(str(record.get("body") or "")) for record in records}
        return {sqs_id: broadcast_id for sqs_id, broadcast_id in orders.items() if broadcast_id is not None}

    def _run_fanouts(self, orders: dict[str, str], now: datetime) -> set[str]:
        """Run each order; the SQS ids of those finished (the others come back and continue)."""
        done: set[str] = set()
        for sqs_id, broadcast_id in orders.items():
            assert self._fanout is not None
            try:
                self._fanout.run(broadcast_id, now)
            except DependencyUnavailable as exc:
                logger.warning(
                    "broadcast fan-out not finished", extra={"broadcast_id": broadcast_id, "error": str(exc)}
                )
                continue
            done.add(sqs_id)
        return done

    def _count_broadcast_429s(self, messages: dict[str, QueuedMessage], outcomes: dict[str, DeliveryOutcome]) -> None:
        """Each broadcast's provider 429s in this batch, one write per broadcast."""
        counts: dict[str, int] = {}
        for sqs_id, message in messages.items():
            if message.broadcast_id is not None and outcomes[sqs_id].kind is OutcomeKind.RATE_LIMITED:
                counts[message.broadcast_id] = counts.get(message.broadcast_id, 0) + 1
        if self._broadcasts is None or not counts:
            return
        try:
            self._broadcasts.add_rate_limited(counts)
        except DependencyUnavailable as exc:
            logger.warning("could not count broadcasts' 429s", extra={"error": str(exc)})

    def _cancelled_broadcasts(self, messages: Iterable[QueuedMessage]) -> set[str]:
        """The batch's cancelled broadcasts (one batched read per batch); if they cannot be read, none: a
        cancel that loses that race sends what a cancel a moment later would also have let go."""
        ids = {m.broadcast_id for m in messages if m.broadcast_id is not None}
        if self._broadcasts is None or not ids:
            return set()
        try:
            return self._broadcasts.cancelled_among(ids)
        except DependencyUnavailable as exc:
            logger.warning("could not read broadcast states", extra={"error": str(exc)})
            return set()

    @staticmethod
    def _hold_paused(messages: dict[str, QueuedMessage], paused: set[str]) -> dict[str, DeliveryOutcome]:
        kind, wait = OutcomeKind.DEFERRED, PAUSED_RECHECK_SECONDS
        return {
            sqs_id: DeliveryOutcome(m.message_id, m.workspace_id, kind, "workspace paused", retry_after=wait)
            for sqs_id, m in messages.items()
            if m.workspace_id in paused
        }

    def _save_ledger(self, updates: list[MessageRecord]) -> None:
        """Write the batch's new statuses: with the counts they earn, each record only if it is still this
        delivery's (Settlement), else whole records, 25 per batched write."""
        if self._ledger is None:
            return
        try:
            if self._settlement is not None:
                self._settlement.settle(self._channel, updates, earned_counts)
            else:
                self._ledger.save_many(updates)
        except DependencyUnavailable:
            # Sends are done and recorded by idempotency; a stale status is better than sending again.
            logger.exception("could not save ledger statuses", extra={"count": len(updates)})

    def _queues_for(self, records: list[dict[str, Any]]) -> RetryQueues:
        """The queue the batch came from (its records' eventSourceARN), or the send queue if it does not say
        (a hand-made event)."""
        source = str(records[0].get("eventSourceARN") or "")
        return self._queues_by_name.get(queue_name(source), self._queues)

    def _apply_retries(self, actions: RetryActions, queues: RetryQueues) -> tuple[set[str], set[str]]:
        """Hide, re-queue and dead-letter as planned; return the SQS ids handled by an accepted copy
        (re-queued or dead-lettered), and the dead-lettered ones among them."""
        if actions.hide:
            queues.send.delay_redelivery(actions.hide)
        settled = queues.send.enqueue_many(actions.requeue)
        buried = queues.dead_letter.enqueue_many({sqs_id: (copy, 0) for sqs_id, copy in actions.dead_letter.items()})
        return settled | buried, buried

    def _record_counters(self, outcomes: Any, batch_size: int, started: float) -> None:
        counts = count_outcomes(outcomes)
        totals = sum(counts.values(), Counters())
        duration_ms = (time.monotonic() - started) * 1000
        add_batch_metrics(metrics, self._channel, totals, batch_size, duration_ms)
        if self._settlement is not None:
            # Sent and failed are counted with the records' final writes; 429s (attempts, not outcomes) here.
            counts = {ws: Counters(rate_limited=c.rate_limited) for ws, c in counts.items()}
        try:
            self._metrics_store.record(self._channel, counts)
            self._metrics_store.record_minute(self._channel, datetime.now(UTC), totals)
        except DependencyUnavailable:
            # The sends already happened: failing the batch now would only redeliver it. Lose a count instead.
            logger.exception(
                "could not record metrics counters", extra={"counts": {k: v.to_wire() for k, v in counts.items()}}
            )


_UNION_TAG = {"union_tag_not_found": "channel", "union_tag_invalid": "channel"}


def unreadable_reason(error: Exception) -> str:
    """Why a record is not a queued message, naming the fields at fault and never echoing their values."""
    prefix = "not a queued message of this channel"
    if isinstance(error, ValidationError):
        if any(item["type"] == "json_invalid" for item in error.errors()):
            return f"{prefix}: the body is not JSON"
        # A body without a known channel fails the union's tag check before any field is looked at.
        fields = sorted(
            {
                ".".join(str(part) for part in item["loc"]) or _UNION_TAG.get(item["type"], "body")
                for item in error.errors()
            }
        )
        return f"{prefix}: bad or missing {', '.join(fields)}"[:300]
    if isinstance(error, ValueError):
        return f"{prefix}: {error}"[:300]  # our own texts (another channel's message), no values in them
    return f"{prefix}: {type(error).__name__} (no body or message id)"


def log_reports(channel: Channel, reports: list[MessageReport], unreadable: int, started: float) -> None:
    """One line per message (failures and dead letters as warnings), then the batch's tally."""
    tally: dict[str, int] = {}
    for report in reports:
        tally[report.event] = tally.get(report.event, 0) + 1
        extra = {
            key: value for key, value in vars(report).items() if key not in ("event", "warning") and value is not None
        }
        (logger.warning if report.warning else logger.info)(f"message {report.event}", extra=extra)
    if unreadable:
        tally["unreadable"] = unreadable
    ms = round((time.monotonic() - started) * 1000, 1)
    logger.info("batch done", extra={"channel": str(channel), "size": len(reports) + unreadable, **tally, "ms": ms})
