"""SQS adapter: puts queued messages on their channel's send queue."""

from __future__ import annotations

from typing import Any

from queue_services.adapters.aws import call_aws
from queue_services.codec import encode_queued_message
from queue_services.errors import DependencyUnavailable
from queue_services.models import MAX_SQS_DELAY_SECONDS, QueuedMessage
from queue_services.observability import logger

# The message attribute that says why a record was dead-lettered when its body could not say it.
DEAD_LETTER_REASON = "deadLetterReason"


def queue_name(url_or_arn: str) -> str:
    """A queue's name from its URL (https://sqs.../123/name) or ARN (arn:aws:sqs:region:123:name)."""
    return url_or_arn.rstrip("/").replace(":", "/").rsplit("/", 1)[-1]


class SendQueue:
    """One channel's send queue."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url

    @property
    def name(self) -> str:
        """The queue's name: the last part of its URL, as of its ARN (an SQS record's eventSourceARN)."""
        return queue_name(self._queue_url)

    def enqueue(self, message: QueuedMessage, delay_seconds: int) -> str:
        """Send message with DelaySeconds; the workspace is the MessageGroupId (SQS fair queues)."""
        if not 0 <= delay_seconds <= MAX_SQS_DELAY_SECONDS:
            raise ValueError(f"delay_seconds must be within 0..{MAX_SQS_DELAY_SECONDS}")
        response = call_aws(
            self._sqs,
            "send_message",
            "send queue",
            QueueUrl=self._queue_url,
            MessageBody=encode_queued_message(message),
            DelaySeconds=delay_seconds,
            MessageGroupId=message.workspace_id,
        )
        return str(response["MessageId"])

    def send_order(self, body: str, group_id: str) -> None:
        """Put an order for the workers on the queue at once (a cancelled broadcast's fan-out order)."""
        call_aws(
            self._sqs, "send_message", "send queue", QueueUrl=self._queue_url, MessageBody=body, MessageGroupId=group_id
        )

    def enqueue_many(self, messages: dict[str, tuple[QueuedMessage, int]]) -> set[str]:
        """Send copies (key -> (message, DelaySeconds)) ten per call; return the keys that were accepted."""
        accepted: set[str] = set()
        items = list(messages.items())
        for start in range(0, len(items), 10):
            chunk = dict(items[start : start + 10])
            entries = [
                {
                    "Id": str(index),
                    "MessageBody": encode_queued_message(message),
                    "DelaySeconds": min(delay, MAX_SQS_DELAY_SECONDS),
                    "MessageGroupId": message.workspace_id,
                }
                for index, (message, delay) in enumerate(chunk.values())
            ]
            keys = list(chunk)
            try:
                answer = call_aws(
                    self._sqs, "send_message_batch", "send queue", QueueUrl=self._queue_url, Entries=entries
                )
            except DependencyUnavailable as exc:
                logger.warning("could not re-queue copies", extra={"error": str(exc), "count": len(entries)})
                continue
            accepted.update(keys[int(entry["Id"])] for entry in answer.get("Successful", []))
        return accepted

    def bury_unreadable(self, records: dict[str, tuple[str, str]]) -> set[str]:
        """Put records that are not queued messages (key -> (body, reason)) here as they came, the reason in
        the attribute deadLetterReason, ten per call; return the keys that were accepted."""
        accepted: set[str] = set()
        items = list(records.items())
        for start in range(0, len(items), 10):
            chunk = items[start : start + 10]
            entries = [
                {
                    "Id": str(index),
                    "MessageBody": body or "(empty)",
                    "MessageAttributes": {DEAD_LETTER_REASON: {"DataType": "String", "StringValue": reason}},
                }
                for index, (_, (body, reason)) in enumerate(chunk)
            ]
            try:
                answer = call_aws(
                    self._sqs, "send_message_batch", "dead-letter queue", QueueUrl=self._queue_url, Entries=entries
                )
            except DependencyUnavailable as exc:
                logger.warning("could not dead-letter unreadable records", extra={"error": str(exc)})
                continue
            accepted.update(chunk[int(entry["Id"])][0] for entry in answer.get("Successful", []))
        return accepted

    def delay_redelivery(self, delays: dict[str, int]) -> None:
        """Set the visibility timeout of received messages (receipt handle -> seconds), ten per call.

        Failures are logged, not raised: a message whose change failed still comes back after the
        queue's own visibility timeout, so nothing is lost.
        """
        items = list(delays.items())
        for start in range(0, len(items), 10):
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                for index, (handle, seconds) in enumerate(items[start : start + 10])
            ]
            try:
                answer = call_aws(
                    self._sqs,
                    "change_message_visibility_batch",
                    "send queue",
                    QueueUrl=self._queue_url,
                    Entries=entries,
                )
            except DependencyUnavailable as exc:
                logger.warning("could not delay redelivery", extra={"error": str(exc), "count": len(entries)})
                continue
            if answer.get("Failed"):
                logger.warning("some redelivery delays were refused", extra={"failed": answer["Failed"]})

    def is_reachable(self) -> bool:
        try:
            call_aws(
                self._sqs, "get_queue_attributes", "send queue", QueueUrl=self._queue_url, AttributeNames=["QueueArn"]
            )
        except DependencyUnavailable:
            return False
        return True
