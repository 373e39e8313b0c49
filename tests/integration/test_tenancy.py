"""API keys: the authorizer's answers, and what the api function lets each key do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_stack.runtime import load_function
from local_stack.template import load_template
from queue_services.adapters.api_keys import api_key_item
from queue_services.tenancy import ADMIN, WORKSPACE, Principal, hash_api_key
from tests.support.events import api_event, load_event, workspace_key
from tests.support.integration_stack import Stack
from tests.support.seeds import SEED_SMS


@pytest.fixture
def authorizer(stack: Stack) -> Any:
    table = stack.resolver.resources["ApiKeysTable"].ref
    stack.dynamodb.put_item(
        TableName=table, Item=api_key_item("key-123", Principal(role=WORKSPACE, workspace_id="ws-1"))
    )
    stack.dynamodb.put_item(TableName=table, Item=api_key_item("key-admin", Principal(role=ADMIN)))
    return load_function(load_template(), "AuthorizerFunction")


def token_event(key: str) -> dict[str, Any]:
    return {**load_event("authorizer_token"), "authorizationToken": key}


def test_a_workspace_key_is_allowed_for_the_whole_api_with_its_workspace(authorizer: Any) -> None:
    policy = authorizer.invoke(token_event("key-123"))
    (statement,) = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    # The answer is cached for 300 s across routes, so it must cover every route of the stage.
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/*/*"
    assert policy["context"] == {"role": "workspace", "workspaceId": "ws-1"}


def test_the_admin_key(authorizer: Any) -> None:
    assert authorizer.invoke(token_event("key-admin"))["context"] == {"role": "admin", "workspaceId": ""}


@pytest.mark.parametrize("key", ["unknown", "", "key-12"])
def test_unknown_keys_are_unauthorized(authorizer: Any, key: str) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.invoke(token_event(key))


def test_keys_are_stored_hashed(stack: Stack, authorizer: Any) -> None:
    table = stack.resolver.resources["ApiKeysTable"].ref
    items = stack.dynamodb.scan(TableName=table)["Items"]
    assert {item["keyHash"]["S"] for item in items} == {hash_api_key("key-123"), hash_api_key("key-admin")}
    assert "key-123" not in json.dumps(items)


def status_and_body(response: dict[str, Any]) -> tuple[int, Any]:
    return response["statusCode"], json.loads(response["body"])


def test_a_workspace_key_schedules_for_its_own_workspace_only(stack: Stack) -> None:
    own = api_event("api_schedule_sms", {**SEED_SMS, "workspaceId": "ws-1"}, caller=workspace_key("ws-1"))
    assert stack.api.invoke(own)["statusCode"] == 202
    other = api_event("api_schedule_sms", {**SEED_SMS, "workspaceId": "ws-2"}, caller=workspace_key("ws-1"))
    status, body = status_and_body(stack.api.invoke(other))
    assert status == 403
    assert body["detail"][0]["field"] == "workspaceId"
    assert len(stack.receive("SmsQueue", 10)) == 1


def test_without_an_authorizer_identity_the_api_refuses(stack: Stack) -> None:
    status, _ = status_and_body(stack.api.invoke(api_event("api_schedule_sms", caller=None)))
    assert status == 401
    assert stack.receive("SmsQueue", 10) == []


def test_metrics_are_scoped_and_reset_is_admin_only(stack: Stack) -> None:
    for workspace in ("ws-1", "ws-2"):
        stack.api.invoke(api_event("api_schedule_sms", {**SEED_SMS, "workspaceId": workspace}))
    stack.sms_worker.invoke(stack.receive_event("SmsQueue", 10))
    status, seen = status_and_body(stack.api.invoke(api_event("api_get_metrics", caller=workspace_key("ws-1"))))
    assert status == 200
    assert set(seen["sms"]["workspaces"]) == {"ws-1"}
    assert seen["sms"]["total"] == 1
    refused = api_event("api_reset_metrics", {"type": "all"}, caller=workspace_key("ws-1"))
    assert stack.api.invoke(refused)["statusCode"] == 403
    _, everything = status_and_body(stack.api.invoke(api_event("api_get_metrics")))
    assert everything["sms"]["total"] == 2
