"""The API keys table: keys stored as SHA-256 digests with their role, workspace, label and times."""

from __future__ import annotations

from typing import Any

from queue_services.adapters.aws import call_aws, call_aws_or_refusal
from queue_services.tenancy import WORKSPACE, KeyRecord, Principal, hash_api_key


def api_key_item(
    api_key: str, principal: Principal, label: str | None = None, created_at: str | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {"keyHash": {"S": hash_api_key(api_key)}, "role": {"S": principal.role}}
    if principal.workspace_id:
        item["workspaceId"] = {"S": principal.workspace_id}
    if label:
        item["label"] = {"S": label}
    if created_at:
        item["createdAt"] = {"S": created_at}
    return item


def _stored(item: dict[str, Any]) -> KeyRecord:
    def text(name: str) -> str | None:
        value = item.get(name, {}).get("S")
        return str(value) if value is not None else None

    return KeyRecord(
        key_hash=str(item["keyHash"]["S"]),
        principal=Principal(role=text("role") or WORKSPACE, workspace_id=text("workspaceId")),
        label=text("label"),
        created_at=text("createdAt"),
        last_used_at=text("lastUsedAt"),
    )


class ApiKeyStore:
    """DynamoDB adapter for the API keys table."""

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def find(self, api_key: str) -> KeyRecord | None:
        if not api_key:
            return None
        key = {"keyHash": {"S": hash_api_key(api_key)}}
        item = call_aws(self._ddb, "get_item", "api keys table", TableName=self._table, Key=key).get("Item")
        return _stored(item) if item else None

    def add(self, api_key: str, principal: Principal, label: str | None, created_at: str) -> KeyRecord:
        item = api_key_item(api_key, principal, label, created_at)
        call_aws(
            self._ddb,
            "put_item",
            "api keys table",
            TableName=self._table,
            Item=item,
            ConditionExpression="attribute_not_exists(keyHash)",
        )
        return _stored(item)

    def all(self) -> list[KeyRecord]:
        """Every key (a scan: the table holds one small item per key)."""
        found: list[KeyRecord] = []
        start: dict[str, Any] | None = None
        while True:
            page = call_aws(
                self._ddb,
                "scan",
                "api keys table",
                TableName=self._table,
                ProjectionExpression="keyHash, #role, workspaceId, label, createdAt, lastUsedAt",
                ExpressionAttributeNames={"#role": "role"},
                **({"ExclusiveStartKey": start} if start else {}),
            )
            found.extend(_stored(item) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    def revoke(self, key_id: str) -> bool:
        """Delete the key whose id is key_id; False if there is none."""
        matches = [stored for stored in self.all() if stored.key_id == key_id]
        for stored in matches:
            call_aws(self._ddb, "delete_item", "api keys table", TableName=self._table, Key=self._key(stored))
        return bool(matches)

    def touch(self, stored: KeyRecord, now: str, not_after: str) -> None:
        """Set lastUsedAt to now unless another request did so after not_after (at most once a minute)."""
        call_aws_or_refusal(
            self._ddb,
            "update_item",
            "api keys table",
            "ConditionalCheckFailedException",
            TableName=self._table,
            Key=self._key(stored),
            UpdateExpression="SET lastUsedAt = :now",
            ConditionExpression=(
                "attribute_exists(keyHash) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :since)"
            ),
            ExpressionAttributeValues={":now": {"S": now}, ":since": {"S": not_after}},
        )

    @staticmethod
    def _key(stored: KeyRecord) -> dict[str, Any]:
        return {"keyHash": {"S": stored.key_hash}}
