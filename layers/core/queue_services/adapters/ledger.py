"""The message ledger: one DynamoDB record per message, its status moved by conditional writes.

The status rules live in queue_services.statuses; the conditions below are written from them.
`version` grows with each reschedule; a queued copy whose version is not the record's is stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import Field

from queue_services.adapters.aws import call_aws, call_aws_or_none, call_aws_or_refusal, write_batches
from queue_services.adapters.broadcasts import progress_items
from queue_services.adapters.transactions import CONFLICT_RETRIES, met_a_conflict, refused, wait_before_retry
from queue_services.broadcast_progress import StatusMove
from queue_services.errors import DependencyUnavailable
from queue_services.models import CamelModel
from queue_services.statuses import CLAIMABLE, PENDING, MessageStatus


class MessageRecord(CamelModel):
    """GET /api/messages/{messageId}; the recipient is stored masked."""

    message_id: str
    channel: str
    workspace_id: str
    contact_id: str
    to: str
    status: MessageStatus
    send_at: datetime
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None = None
    attempts: int = 0
    provider_message_id: str | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    version: int = 0
    schedule_name: str | None = None
    # SMS only: the provider's parts (segments) and their encoding (GSM-7 or UCS-2), counted at accept.
    segments: int | None = None
    encoding: str | None = None
    # In a dead-letter queue (status stays queued, so a redrive sends it like any queued message).
    dead_lettered: bool = False
    broadcast_id: str | None = None
    # A keyed hash of the normalised recipient (queue_services.recipients): message search, never the value.
    recipient_hash: str | None = Field(default=None, exclude=True)
    # Epoch seconds for DynamoDB TTL: retention, not a timer.
    retain_until: int = Field(default=0, exclude=True)
    # The queued message as JSON, kept while the message is pending so it can be rescheduled; never shown.
    payload: str | None = Field(default=None, exclude=True)


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


# The ledger's search indexes (README "Message search"): their keys are derived from the record, so every
# whole-record write keeps them right; the status moves written as updates remove SCHEDULED_KEY.
CONTACT_INDEX, CONTACT_KEY = "byContact", "workspaceContact"
RECIPIENT_INDEX, RECIPIENT_KEY = "byRecipient", "workspaceRecipient"
# Sparse: only scheduled single messages carry it (a broadcast has one schedule of its own): the
# dashboard's schedule groups, how many and which are next.
SCHEDULED_INDEX, SCHEDULED_KEY = "byScheduled", "scheduledChannel"
_DERIVED = (CONTACT_KEY, RECIPIENT_KEY, SCHEDULED_KEY)


def index_value(workspace_id: str, value: str) -> str:
    """A search index's partition key: searches never leave their workspace."""
    return f"{workspace_id}#{value}"


def to_item(record: MessageRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["retainUntil"] = record.retain_until
    if record.payload is not None:
        data["payload"] = record.payload
    data[CONTACT_KEY] = index_value(record.workspace_id, record.contact_id)
    if record.recipient_hash is not None:
        # The hash only as the index key: an attribute of its own would cost every record's write more.
        data[RECIPIENT_KEY] = index_value(record.workspace_id, record.recipient_hash)
    if record.status is MessageStatus.SCHEDULED and record.broadcast_id is None:
        data[SCHEDULED_KEY] = record.channel
    return {key: _attribute(value) for key, value in data.items()}


def _attribute(value: Any) -> dict[str, Any]:
    """A record's value as a DynamoDB attribute, as boto3's TypeSerializer writes it: strings, numbers and
    booleans directly (a broadcast's accept writes 18 per recipient, and the serializer's type checks were
    a tenth of the api's CPU), anything else through the serializer."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is int:
        return {"N": str(value)}
    if kind is bool:
        return {"BOOL": value}
    return dict(_SERIALIZER.serialize(value))


def from_item(item: dict[str, Any]) -> MessageRecord:
    data = {key: _DESERIALIZER.deserialize(value) for key, value in item.items() if key not in _DERIVED}
    if RECIPIENT_KEY in item:
        data["recipient_hash"] = str(item[RECIPIENT_KEY]["S"]).rsplit("#", 1)[1]  # the hash is hex, no '#'
    data = {key: int(value) if key in ("attempts", "version", "retainUntil") else value for key, value in data.items()}
    data["retain_until"] = data.pop("retainUntil", 0)
    return MessageRecord.model_validate(data)


def _placeholders(statuses: frozenset[MessageStatus]) -> str:
    return ", ".join(f":st_{status}" for status in sorted(statuses))


def _status_values(statuses: frozenset[MessageStatus]) -> dict[str, Any]:
    return {f":st_{status}": {"S": str(status)} for status in sorted(statuses)}


def failure_reason(last_error: str | None) -> str:
    """A failed message's reason for counting: its last error up to the first colon ("HTTP 400: ..." ->
    "HTTP 400", "expired" -> "expired")."""
    if not last_error:
        return "unknown"
    return last_error.split(":", 1)[0].strip()[:80] or "unknown"


# TransactWriteItems' limit on items, records and counter updates together.
TRANSACTION_LIMIT = 100
# A record's broadcast (None for a single message) and its status before a move: what the move counts.
Origins = Mapping[str, tuple[str | None, MessageStatus]]


def transaction_chunks(ids: list[str], groups_of: Callable[[str], Iterable[str]], limit: int) -> list[list[str]]:
    """ids cut, in order, into runs each fitting one transaction with one extra item per distinct group
    of its ids (a counter item per workspace or broadcast): len(run) + groups <= TRANSACTION_LIMIT (pure)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    groups: set[str] = set()
    for message_id in ids:
        new = set(groups_of(message_id)) - groups
        if current and (len(current) >= limit or len(current) + 1 + len(groups) + len(new) > TRANSACTION_LIMIT):
            chunks.append(current)
            current, groups, new = [], set(), set(groups_of(message_id))
        current.append(message_id)
        groups |= new
    if current:
        chunks.append(current)
    return chunks


def retention_epoch(now: datetime, days: int, send_at: datetime) -> int:
    """When DynamoDB may delete a record: `days` after its send time (or now, if that is later).

    Counting from creation would let a message scheduled further ahead than the retention lose its
    record before it is sent, and the worker refuses a message without one.
    """
    return int((max(now, send_at) + timedelta(days=days)).timestamp())


class Ledger:
    """DynamoDB adapter for the message ledger (table key: messageId)."""

    def __init__(
        self, dynamodb_client: Any, table_name: str, retention_days: int, broadcasts_table: str | None = None
    ) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self.retention_days = retention_days
        # Where the moves of a broadcast's messages add to its progress counters (None: not counted).
        self._broadcasts_table = broadcasts_table

    def create(self, record: MessageRecord) -> None:
        self._call("put_item", TableName=self._table, Item=to_item(record))

    def get(self, message_id: str) -> MessageRecord | None:
        item = self._call(
            "get_item", TableName=self._table, Key={"messageId": {"S": message_id}}, ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def get_many(self, message_ids: Iterable[str]) -> dict[str, MessageRecord]:
        """Records by id, 100 per BatchGetItem (consistent reads)."""
        wanted = list(dict.fromkeys(message_ids))
        found: dict[str, MessageRecord] = {}
        for start in range(0, len(wanted), 100):
            keys = [{"messageId": {"S": message_id}} for message_id in wanted[start : start + 100]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                answer = self._call("batch_get_item", RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    record = from_item(item)
                    found[record.message_id] = record
                request = answer.get("UnprocessedKeys") or {}
        return found

    def save_many(self, records: Iterable[MessageRecord]) -> None:
        """Write whole records, 25 per BatchWriteItem: for records this worker owns (status sending)."""
        write_batches(
            self._ddb, self._table, [{"PutRequest": {"Item": to_item(record)}} for record in records], "ledger"
        )

    def claim_for_sending(self, versions: dict[str, int], now: datetime, origins: Origins | None = None) -> set[str]:
        """Move pending records to `sending` in one transaction per 100; return the ids claimed.

        The condition (pending or already sending, same version) is what makes cancel and send race
        safely: whichever conditional write lands first wins, the other sees the new status. origins (each
        record's broadcast and status as read) let the claims of a broadcast's messages count in its progress.
        """
        return self._move_many(versions, now, MessageStatus.SENDING, origins)

    def cancel_many(self, versions: dict[str, int], now: datetime, origins: Origins | None = None) -> set[str]:
        """Cancel records (a cancelled broadcast's, as a worker meets them) under the same condition as a
        claim, their stored copy dropped, counted in their broadcast's progress; return the ids cancelled."""
        return self._move_many(versions, now, MessageStatus.CANCELLED, origins)

    def mark_queued(self, versions: dict[str, int], now: datetime) -> set[str]:
        """Move scheduled records to queued (a scheduled broadcast's fan-out), under the claim's condition."""
        return self._move_many(versions, now, MessageStatus.QUEUED)

    def broadcast_versions(self, broadcast_id: str, status: MessageStatus) -> dict[str, int]:
        """The ids and versions of a broadcast's records in status (on the index byBroadcast)."""
        found: dict[str, int] = {}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "byBroadcast",
            "KeyConditionExpression": "broadcastId = :broadcast",
            "FilterExpression": "#status = :status",
            "ExpressionAttributeValues": {":broadcast": {"S": broadcast_id}, ":status": {"S": status}},
            "ProjectionExpression": "messageId, #version",
            "ExpressionAttributeNames": {"#status": "status", "#version": "version"},
        }
        while True:
            answer = self._call("query", **kwargs)
            for item in answer.get("Items", []):
                found[item["messageId"]["S"]] = int(item.get("version", {}).get("N", "0"))
            if not answer.get("LastEvaluatedKey"):
                return found
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def scheduled(self, channel: str, next_count: int) -> tuple[int, list[MessageRecord]]:
        """How many of the channel's messages are scheduled, and the next_count due first (index
        byScheduled, sparse: only scheduled records are in it)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": SCHEDULED_INDEX,
            "KeyConditionExpression": f"{SCHEDULED_KEY} = :channel",
            "ExpressionAttributeValues": {":channel": {"S": channel}},
            "Select": "COUNT",
        }
        count = 0
        while True:
            answer = self._call("query", **kwargs)
            count += int(answer.get("Count", 0))
            if not answer.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        if not count or next_count <= 0:
            return count, []
        due = self._records_on_index(SCHEDULED_INDEX, SCHEDULED_KEY, channel, next_count, newest_first=False)
        return count, sorted(due, key=lambda record: record.send_at)

    def find(self, index: str, key: str, limit: int) -> list[MessageRecord]:
        """The newest `limit` records of a search index's key (byContact, byRecipient)."""
        key_name = {CONTACT_INDEX: CONTACT_KEY, RECIPIENT_INDEX: RECIPIENT_KEY}[index]
        found = self._records_on_index(index, key_name, key, limit, newest_first=True)
        return sorted(found, key=lambda record: record.created_at, reverse=True)

    def in_broadcast(self, broadcast_id: str, limit: int) -> list[MessageRecord]:
        """Up to `limit` of a broadcast's records (index byBroadcast, in messageId order)."""
        return self._records_on_index("byBroadcast", "broadcastId", broadcast_id, limit, newest_first=False)

    def _records_on_index(
        self, index: str, key_name: str, key: str, limit: int, newest_first: bool
    ) -> list[MessageRecord]:
        """The first `limit` entries of an index's key, as whole records (the indexes keep keys only, so the
        records come from a BatchGetItem)."""
        items = self._call(
            "query",
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression=f"{key_name} = :key",
            ExpressionAttributeValues={":key": {"S": key}},
            ProjectionExpression="messageId",
            ScanIndexForward=not newest_first,
            Limit=limit,
        ).get("Items", [])
        return list(self.get_many(item["messageId"]["S"] for item in items).values())

    def _move_many(
        self, versions: dict[str, int], now: datetime, target: MessageStatus, origins: Origins | None = None
    ) -> set[str]:
        claimed: set[str] = set()
        origins = origins or {}

        def broadcast_of(message_id: str) -> list[str]:
            broadcast_id = origins.get(message_id, (None, target))[0]
            return [broadcast_id] if broadcast_id is not None and self._broadcasts_table else []

        for chunk in transaction_chunks(list(versions), broadcast_of, TRANSACTION_LIMIT):
            ids, conflicts = list(chunk), 0
            while ids:
                moves = [StatusMove(*origins[message_id], target) for message_id in ids if message_id in origins]
                _, refusal = call_aws_or_refusal(
                    self._ddb,
                    "transact_write_items",
                    "ledger claim",
                    "TransactionCanceledException",
                    TransactItems=[self._move_item(message_id, versions[message_id], now, target) for message_id in ids]
                    + progress_items(self._broadcasts_table, moves),
                )
                if refusal is not None:
                    lost = refused(refusal, ids)
                    if not lost and conflicts < CONFLICT_RETRIES and met_a_conflict(refusal):
                        # Another batch's transaction held the broadcast's counter item: nothing was written.
                        conflicts += 1
                        wait_before_retry(conflicts)
                        continue
                    if not lost:
                        raise DependencyUnavailable("ledger claim cancelled without a refused condition")
                    ids = [message_id for message_id in ids if message_id not in lost]
                    continue
                claimed.update(ids)
                break
        return claimed

    def _move_item(self, message_id: str, version: int, now: datetime, target: MessageStatus) -> dict[str, Any]:
        # A cancelled message is never sent: its stored copy (full recipient and text) goes (README "payload").
        # No move ends in `scheduled`: each leaves the scheduled index.
        drop = f" REMOVE {SCHEDULED_KEY}" + (", payload" if target is MessageStatus.CANCELLED else "")
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"messageId": {"S": message_id}},
                "UpdateExpression": "SET #status = :target, updatedAt = :now" + drop,
                "ConditionExpression": f"#status IN ({_placeholders(CLAIMABLE)}) AND #version = :version",
                "ExpressionAttributeNames": {"#status": "status", "#version": "version"},
                "ExpressionAttributeValues": {
                    **_status_values(CLAIMABLE),
                    ":target": {"S": target},
                    ":version": {"N": str(version)},
                    ":now": {"S": now.isoformat()},
                },
            }
        }

    def transition(self, record: MessageRecord, changes: dict[str, Any], now: datetime) -> MessageRecord | None:
        """Apply changes if the record is still pending at the same version; None if it moved meanwhile."""
        updated = record.model_copy(update={**changes, "updated_at": now})
        # A reschedule moves the send time: the record is kept until retention after the new one.
        retain = max(record.retain_until, retention_epoch(now, self.retention_days, updated.send_at))
        updated = updated.model_copy(update={"retain_until": retain})
        put = {
            "TableName": self._table,
            "Item": to_item(updated),
            "ConditionExpression": f"#status IN ({_placeholders(PENDING)}) AND #version = :version",
            "ExpressionAttributeNames": {"#status": "status", "#version": "version"},
            "ExpressionAttributeValues": {**_status_values(PENDING), ":version": {"N": str(record.version)}},
        }
        progress = progress_items(
            self._broadcasts_table, [StatusMove(record.broadcast_id, record.status, updated.status)]
        )
        conflicts = 0
        while progress:
            # A broadcast's message cancelled on its own: the count goes with the write, or neither lands.
            _, refusal = call_aws_or_refusal(
                self._ddb,
                "transact_write_items",
                "ledger",
                "TransactionCanceledException",
                TransactItems=[{"Put": put}, *progress],
            )
            if refusal is None:
                return updated
            if refused(refusal, [record.message_id]):
                return None
            if conflicts < CONFLICT_RETRIES and met_a_conflict(refusal):
                conflicts += 1
                wait_before_retry(conflicts)
                continue
            raise DependencyUnavailable("ledger write cancelled without a refused condition")
        written = call_aws_or_none(self._ddb, "put_item", "ledger", "ConditionalCheckFailedException", **put)
        return None if written is None else updated

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        return call_aws(self._ddb, operation, "ledger", **kwargs)
