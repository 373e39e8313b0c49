"""The API keys table: keys stored as SHA-256 digests with their role and workspace."""

from __future__ import annotations

from typing import Any

from queue_services.adapters.aws import call_aws
from queue_services.tenancy import WORKSPACE, Principal, hash_api_key


def api_key_item(api_key: str, principal: Principal) -> dict[str, Any]:
    item: dict[str, Any] = {"keyHash": {"S": hash_api_key(api_key)}, "role": {"S": principal.role}}
    if principal.workspace_id:
        item["workspaceId"] = {"S": principal.workspace_id}
    return item


class ApiKeyStore:
    """DynamoDB adapter for the API keys table."""

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name

    def lookup(self, api_key: str) -> Principal | None:
        if not api_key:
            return None
        key = {"keyHash": {"S": hash_api_key(api_key)}}
        item = call_aws(self._ddb, "get_item", "api keys table", TableName=self._table, Key=key).get("Item")
        if not item:
            return None
        role = item.get("role", {}).get("S", WORKSPACE)
        workspace = item.get("workspaceId", {}).get("S")
        return Principal(role=role, workspace_id=workspace)
