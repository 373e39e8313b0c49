"""Workspace settings: the routes, and what the workers do with them (sender IDs, pause)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from queue_services import workspaces
from tests.support.events import api_event, route_event, workspace_key
from tests.support.integration_stack import Stack, failed_ids, metrics
from tests.support.seeds import SEED_EMAIL, SEED_SMS

SETTINGS = "/api/workspaces/{workspaceId}/settings"


def settings_call(
    stack: Stack, method: str, workspace: str, body: Any = None, caller: dict[str, str] | None = None
) -> tuple[int, Any]:
    extra = {"caller": caller} if caller is not None else {}
    event = route_event(
        method,
        SETTINGS.format(workspaceId=workspace),
        SETTINGS,
        body,
        path_parameters={"workspaceId": workspace},
        **extra,
    )
    response = stack.api.invoke(event)
    return response["statusCode"], json.loads(response["body"])


def test_a_workspace_without_settings_has_the_defaults(stack: Stack) -> None:
    status, answer = settings_call(stack, "GET", "workspace-123", caller=workspace_key("workspace-123"))
    assert status == 200
    assert answer == {
        "workspaceId": "workspace-123",
        "smsFrom": None,
        "emailFrom": None,
        "smsPerSecond": None,
        "emailPerSecond": None,
        "paused": False,
        "updatedAt": None,
    }


def test_settings_are_replaced_read_back_and_listed(stack: Stack) -> None:
    body = {"smsFrom": "Acme 2", "emailFrom": "Acme <noreply@acme.example>", "smsPerSecond": 10, "paused": True}
    status, answer = settings_call(stack, "PUT", "workspace-123", body, caller=workspace_key("workspace-123"))
    assert status == 200, answer
    assert answer["smsFrom"] == "Acme 2"
    assert answer["emailFrom"] == "Acme <noreply@acme.example>"
    assert (answer["smsPerSecond"], answer["emailPerSecond"], answer["paused"]) == (10, None, True)
    assert settings_call(stack, "GET", "workspace-123")[1] == answer
    listing = stack.api.invoke(route_event("GET", "/api/workspaces"))
    assert json.loads(listing["body"])["workspaces"] == [answer]
    # PUT replaces the whole: what is left out is unset
    assert settings_call(stack, "PUT", "workspace-123", {})[1]["smsFrom"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"smsFrom": "TooLongSenderId"}, "smsFrom"),
        ({"smsFrom": "12345"}, "smsFrom"),  # an alphanumeric ID needs a letter
        ({"smsFrom": "Acme-Co"}, "smsFrom"),
        ({"smsFrom": "+0123"}, "smsFrom"),
        ({"emailFrom": "Acme <not an address>"}, "emailFrom"),
        ({"emailFrom": "Acme <a@b.example"}, "emailFrom"),
        ({"smsPerSecond": 0}, "smsPerSecond"),
        ({"smsPerSecond": 5e-324}, "smsPerSecond"),  # found by the fuzzer: DynamoDB refused it (a 503)
        ({"smsPerSecond": 5001}, "smsPerSecond"),  # over the channel's rate (5,000/s in this tier)
        ({"emailPerSecond": 100_001}, "emailPerSecond"),
        ({"paused": "yes please"}, "paused"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_settings_are_a_422_naming_the_field(stack: Stack, body: dict[str, Any], field: str) -> None:
    status, answer = settings_call(stack, "PUT", "workspace-123", body)
    assert status == 422, answer
    assert field in {item["field"] for item in answer["detail"]}


def test_a_workspace_key_sees_and_changes_only_its_own_settings(stack: Stack) -> None:
    other = workspace_key("workspace-456")
    assert settings_call(stack, "GET", "workspace-123", caller=other)[0] == 403
    assert settings_call(stack, "PUT", "workspace-123", {"paused": True}, caller=other)[0] == 403
    assert stack.api.invoke(route_event("GET", "/api/workspaces", caller=other))["statusCode"] == 403


@pytest.mark.parametrize(("route", "queue", "field", "value"), [
    ("api_schedule_sms", "SmsQueue", "smsFrom", "+15557654321"),
    ("api_schedule_email", "EmailQueue", "emailFrom", "Acme <noreply@acme.example>"),
])  # fmt: skip
def test_the_workspaces_sender_reaches_the_provider(
    stack: Stack, route: str, queue: str, field: str, value: str
) -> None:
    assert settings_call(stack, "PUT", "workspace-123", {field: value})[0] == 200
    seed = SEED_SMS if route == "api_schedule_sms" else SEED_EMAIL
    assert stack.api.invoke(api_event(route, {**seed, "workspaceId": "workspace-123"}))["statusCode"] == 202
    worker = stack.sms_worker if queue == "SmsQueue" else stack.email_worker
    assert worker.invoke(stack.receive_event(queue, 1)) == {"batchItemFailures": []}
    (delivered,) = stack.sink_messages()
    assert delivered["from"] == value


def test_without_a_sender_the_provider_request_has_no_from(stack: Stack) -> None:
    assert stack.api.invoke(api_event("api_schedule_sms", SEED_SMS))["statusCode"] == 202
    stack.sms_worker.invoke(stack.receive_event("SmsQueue", 1))
    (delivered,) = stack.sink_messages()
    assert "from" not in delivered


def test_a_paused_workspace_waits_without_failing_then_sends_when_resumed(stack: Stack) -> None:
    # Given workspace-123 paused, and one SMS each from workspace-123 and workspace-456
    assert settings_call(stack, "PUT", "workspace-123", {"paused": True})[0] == 200
    for workspace in ("workspace-123", "workspace-456"):
        body = {**SEED_SMS, "workspaceId": workspace}
        assert stack.api.invoke(api_event("api_schedule_sms", body))["statusCode"] == 202
    # When a batch holds both
    event = stack.receive_event("SmsQueue", 2)
    result = stack.sms_worker.invoke(event)
    # Then only workspace-456's went; workspace-123's is handed back, neither failed nor attempted
    assert [m["workspaceId"] for m in stack.sink_messages()] == ["workspace-456"]
    paused_record = next(r for r in event["Records"] if json.loads(r["body"])["workspaceId"] == "workspace-123")
    assert failed_ids(result) == {paused_record["messageId"]}
    counts = metrics(stack)["sms"]["workspaces"]
    assert "workspace-123" not in counts or counts["workspace-123"]["failed"] == 0
    message_id = json.loads(paused_record["body"])["messageId"]
    record = json.loads(
        stack.api.invoke(
            route_event(
                "GET",
                f"/api/messages/{message_id}",
                "/api/messages/{messageId}",
                path_parameters={"messageId": message_id},
            )
        )["body"]
    )
    assert (record["status"], record["attempts"]) == ("queued", 0)
    # And once resumed, and the worker's cached settings have expired, it is sent
    assert settings_call(stack, "PUT", "workspace-123", {"paused": False})[0] == 200
    time.sleep(workspaces.SETTINGS_TTL_SECONDS)
    assert stack.sms_worker.invoke(event) == {"batchItemFailures": []}  # the same record, redelivered
    assert sorted(m["workspaceId"] for m in stack.sink_messages()) == ["workspace-123", "workspace-456"]


def test_a_capped_workspaces_messages_past_its_batch_share_go_back_unclaimed_and_untried(stack: Stack) -> None:
    # Given workspace-123 capped at 1 SMS a second, and 5 SMS from it beside 3 from workspace-456
    assert settings_call(stack, "PUT", "workspace-123", {"smsPerSecond": 1})[0] == 200
    for n in range(8):
        body = {**SEED_SMS, "workspaceId": "workspace-123" if n < 5 else "workspace-456"}
        assert stack.api.invoke(api_event("api_schedule_sms", body))["statusCode"] == 202
    # When one batch holds all 8
    event = stack.receive_event("SmsQueue", 8)
    result = stack.sms_worker.invoke(event)
    # Then workspace-456's went, and of workspace-123's only the 2 its cap allows this batch were tried
    # (sent, or handed back from `sending` when no slot of its cap came in time)
    sent_ids = {m["messageId"] for m in stack.sink_messages()}
    bodies = {r["messageId"]: json.loads(r["body"]) for r in event["Records"]}
    assert sorted(m["workspaceId"] for m in stack.sink_messages()).count("workspace-456") == 3
    statuses = {}
    for sqs_id, body in bodies.items():
        if body["workspaceId"] != "workspace-123":
            continue
        message_id = body["messageId"]
        answer = stack.api.invoke(
            route_event(
                "GET",
                f"/api/messages/{message_id}",
                "/api/messages/{messageId}",
                path_parameters={"messageId": message_id},
            )
        )
        record = json.loads(answer["body"])
        statuses[sqs_id] = (record["status"], record["attempts"])
    assert sorted(status for status, _ in statuses.values()).count("queued") == 3
    assert all(status in ("sent", "sending") for status, _ in statuses.values() if status != "queued")
    # And the 3 untried went back to the queue never claimed, no attempt counted, none failed
    untried = {sqs_id for sqs_id, (status, attempts) in statuses.items() if status == "queued" and attempts == 0}
    assert len(untried) == 3
    assert untried <= failed_ids(result)
    assert failed_ids(result) == {sqs_id for sqs_id, body in bodies.items() if body["messageId"] not in sent_ids}
    assert metrics(stack)["sms"]["workspaces"].get("workspace-123", {}).get("failed", 0) == 0
