"""SQS adapter: puts queued messages on their channel's send queue."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from queue_services.errors import DependencyUnavailable
from queue_services.models import MAX_SQS_DELAY_SECONDS, QueuedMessage


class SendQueue:
    """One channel's send queue."""

    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url

    def enqueue(self, message: QueuedMessage, delay_seconds: int) -> str:
        """Send message with DelaySeconds; the workspace is the MessageGroupId (SQS fair queues)."""
        if not 0 <= delay_seconds <= MAX_SQS_DELAY_SECONDS:
            raise ValueError(f"delay_seconds must be within 0..{MAX_SQS_DELAY_SECONDS}")
        try:
            response = self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=json.dumps(message.to_wire(), separators=(",", ":")),
                DelaySeconds=delay_seconds,
                MessageGroupId=message.workspace_id,
            )
        except (BotoCoreError, ClientError) as exc:
            raise DependencyUnavailable(f"could not enqueue on {self._queue_url}: {type(exc).__name__}") from exc
        return str(response["MessageId"])

    def is_reachable(self) -> bool:
        try:
            self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])
        except (BotoCoreError, ClientError):
            return False
        return True
