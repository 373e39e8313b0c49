"""The dashboard's data (GET /api/admin/queues), its actions and message search, under moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from queue_services import composition
from tests.support.events import ADMIN, api_event, route_event, workspace_key
from tests.support.integration_stack import Stack, post_sms, with_receive_count
from tests.support.seeds import SEED_EMAIL, SEED_SMS

OVERVIEW = "/api/admin/queues"


def call(
    stack: Stack,
    method: str,
    path: str,
    caller: dict[str, str] = ADMIN,
    body: Any = None,
    query: dict[str, str] | None = None,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> tuple[int, Any]:
    event = route_event(method, path, resource, body, caller, path_parameters, query)
    answer = stack.api.invoke(event)
    return answer["statusCode"], json.loads(answer["body"])


def overview(stack: Stack, caller: dict[str, str] = ADMIN) -> dict[str, Any]:
    status, body = call(stack, "GET", OVERVIEW, caller)
    assert status == 200, body
    loaded: dict[str, Any] = body
    return loaded


def search(stack: Stack, caller: dict[str, str] = ADMIN, **query: str) -> tuple[int, Any]:
    return call(stack, "GET", "/api/messages", caller, query=query)


def send_all(stack: Stack, count: int) -> None:
    assert stack.sms_worker.invoke(stack.receive_event("SmsQueue", count)) == {"batchItemFailures": []}


def test_admin_overview_counts_queues_workspaces_and_the_current_minute(stack: Stack) -> None:
    post_sms(stack, 6)
    before = overview(stack)
    queues = {q["name"]: q for q in before["queues"]}
    assert set(queues) == {
        "send-sms-queue",
        "send-sms-dlq",
        "send-sms-bulk-queue",
        "send-sms-bulk-dlq",
        "send-email-queue",
        "send-email-dlq",
        "send-email-bulk-queue",
        "send-email-bulk-dlq",
    }
    assert queues["send-sms-queue"]["visible"] == 6
    assert queues["send-sms-dlq"]["deadLetter"] is True
    send_all(stack, 6)
    after = overview(stack)
    assert {q["name"]: q["visible"] for q in after["queues"]}["send-sms-queue"] == 0
    workspaces = {w["workspaceId"]: w for w in after["workspaces"]}
    assert workspaces["workspace-123"]["sms"]["success"] == 3
    assert workspaces["workspace-456"]["sms"]["successRate"] == 1.0
    sms = next(c for c in after["channels"] if c["channel"] == "sms")
    assert len(sms["minutes"]) == 30
    assert sms["ratePerSecond"] == 5000  # the integration stack's rate
    assert sum(m["sent"] for m in sms["minutes"]) == 6
    assert after["scope"] == "admin"
    assert after["readOnly"] is False


def test_schedule_groups_count_single_scheduled_messages_and_show_the_next_due(stack: Stack) -> None:
    later = [{**SEED_SMS, "workspaceId": "workspace-123", "delay": minutes * 60_000} for minutes in (90, 30, 60)]
    for body in later:
        assert stack.api.invoke(api_event("api_schedule_sms", body))["statusCode"] == 202
    groups = {g["channel"]: g for g in overview(stack)["scheduleGroups"]}
    assert groups["sms"]["scheduled"] == 3
    assert groups["email"]["scheduled"] == 0
    due = [entry["sendAt"] for entry in groups["sms"]["nextDue"]]
    assert due == sorted(due)
    assert len(due) == 3


def test_a_workspace_key_sees_only_its_workspace_and_nothing_queue_wide(stack: Stack) -> None:
    post_sms(stack, 4)
    send_all(stack, 4)
    seen = overview(stack, workspace_key("workspace-123"))
    assert seen["scope"] == "workspace"
    assert seen["workspaceId"] == "workspace-123"
    assert seen["queues"] == []
    assert seen["scheduleGroups"] == []
    assert seen["channels"] == []
    assert [w["workspaceId"] for w in seen["workspaces"]] == ["workspace-123"]
    assert seen["workspaces"][0]["sms"]["success"] == 2


def test_pause_and_resume_from_the_dashboard_keep_the_other_settings(stack: Stack) -> None:
    settings = {"smsFrom": "Acme", "smsPerSecond": 10}
    path = "/api/workspaces/workspace-123/settings"
    assert call(stack, "PUT", path, body=settings, path_parameters={"workspaceId": "workspace-123"})[0] == 200
    pause = "/api/admin/queues/workspaces/workspace-123/pause"
    resource = "/api/admin/queues/workspaces/{workspaceId}/pause"
    params = {"workspaceId": "workspace-123"}
    status, body = call(stack, "POST", pause, workspace_key("workspace-123"), {"paused": True}, None, resource, params)
    assert status == 200
    assert body["paused"] is True
    assert body["smsFrom"] == "Acme"
    assert body["smsPerSecond"] == 10
    assert {w["workspaceId"]: w["paused"] for w in overview(stack)["workspaces"]}["workspace-123"] is True
    other = call(stack, "POST", pause, workspace_key("workspace-456"), {"paused": False}, None, resource, params)
    assert other[0] == 403
    assert call(stack, "POST", pause, ADMIN, {"paused": False}, None, resource, params)[1]["paused"] is False


def test_read_only_mode_refuses_the_write_routes_with_405(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_READ_ONLY", "true")
    composition.reset()
    assert overview(stack)["readOnly"] is True
    pause = "/api/admin/queues/workspaces/workspace-123/pause"
    resource = "/api/admin/queues/workspaces/{workspaceId}/pause"
    refused = call(stack, "POST", pause, ADMIN, {"paused": True}, None, resource, {"workspaceId": "workspace-123"})
    assert refused[0] == 405
    assert "read-only" in refused[1]["message"]
    for method, path, resource in (
        ("POST", "/api/admin/dlq/sms/redrive", "/api/admin/dlq/{channel}/redrive"),
        ("DELETE", "/api/admin/dlq/sms", "/api/admin/dlq/{channel}"),
        ("POST", "/api/admin/queues/broadcasts/b-1/cancel", "/api/admin/queues/broadcasts/{broadcastId}/cancel"),
    ):
        params = {"channel": "sms"} if "dlq" in path else {"broadcastId": "b-1"}
        assert call(stack, method, path, ADMIN, None, None, resource, params)[0] == 405
    # Reading still works: a peek is not a write.
    assert (
        call(stack, "GET", "/api/admin/dlq/sms", ADMIN, None, None, "/api/admin/dlq/{channel}", {"channel": "sms"})[0]
        == 200
    )


def test_search_by_recipient_contact_message_and_broadcast_stays_in_its_workspace(stack: Stack) -> None:
    body = {**SEED_SMS, "phoneNumber": "+1 (415) 555-0101", "contactId": "c-ada", "workspaceId": "workspace-123"}
    first = json.loads(stack.api.invoke(api_event("api_schedule_sms", body))["body"])["messageId"]
    email = {**SEED_EMAIL, "to": "Ada@Example.com", "contactId": "c-ada", "workspaceId": "workspace-123"}
    second = json.loads(stack.api.invoke(api_event("api_schedule_email", email))["body"])["messageId"]
    elsewhere = {**body, "workspaceId": "workspace-456"}
    assert stack.api.invoke(api_event("api_schedule_sms", elsewhere))["statusCode"] == 202

    # The number typed another way, the address in other case: the same keyed hash.
    status, found = search(stack, workspaceId="workspace-123", recipient="+14155550101")
    assert status == 200
    assert [m["messageId"] for m in found["messages"]] == [first]
    assert found["messages"][0]["to"] != "+14155550101"  # shown masked
    assert [
        m["messageId"] for m in search(stack, workspaceId="workspace-123", recipient="ada@example.COM")[1]["messages"]
    ] == [second]
    by_contact = search(stack, workspaceId="workspace-123", contactId="c-ada")[1]["messages"]
    assert [m["messageId"] for m in by_contact] == [second, first]  # newest first
    assert search(stack, workspaceId="workspace-123", messageId=first)[1]["messages"][0]["status"] == "queued"
    # Another workspace's key cannot search this one; its own search does not see this one's messages.
    assert search(stack, workspace_key("workspace-456"), workspaceId="workspace-123", contactId="c-ada")[0] == 403
    theirs = search(stack, workspace_key("workspace-456"), workspaceId="workspace-456", messageId=first)
    assert theirs == (200, {"messages": []})


def test_the_ledger_keeps_a_keyed_hash_of_the_recipient_never_the_value(stack: Stack) -> None:
    body = {**SEED_SMS, "phoneNumber": "+14155550101", "workspaceId": "workspace-123"}
    message_id = json.loads(stack.api.invoke(api_event("api_schedule_sms", body))["body"])["messageId"]
    table = stack.resolver.resources["MessagesTable"].ref
    item = stack.dynamodb.get_item(TableName=table, Key={"messageId": {"S": message_id}})["Item"]
    stored = {key: value for key, value in item.items() if key != "payload"}  # the copy to send, until it is sent
    assert "4155550101" not in json.dumps(stored)
    workspace, digest = item["workspaceRecipient"]["S"].rsplit("#", 1)
    assert workspace == "workspace-123"
    assert len(digest) == 40


@pytest.mark.parametrize(
    "query",
    [
        {"workspaceId": "workspace-123"},
        {"workspaceId": "workspace-123", "contactId": "a", "messageId": "b"},
        {"workspaceId": "workspace-123", "recipient": "not a number"},
    ],
)
def test_a_search_needs_exactly_one_valid_criterion(stack: Stack, query: dict[str, str]) -> None:
    status, body = search(stack, **query)
    assert status == 422
    assert body["detail"][0]["field"] in ("messageId/contactId/recipient/broadcastId", "recipient")


def test_broadcasts_on_the_dashboard_with_progress_and_cancel(stack: Stack) -> None:
    recipients = [{"phoneNumber": f"+1555000{i:04d}", "contactId": f"c{i}"} for i in range(12)]
    bulk = {"workspaceId": "workspace-456", "message": "Hi", "name": "spring", "recipients": recipients}
    event = route_event("POST", "/api/bulk-sms", body=bulk)
    accepted = json.loads(stack.api.invoke(event)["body"])
    broadcast_id = accepted["broadcastId"]
    shown = overview(stack)["broadcasts"]
    assert [(b["broadcastId"], b["total"], b["queued"]) for b in shown] == [(broadcast_id, 12, 12)]
    assert overview(stack, workspace_key("workspace-123"))["broadcasts"] == []
    members = search(stack, workspaceId="workspace-456", broadcastId=broadcast_id)[1]["messages"]
    assert len(members) == 12
    assert {m["broadcastId"] for m in members} == {broadcast_id}
    path = f"/api/admin/queues/broadcasts/{broadcast_id}/cancel"
    resource = "/api/admin/queues/broadcasts/{broadcastId}/cancel"
    params = {"broadcastId": broadcast_id}
    assert call(stack, "POST", path, workspace_key("workspace-123"), None, None, resource, params)[0] == 404
    status, cancelled = call(stack, "POST", path, workspace_key("workspace-456"), None, None, resource, params)
    assert status == 200
    assert cancelled["state"] == "cancelled"
    assert overview(stack)["broadcasts"][0]["state"] == "cancelled"


def test_the_bulk_dead_letter_queue_is_peeked_and_redriven_to_the_bulk_queue(stack: Stack) -> None:
    stack.sqs.send_message(
        QueueUrl=stack.queue_url("SmsBulkDeadLetterQueue"),
        MessageBody=json.dumps({"messageId": "m-1", "to": "+15550001111"}),
    )
    params = {"channel": "sms"}
    status, peeked = call(
        stack, "GET", "/api/admin/dlq/sms", ADMIN, None, {"queue": "bulk"}, "/api/admin/dlq/{channel}", params
    )
    assert status == 200
    assert [m["messageId"] for m in peeked["messages"]] == ["m-1"]
    assert (
        call(stack, "GET", "/api/admin/dlq/sms", ADMIN, None, None, "/api/admin/dlq/{channel}", params)[1]["messages"]
        == []
    )
    status, started = call(
        stack,
        "POST",
        "/api/admin/dlq/sms/redrive",
        ADMIN,
        None,
        {"queue": "bulk"},
        "/api/admin/dlq/{channel}/redrive",
        params,
    )
    assert status == 202
    assert started["destination"].endswith(":send-sms-bulk-queue")
    assert [json.loads(m["Body"])["messageId"] for m in stack.receive("SmsBulkQueue", 10)] == ["m-1"]


def test_oldest_message_age_comes_from_cloudwatch(stack: Stack) -> None:
    from datetime import UTC, datetime

    import boto3

    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": "send-email-queue"}],
                "Value": 321.0,
                "Timestamp": datetime.now(UTC),
            }
        ],
    )
    ages = {q["name"]: q["oldestAgeSeconds"] for q in overview(stack)["queues"]}
    assert ages["send-email-queue"] == 321.0
    assert ages["send-sms-queue"] is None  # nothing published: unknown, not zero


def test_a_dead_lettered_message_shows_in_the_dlq_depth(stack: Stack) -> None:
    post_sms(stack, 2)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate5xx": 1.0})
    stack.sms_worker.invoke(with_receive_count(stack.receive_event("SmsQueue", 2), 8))
    depths = {q["name"]: q["visible"] for q in overview(stack)["queues"]}
    assert depths["send-sms-dlq"] == 2
