"""DynamoDB adapter for broadcasts: one item per broadcast (key broadcastId), listed per workspace on the
index byWorkspace (newest first); a cancel is a conditional write, so it happens once."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pydantic import Field

from queue_services.adapters.aws import call_aws, call_aws_or_none
from queue_services.broadcast_progress import ProgressStep, StatusMove, progress_steps
from queue_services.errors import InvalidRequest
from queue_services.models import CamelModel

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
BY_WORKSPACE = "byWorkspace"


class BroadcastState(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class BroadcastRecord(CamelModel):
    """A broadcast as stored: what was asked and accepted, and its progress counters (each added with the
    ledger moves that earn it: queue_services.broadcast_progress)."""

    broadcast_id: str
    workspace_id: str
    channel: str
    name: str | None = None
    total: int
    rejected: int = 0
    state: BroadcastState = BroadcastState.ACTIVE
    send_at: datetime
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None = None
    # Provider 429s met by its messages, added once per batch by the workers.
    rate_limited: int = 0
    # Its messages in each counted status; queued (or scheduled) are the rest of the total.
    sending: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    # Stored as one top-level attribute per reason (FAILED_REASON_PREFIX): ADD cannot reach into a map.
    failed_by_reason: dict[str, int] = Field(default_factory=dict, exclude=True)
    # A broadcast due later than SQS can delay: its one schedule (the fan-out at fire time).
    schedule_name: str | None = None
    retain_until: int = Field(default=0, exclude=True)


# A failed-message reason's counter on the broadcast's item: "failedBy:HTTP 400" (queue_services.broadcast_progress).
FAILED_REASON_PREFIX = "failedBy:"

# Every broadcast of every workspace, newest first (the dashboard's recent broadcasts): one constant key.
BY_CREATION, LISTED_KEY, LISTED = "byCreation", "listed", "broadcast"


def _to_item(record: BroadcastRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["retainUntil"] = record.retain_until
    data[LISTED_KEY] = LISTED
    return {key: _SERIALIZER.serialize(value) for key, value in data.items()}


def _from_item(item: dict[str, Any]) -> BroadcastRecord:
    data = {key: _DESERIALIZER.deserialize(value) for key, value in item.items() if key != LISTED_KEY}
    data["retain_until"] = int(data.pop("retainUntil", 0))
    reasons = [key for key in data if key.startswith(FAILED_REASON_PREFIX)]
    failed_by_reason = {key.removeprefix(FAILED_REASON_PREFIX): int(data.pop(key)) for key in reasons}
    data["failed_by_reason"] = {reason: count for reason, count in failed_by_reason.items() if count}
    return BroadcastRecord.model_validate(data)


def progress_items(table: str | None, moves: list[StatusMove]) -> list[dict[str, Any]]:
    """The counter updates ledger moves earn their broadcasts, for the moves' own transaction (none when
    table, the broadcasts table, is None: progress not counted)."""
    if table is None:
        return []
    return [{"Update": progress_update(table, b, step)} for b, step in progress_steps(moves).items()]


def progress_update(table: str, broadcast_id: str, step: ProgressStep) -> dict[str, Any]:
    """The Update (for TransactWriteItems, or update_item's arguments) adding a step to a broadcast's counters."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for index, (status, count) in enumerate(sorted(step.by_status.items())):
        names[f"#s{index}"], values[f":s{index}"] = str(status), {"N": str(count)}
    for index, (reason, count) in enumerate(sorted(step.failed_by_reason.items())):
        names[f"#r{index}"], values[f":r{index}"] = FAILED_REASON_PREFIX + reason, {"N": str(count)}
    return {
        "TableName": table,
        "Key": {"broadcastId": {"S": broadcast_id}},
        "UpdateExpression": "ADD " + ", ".join(f"{name} {name.replace('#', ':')}" for name in names),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    """A page's LastEvaluatedKey as an opaque URL-safe string (None at the end)."""
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("is not a cursor this API gave out", field="cursor") from exc
    if not isinstance(key, dict) or set(key) != {"broadcastId", "workspaceId", "createdAt"}:
        raise InvalidRequest("is not a cursor this API gave out", field="cursor")
    return key


class BroadcastStore:
    """The broadcasts table."""

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def create(self, record: BroadcastRecord) -> None:
        self._call("put_item", TableName=self._table, Item=_to_item(record))

    def get(self, broadcast_id: str) -> BroadcastRecord | None:
        item = self._call(
            "get_item", TableName=self._table, Key={"broadcastId": {"S": broadcast_id}}, ConsistentRead=True
        ).get("Item")
        return _from_item(item) if item else None

    def cancelled_among(self, broadcast_ids: Iterable[str]) -> set[str]:
        """Which of these broadcasts are cancelled: one BatchGetItem per 100 (the workers, once per batch)."""
        wanted = list(dict.fromkeys(broadcast_ids))
        cancelled: set[str] = set()
        for start in range(0, len(wanted), 100):
            keys = [{"broadcastId": {"S": broadcast_id}} for broadcast_id in wanted[start : start + 100]]
            request: dict[str, Any] = {
                self._table: {"Keys": keys, "ProjectionExpression": "broadcastId, #state", "ConsistentRead": True}
            }
            request[self._table]["ExpressionAttributeNames"] = {"#state": "state"}
            while request:
                answer = self._call("batch_get_item", RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    if item.get("state", {}).get("S") == BroadcastState.CANCELLED:
                        cancelled.add(item["broadcastId"]["S"])
                request = answer.get("UnprocessedKeys") or {}
        return cancelled

    def cancel(self, record: BroadcastRecord, now: datetime) -> BroadcastRecord | None:
        """Mark it cancelled if it is still active; None if it was cancelled meanwhile."""
        written = call_aws_or_none(
            self._ddb,
            "update_item",
            "broadcasts",
            "ConditionalCheckFailedException",
            TableName=self._table,
            Key={"broadcastId": {"S": record.broadcast_id}},
            UpdateExpression="SET #state = :cancelled, cancelledAt = :now, updatedAt = :now",
            ConditionExpression="#state = :active",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":cancelled": {"S": BroadcastState.CANCELLED},
                ":active": {"S": BroadcastState.ACTIVE},
                ":now": {"S": now.isoformat()},
            },
        )
        if written is None:
            return None
        return record.model_copy(update={"state": BroadcastState.CANCELLED, "cancelled_at": now, "updated_at": now})

    def add_rate_limited(self, counts: dict[str, int]) -> None:
        """Add each broadcast's 429s of a batch (one UpdateItem per broadcast and batch)."""
        for broadcast_id, count in counts.items():
            if count:
                self._call(
                    "update_item",
                    TableName=self._table,
                    Key={"broadcastId": {"S": broadcast_id}},
                    UpdateExpression="ADD rateLimited :count",
                    ConditionExpression="attribute_exists(broadcastId)",
                    ExpressionAttributeValues={":count": {"N": str(count)}},
                )

    def add_progress(self, steps: dict[str, ProgressStep]) -> None:
        """Add counter steps outside a ledger transaction (the api's messages it could not queue: their
        records were never anyone else's to move)."""
        for broadcast_id, step in steps.items():
            if not step.is_zero:
                self._call("update_item", **progress_update(self._table, broadcast_id, step))

    def list_for_workspace(
        self, workspace_id: str, limit: int, cursor: str | None
    ) -> tuple[list[BroadcastRecord], str | None]:
        """A page of the workspace's broadcasts, newest first, and the cursor of the next page."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_WORKSPACE,
            "KeyConditionExpression": "workspaceId = :workspace",
            "ExpressionAttributeValues": {":workspace": {"S": workspace_id}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        start = decode_cursor(cursor)
        if start is not None:
            if start["workspaceId"] != {"S": workspace_id}:
                raise InvalidRequest("belongs to another listing", field="cursor")
            kwargs["ExclusiveStartKey"] = start
        answer = self._call("query", **kwargs)
        records = [_from_item(item) for item in answer.get("Items", [])]
        return records, encode_cursor(answer.get("LastEvaluatedKey"))

    def recent(self, limit: int) -> list[BroadcastRecord]:
        """The newest `limit` broadcasts of all workspaces (index byCreation, keys only, then the records)."""
        keys = self._call(
            "query",
            TableName=self._table,
            IndexName=BY_CREATION,
            KeyConditionExpression=f"{LISTED_KEY} = :listed",
            ExpressionAttributeValues={":listed": {"S": LISTED}},
            ScanIndexForward=False,
            Limit=limit,
        ).get("Items", [])
        if not keys:
            return []
        request: dict[str, Any] = {self._table: {"Keys": [{"broadcastId": k["broadcastId"]} for k in keys]}}
        found: list[BroadcastRecord] = []
        while request:
            answer = self._call("batch_get_item", RequestItems=request)
            found += [_from_item(item) for item in answer.get("Responses", {}).get(self._table, [])]
            request = answer.get("UnprocessedKeys") or {}
        return sorted(found, key=lambda record: record.created_at, reverse=True)

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        return call_aws(self._ddb, operation, "broadcasts", **kwargs)
