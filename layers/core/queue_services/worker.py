"""Turns one SQS batch into provider sends, counters and a partial batch response."""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import TypeAdapter, ValidationError

from queue_services.channels import Channel
from queue_services.delivery import BatchSender, DeliveryOutcome, count_outcomes
from queue_services.errors import DependencyUnavailable, QueueServicesError
from queue_services.metrics import MetricsStore, publish_batch_metrics
from queue_services.models import Counters, QueuedMessage
from queue_services.observability import logger
from queue_services.queueing import SendQueue
from queue_services.retry import RetryPolicy, retry_delay_seconds

_QUEUED_MESSAGE = TypeAdapter(QueuedMessage)


class RetryLater(QueueServicesError):
    """Raised for a record SQS should deliver again (rate-limited, transient or deferred)."""


class UnreadableRecord(QueueServicesError):
    """Raised for a record whose body is not a queued message of this channel; it ends in the DLQ."""


def parse_queued_message(body: str, channel: Channel) -> QueuedMessage:
    message = _QUEUED_MESSAGE.validate_python(json.loads(body))
    if message.channel is not channel:
        raise ValueError(f"a {message.channel} message on the {channel} queue")
    return message


class ChannelWorker:
    """The body of sms_worker and email_worker.

    raise_on_entire_batch_failure is off on purpose: a batch in which every message was rate-limited or
    deferred is not a function error, and raising would hide which records are fine to delete (none here,
    but the response is then explicit) and count provider back-pressure as Lambda errors. Every retryable
    record is named in batchItemFailures instead, so SQS redelivers exactly those.
    """

    def __init__(
        self,
        channel: Channel,
        sender: BatchSender,
        metrics_store: MetricsStore,
        send_queue: SendQueue,
        retry_policy: RetryPolicy,
        safety_margin_seconds: float,
    ) -> None:
        self._channel = channel
        self._sender = sender
        self._metrics_store = metrics_store
        self._send_queue = send_queue
        self._retry_policy = retry_policy
        self._margin = safety_margin_seconds

    def process(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records") or []
        if not records:
            # BatchProcessor raises on an empty batch; an empty batch has nothing to fail.
            return {"batchItemFailures": []}
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
        outcomes = dict(zip(messages, self._sender.send_all(list(messages.values()), deadline), strict=True))
        self._record_counters(outcomes.values(), len(records), started)
        self._delay_retries(records, outcomes)

        def check_record(record: SQSRecord) -> None:
            outcome = outcomes.get(record.message_id)
            if outcome is None:
                raise UnreadableRecord("body is not a queued message of this channel")
            if outcome.kind.retryable:
                raise RetryLater(f"{outcome.kind}: {outcome.reason or ''}")

        # A processor per invocation: it holds the batch's state, and the local stack runs invocations in threads.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        response = process_partial_response(
            event=event, record_handler=check_record, processor=processor, context=context
        )
        return dict(response)

    def _delay_retries(self, records: list[dict[str, Any]], outcomes: dict[str, DeliveryOutcome]) -> None:
        """Hide each retryable record for its retry delay, so SQS redelivers it then, not after the full timeout."""
        delays = {}
        for record in records:
            outcome = outcomes.get(record["messageId"])
            if outcome is None or not outcome.kind.retryable:
                continue
            receive_count = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
            delays[record["receiptHandle"]] = retry_delay_seconds(
                outcome, receive_count, self._retry_policy.base_seconds, self._retry_policy.cap_seconds
            )
        if delays:
            self._send_queue.delay_redelivery(delays)

    def _record_counters(self, outcomes: Any, batch_size: int, started: float) -> None:
        counts = count_outcomes(outcomes)
        totals = sum(counts.values(), Counters())
        duration_ms = (time.monotonic() - started) * 1000
        publish_batch_metrics(self._channel, totals, batch_size, duration_ms)
        try:
            self._metrics_store.record(self._channel, counts)
        except DependencyUnavailable:
            # The sends already happened: failing the batch now would send them twice. Lose a count instead.
            logger.exception(
                "could not record metrics counters", extra={"counts": {k: v.to_wire() for k, v in counts.items()}}
            )
        logger.info(
            "batch done",
            extra={"channel": str(self._channel), "size": batch_size, **totals.to_wire(), "ms": round(duration_ms, 1)},
        )
