"""Key management: admin routes make, list and revoke keys; the authorizer honours them at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_stack.runtime import load_function
from local_stack.template import load_template
from queue_services.adapters.api_keys import ApiKeyStore
from queue_services.tenancy import authorize
from tests.support.events import load_event, route_event, workspace_key
from tests.support.integration_stack import Stack

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/api/metrics"


def call(stack: Stack, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    resource = "/api/admin/keys/{keyId}" if path.count("/") == 4 else path
    params = {"keyId": path.rsplit("/", 1)[-1]} if path.count("/") == 4 else None
    response = stack.api.invoke(route_event(method, path, resource, body, path_parameters=params, **kwargs))
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def authorizer(stack: Stack) -> Any:
    return load_function(load_template(), "AuthorizerFunction")


def token_event(key: str) -> dict[str, Any]:
    return {**load_event("authorizer_token"), "authorizationToken": key}


def test_a_created_key_is_shown_once_works_and_is_listed_without_its_secret(stack: Stack, authorizer: Any) -> None:
    status, created = call(stack, "POST", "/api/admin/keys", {"workspaceId": "ws-9", "label": "crm prod"})
    assert status == 201
    assert created["key"].startswith("qs_")
    assert len(created["key"]) >= 3 + 43  # 32 random bytes, URL-safe base64
    assert (created["scope"], created["workspaceId"], created["label"]) == ("workspace", "ws-9", "crm prod")
    assert created["createdAt"].endswith("Z")
    # The key works, for its own workspace
    policy = authorizer.invoke(token_event(created["key"]))
    assert policy["context"] == {"role": "workspace", "workspaceId": "ws-9"}
    # It is listed with its id, scope, label and times, never the key or its digest
    status, listing = call(stack, "GET", "/api/admin/keys")
    assert status == 200
    (listed,) = [key for key in listing["keys"] if key["keyId"] == created["keyId"]]
    assert listed["lastUsedAt"] is not None
    assert set(listed) == {"keyId", "scope", "workspaceId", "label", "createdAt", "lastUsedAt"}
    assert created["key"] not in json.dumps(listing)
    table = stack.resolver.resources["ApiKeysTable"].ref
    assert created["key"] not in json.dumps(stack.dynamodb.scan(TableName=table)["Items"])


def test_two_keys_are_never_the_same(stack: Stack) -> None:
    keys = {call(stack, "POST", "/api/admin/keys", {"admin": True})[1]["key"] for _ in range(5)}
    assert len(keys) == 5


def test_a_revoked_key_is_refused_at_once(stack: Stack, authorizer: Any) -> None:
    created = call(stack, "POST", "/api/admin/keys", {"admin": True})[1]
    assert authorizer.invoke(token_event(created["key"]))["context"]["role"] == "admin"
    status, answer = call(stack, "DELETE", f"/api/admin/keys/{created['keyId']}")
    assert (status, answer) == (200, {"keyId": created["keyId"], "revoked": True})
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.invoke(token_event(created["key"]))
    assert call(stack, "DELETE", f"/api/admin/keys/{created['keyId']}")[0] == 404
    assert created["keyId"] not in [key["keyId"] for key in call(stack, "GET", "/api/admin/keys")[1]["keys"]]


@pytest.mark.parametrize(
    "body",
    [{}, {"workspaceId": "ws-1", "admin": True}, {"admin": False}, {"workspaceId": ""}, {"admin": True, "x": 1}],
)
def test_a_key_needs_exactly_one_scope(stack: Stack, body: dict[str, Any]) -> None:
    status, answer = call(stack, "POST", "/api/admin/keys", body)
    assert status == 422, answer


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/admin/keys"), ("GET", "/api/admin/keys")])
def test_only_the_admin_key_manages_keys(stack: Stack, method: str, path: str) -> None:
    status, answer = call(stack, method, path, {"workspaceId": "ws-1"}, caller=workspace_key("ws-1"))
    assert status == 403, answer


def test_last_used_is_written_at_most_once_a_minute(stack: Stack) -> None:
    created = call(stack, "POST", "/api/admin/keys", {"workspaceId": "ws-2"})[1]
    store = ApiKeyStore(stack.dynamodb, stack.resolver.resources["ApiKeysTable"].ref)
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def last_used() -> str | None:
        found = store.find(created["key"])
        assert found is not None
        return found.last_used_at

    for seconds in (0, 20, 59):
        assert authorize(store, created["key"], ARN, start + timedelta(seconds=seconds)) is not None
    assert last_used() == "2026-12-01T12:00:00.000Z"
    authorize(store, created["key"], ARN, start + timedelta(seconds=61))
    assert last_used() == "2026-12-01T12:01:01.000Z"
