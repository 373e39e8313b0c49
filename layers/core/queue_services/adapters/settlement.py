"""A batch's final ledger writes and the counters they earn, written together: one transaction per 50
records (fewer when their workspaces' and broadcasts' counter items would pass 100), each record's write
conditional on it still being this delivery's (status `sending`, same version), and the counters (the
workspaces' metrics, the broadcasts' progress) only for the writes that land. A crash, a redelivery or a
replay then counts each message exactly once: whichever delivery's transition wins counts it (README
"Metrics")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from queue_services.adapters.aws import call_aws_or_refusal
from queue_services.adapters.broadcasts import progress_items
from queue_services.adapters.ledger import MessageRecord, failure_reason, to_item, transaction_chunks
from queue_services.adapters.metrics_store import MetricsStore
from queue_services.adapters.transactions import CONFLICT_RETRIES, met_a_conflict, refused, wait_before_retry
from queue_services.broadcast_progress import StatusMove
from queue_services.channels import Channel
from queue_services.errors import DependencyUnavailable
from queue_services.models import Counters
from queue_services.statuses import MessageStatus

# At most this many records per transaction (with a counter item per workspace and per broadcast of them).
RECORDS_PER_TRANSACTION = 50


class Settlement:
    """Writes the records a worker owns (claimed: `sending`) with the counts their new statuses earn."""

    def __init__(
        self, dynamodb_client: Any, ledger_table: str, metrics: MetricsStore, broadcasts_table: str | None = None
    ) -> None:
        self._ddb = dynamodb_client
        self._table = ledger_table
        self._metrics = metrics
        self._broadcasts_table = broadcasts_table

    def settle(
        self,
        channel: Channel,
        records: list[MessageRecord],
        earned: Callable[[list[MessageRecord]], Mapping[str, Counters]],
    ) -> set[str]:
        """Write records and the counters earned(records) for the ones written; return the ids written.
        A record no longer this delivery's (another delivery settled it first) is left as it is, uncounted."""
        written: set[str] = set()
        by_id = {record.message_id: record for record in records}
        for chunk in transaction_chunks(list(by_id), self._counter_items_of(by_id), RECORDS_PER_TRANSACTION):
            pending = [by_id[message_id] for message_id in chunk]
            conflicts = 0
            while pending:
                counts = {ws: c for ws, c in earned(pending).items() if not c.is_zero}
                items = [self._put(record) for record in pending]
                items += [{"Update": self._metrics.increment(channel, ws, c)} for ws, c in counts.items()]
                items += self._progress_items(pending)
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
                lost = refused(refusal, [record.message_id for record in pending])
                if not lost and conflicts < CONFLICT_RETRIES and met_a_conflict(refusal):
                    # Another worker's transaction held one of these items (a shared counter item, most
                    # often): nothing was written, so the same transaction is tried again shortly.
                    conflicts += 1
                    wait_before_retry(conflicts)
                    continue
                if not lost:
                    raise DependencyUnavailable("ledger settlement cancelled without a refused condition")
                pending = [record for record in pending if record.message_id not in lost]
        return written

    def _counter_items_of(self, by_id: Mapping[str, MessageRecord]) -> Callable[[str], list[str]]:
        """For transaction_chunks: the counter items a record may bring (its workspace's, its broadcast's)."""

        def items_of(message_id: str) -> list[str]:
            record = by_id[message_id]
            broadcast = [f"broadcast {record.broadcast_id}"] if record.broadcast_id and self._broadcasts_table else []
            return [f"workspace {record.workspace_id}", *broadcast]

        return items_of

    def _progress_items(self, records: list[MessageRecord]) -> list[dict[str, Any]]:
        """Each broadcast's progress for these records leaving `sending` (queue_services.broadcast_progress)."""
        moves = [
            StatusMove(
                record.broadcast_id,
                MessageStatus.SENDING,
                record.status,
                failure_reason(record.last_error) if record.status is MessageStatus.FAILED else None,
            )
            for record in records
        ]
        return progress_items(self._broadcasts_table, moves)

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
