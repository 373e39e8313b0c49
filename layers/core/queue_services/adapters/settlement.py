"""A batch's final ledger writes and the counters they earn, written together: one transaction per 50
records, each record's write conditional on it still being this delivery's (status `sending`, same
version), and the counters only for the writes that land. A crash, a redelivery or a replay then counts
each message exactly once: whichever delivery's transition wins counts it (README "Metrics")."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from queue_services.adapters.aws import call_aws_or_refusal
from queue_services.adapters.ledger import MessageRecord, to_item
from queue_services.adapters.metrics_store import MetricsStore
from queue_services.channels import Channel
from queue_services.errors import DependencyUnavailable
from queue_services.models import Counters
from queue_services.statuses import MessageStatus

# 100 items per transaction: 50 records leave room for a counter item per workspace of those 50.
RECORDS_PER_TRANSACTION = 50
# Concurrent batches of one workspace add to the same counter item: DynamoDB cancels a transaction that
# meets another one on an item (TransactionConflict) and botocore does not retry that.
CONFLICT_RETRIES = 5
CONFLICT_BACKOFF_SECONDS = 0.02


class Settlement:
    """Writes the records a worker owns (claimed: `sending`) with the counts their new statuses earn."""

    def __init__(self, dynamodb_client: Any, ledger_table: str, metrics: MetricsStore) -> None:
        self._ddb = dynamodb_client
        self._table = ledger_table
        self._metrics = metrics

    def settle(
        self,
        channel: Channel,
        records: list[MessageRecord],
        earned: Callable[[list[MessageRecord]], Mapping[str, Counters]],
    ) -> set[str]:
        """Write records and the counters earned(records) for the ones written; return the ids written.
        A record no longer this delivery's (another delivery settled it first) is left as it is, uncounted."""
        written: set[str] = set()
        for start in range(0, len(records), RECORDS_PER_TRANSACTION):
            pending = records[start : start + RECORDS_PER_TRANSACTION]
            conflicts = 0
            while pending:
                counts = {ws: c for ws, c in earned(pending).items() if not c.is_zero}
                items = [self._put(record) for record in pending]
                items += [{"Update": self._metrics.increment(channel, ws, c)} for ws, c in counts.items()]
                _, refusal = call_aws_or_refusal(
                    self._ddb,
                    "transact_write_items",
                    "ledger settlement",
                    "TransactionCanceledException",
                    TransactItems=items,
                )
                if refusal is None:
                    written.update(record.message_id for record in pending)
                    break
                reasons = refusal.get("CancellationReasons") or []
                lost = {
                    record.message_id
                    for record, reason in zip(pending, reasons[: len(pending)], strict=False)
                    if reason.get("Code") == "ConditionalCheckFailed"
                }
                if (
                    not lost
                    and conflicts < CONFLICT_RETRIES
                    and any(reason.get("Code") == "TransactionConflict" for reason in reasons)
                ):
                    # Another worker's transaction held one of these items (a shared counter item, most
                    # often): nothing was written, so the same transaction is tried again shortly.
                    conflicts += 1
                    time.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * 2**conflicts))
                    continue
                if not lost:
                    raise DependencyUnavailable("ledger settlement cancelled without a refused condition")
                pending = [record for record in pending if record.message_id not in lost]
        return written

    def _put(self, record: MessageRecord) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(record),
                "ConditionExpression": "#status = :sending AND #version = :version",
                "ExpressionAttributeNames": {"#status": "status", "#version": "version"},
                "ExpressionAttributeValues": {
                    ":sending": {"S": MessageStatus.SENDING},
                    ":version": {"N": str(record.version)},
                },
            }
        }
