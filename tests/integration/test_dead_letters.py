"""Dead-letter admin routes under moto (StartMessageMoveTask through the local stack's emulation of it)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.events import api_event, workspace_key
from tests.support.integration_stack import Stack, post_sms, with_receive_count


def route_event(method: str, path: str, channel: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    event = api_event("api_get_metrics")
    resource = path.replace(channel, "{channel}")
    event.update(httpMethod=method, path=path, resource=resource, pathParameters={"channel": channel})
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    event["requestContext"].update(httpMethod=method, resourcePath=resource, path=f"/dev{path}")
    return event


def call(stack: Stack, method: str, path: str, channel: str = "sms", **kwargs: Any) -> tuple[int, Any]:
    response = stack.api.invoke(route_event(method, path, channel, **kwargs))
    return response["statusCode"], json.loads(response["body"])


def dead_letter_three(stack: Stack) -> list[str]:
    ids = post_sms(stack, 3)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate5xx": 1.0})
    assert stack.sms_worker.invoke(with_receive_count(stack.receive_event("SmsQueue", 3), 8)) == {
        "batchItemFailures": []
    }
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate5xx": 0.0})
    return ids


def test_peek_shows_reason_and_attempts_without_consuming(stack: Stack) -> None:
    ids = dead_letter_three(stack)
    status, body = call(stack, "GET", "/api/admin/dlq/sms")
    assert status == 200
    assert body["channel"] == "sms"
    assert body["approximateCount"] == 3
    assert sorted(m["messageId"] for m in body["messages"]) == sorted(ids)
    first = body["messages"][0]
    assert first["attempts"] == 8
    assert first["lastError"].startswith("HTTP 503")
    assert "*" in first["to"]  # masked
    # Peeking again sees the same three: nothing was consumed
    assert len(call(stack, "GET", "/api/admin/dlq/sms")[1]["messages"]) == 3
    assert call(stack, "GET", "/api/admin/dlq/sms", query={"limit": "1"})[1]["messages"].__len__() == 1


def test_redrive_moves_dead_letters_back_and_they_are_sent(stack: Stack) -> None:
    ids = dead_letter_three(stack)
    status, body = call(stack, "POST", "/api/admin/dlq/sms/redrive")
    assert status == 202
    assert body["taskHandle"]
    assert body["source"].endswith(":send-sms-dlq")
    assert body["destination"].endswith(":send-sms-queue")
    assert call(stack, "GET", "/api/admin/dlq/sms")[1]["approximateCount"] == 0
    event = stack.receive_event("SmsQueue", 10)
    assert {r["attributes"]["ApproximateReceiveCount"] for r in event["Records"]} == {"1"}
    assert stack.sms_worker.invoke(event) == {"batchItemFailures": []}
    assert sorted(m["messageId"] for m in stack.sink_messages()) == sorted(ids)


def test_purge_empties_the_dlq(stack: Stack) -> None:
    dead_letter_three(stack)
    status, body = call(stack, "DELETE", "/api/admin/dlq/sms")
    assert (status, body) == (200, {"channel": "sms", "purged": True})
    assert call(stack, "GET", "/api/admin/dlq/sms")[1]["messages"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/admin/dlq/sms"), ("POST", "/api/admin/dlq/sms/redrive"), ("DELETE", "/api/admin/dlq/sms")],
)
def test_dead_letter_routes_are_admin_only(stack: Stack, method: str, path: str) -> None:
    event = route_event(method, path, "sms")
    event["requestContext"]["authorizer"] = workspace_key("workspace-123")
    assert stack.api.invoke(event)["statusCode"] == 403


def test_unknown_channel_is_a_422(stack: Stack) -> None:
    status, body = call(stack, "GET", "/api/admin/dlq/push", channel="push")
    assert status == 422
    assert body["detail"][0]["field"] == "channel"
