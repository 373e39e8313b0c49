"""Dead-letter queues: peek without consuming, redrive to the send queue (StartMessageMoveTask), purge."""

from __future__ import annotations

import json
from typing import Any

from queue_services.adapters.aws import call_aws, call_aws_or_refusal
from queue_services.adapters.send_queue import DEAD_LETTER_REASON
from queue_services.channels import Channel
from queue_services.errors import Conflict
from queue_services.masking import mask_recipient
from queue_services.models import DeadLetter, DeadLetterPeek, RedriveStarted

# Peeked messages are hidden this long, then made visible again at once; they are never deleted.
PEEK_VISIBILITY_SECONDS = 5


class DeadLetterQueue:
    """One channel's DLQ and the send queue it drains back into."""

    def __init__(self, sqs_client: Any, channel: Channel, dlq_url: str, send_queue_url: str) -> None:
        self._sqs = sqs_client
        self._channel = channel
        self._url = dlq_url
        self._send_url = send_queue_url

    def peek(self, limit: int) -> DeadLetterPeek:
        received: list[dict[str, Any]] = []
        while len(received) < limit:
            batch = self._call(
                "receive_message",
                QueueUrl=self._url,
                MaxNumberOfMessages=min(10, limit - len(received)),
                VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=[DEAD_LETTER_REASON],
            ).get("Messages", [])
            if not batch:
                break
            received.extend(batch)
        self._release(received)
        depth = int(self._attributes(self._url, "ApproximateNumberOfMessages"))
        return DeadLetterPeek(
            channel=self._channel, approximate_count=depth, messages=[self._describe(m) for m in received]
        )

    def redrive(self) -> RedriveStarted:
        """Move every dead letter back to the send queue (SQS does it; the local stack emulates it)."""
        source = self._attributes(self._url, "QueueArn")
        destination = self._attributes(self._send_url, "QueueArn")
        answer, refusal = call_aws_or_refusal(
            self._sqs,
            "start_message_move_task",
            "redrive",
            ("UnsupportedOperation", "InvalidParameterValue"),
            SourceArn=source,
            DestinationArn=destination,
        )
        if answer is None:
            message = ((refusal or {}).get("Error") or {}).get("Message", "")
            raise Conflict(f"redrive refused: {message}")
        return RedriveStarted(
            channel=self._channel, task_handle=answer["TaskHandle"], source=source, destination=destination
        )

    def purge(self) -> None:
        _, refusal = call_aws_or_refusal(
            self._sqs,
            "purge_queue",
            "purge",
            ("AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress"),
            QueueUrl=self._url,
        )
        if refusal is not None:
            raise Conflict("a purge of this queue already ran in the last 60 seconds")

    def _attributes(self, url: str, name: str) -> str:
        value: str = self._call("get_queue_attributes", QueueUrl=url, AttributeNames=[name])["Attributes"][name]
        return value

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        return call_aws(self._sqs, operation, "dead-letter queue", **kwargs)

    def _release(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ]
            self._call("change_message_visibility_batch", QueueUrl=self._url, Entries=entries)

    @staticmethod
    def _describe(message: dict[str, Any]) -> DeadLetter:
        attributes = message.get("Attributes", {})
        receives = int(attributes.get("ApproximateReceiveCount", "1")) - 1  # minus this peek
        try:
            body = json.loads(message["Body"])
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        try:
            attempts = int(body.get("attempts") or 0)
        except (TypeError, ValueError):
            attempts = 0
        to = body.get("to")
        reason = (message.get("MessageAttributes") or {}).get(DEAD_LETTER_REASON, {}).get("StringValue")
        return DeadLetter(
            sqs_message_id=message["MessageId"],
            message_id=body.get("messageId"),
            workspace_id=body.get("workspaceId"),
            contact_id=body.get("contactId"),
            to=mask_recipient(to) if isinstance(to, str) else None,
            attempts=max(attempts, receives),
            last_error=body.get("lastError")
            or reason
            or ("moved by the redrive policy: the worker failed or timed out on every delivery" if receives else None),
            sent_timestamp=int(attributes.get("SentTimestamp", "0")),
        )
