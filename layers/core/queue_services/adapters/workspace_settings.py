"""The workspaces table: one item per workspace that has settings (sender IDs, caps, pause)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from queue_services.adapters.aws import call_aws
from queue_services.workspaces import WorkspaceSettings

_FIELDS = {
    "smsFrom": "sms_from",
    "emailFrom": "email_from",
    "smsPerSecond": "sms_per_second",
    "emailPerSecond": "email_per_second",
    "paused": "paused",
    "updatedAt": "updated_at",
}
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_item(settings: WorkspaceSettings) -> dict[str, Any]:
    item: dict[str, Any] = {"workspaceId": {"S": settings.workspace_id}}
    for attribute, name in _FIELDS.items():
        value = getattr(settings, name)
        if value is None:
            continue
        # Caps as DynamoDB numbers from their shortest text (TypeSerializer refuses floats).
        item[attribute] = {"N": f"{value:g}"} if isinstance(value, float) else _SERIALIZER.serialize(value)
    return item


def from_item(item: dict[str, Any]) -> WorkspaceSettings:
    present = [(attribute, name) for attribute, name in _FIELDS.items() if attribute in item]
    values = {name: _DESERIALIZER.deserialize(item[attribute]) for attribute, name in present}
    for name in ("sms_per_second", "email_per_second"):
        if name in values:
            values[name] = float(values[name])
    return WorkspaceSettings(workspace_id=str(item["workspaceId"]["S"]), **values)


class WorkspaceSettingsStore:
    """DynamoDB adapter for the workspaces table."""

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def get(self, workspace_id: str) -> WorkspaceSettings | None:
        key = {"workspaceId": {"S": workspace_id}}
        answer = call_aws(
            self._ddb, "get_item", "workspaces table", TableName=self._table, Key=key, ConsistentRead=True
        )
        item = answer.get("Item")
        return from_item(item) if item else None

    def get_many(self, workspace_ids: Iterable[str]) -> dict[str, WorkspaceSettings]:
        """Settings by workspace, 100 per BatchGetItem; a workspace without settings is left out."""
        wanted = sorted(set(workspace_ids))
        found: dict[str, WorkspaceSettings] = {}
        for start in range(0, len(wanted), 100):
            keys = [{"workspaceId": {"S": workspace_id}} for workspace_id in wanted[start : start + 100]]
            request: dict[str, Any] = {self._table: {"Keys": keys}}
            while request:
                answer = call_aws(self._ddb, "batch_get_item", "workspaces table", RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    settings = from_item(item)
                    found[settings.workspace_id] = settings
                request = answer.get("UnprocessedKeys") or {}
        return found

    def put(self, settings: WorkspaceSettings) -> None:
        call_aws(self._ddb, "put_item", "workspaces table", TableName=self._table, Item=to_item(settings))

    def all(self) -> list[WorkspaceSettings]:
        found: list[WorkspaceSettings] = []
        start: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            page = call_aws(self._ddb, "scan", "workspaces table", TableName=self._table, **extra)
            found.extend(from_item(item) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return found
