"""Scheduling beyond 15 minutes, the message ledger, status, cancel and reschedule (moto + provider sink)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from queue_services.adapters.schedules import UNIVERSAL_SQS_SEND
from tests.support.events import api_event, sqs_event_from_messages, workspace_key
from tests.support.integration_stack import Stack
from tests.support.seeds import SEED_SMS


def message_event(
    method: str, message_id: str, body: Any = None, caller: dict[str, str] | None = None
) -> dict[str, Any]:
    event = api_event("api_get_metrics") if caller is None else api_event("api_get_metrics", caller=caller)
    path = f"/api/messages/{message_id}"
    event.update(
        httpMethod=method, path=path, resource="/api/messages/{messageId}", pathParameters={"messageId": message_id}
    )
    event["body"] = None if body is None else json.dumps(body)
    event["requestContext"].update(httpMethod=method, resourcePath="/api/messages/{messageId}", path=f"/dev{path}")
    return event


def call(stack: Stack, method: str, message_id: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    response = stack.api.invoke(message_event(method, message_id, body, **kwargs))
    return response["statusCode"], json.loads(response["body"])


def schedule(stack: Stack, **changes: Any) -> dict[str, Any]:
    response = stack.api.invoke(api_event("api_schedule_sms", {**SEED_SMS, **changes}))
    assert response["statusCode"] == 202, response["body"]
    answer: dict[str, Any] = json.loads(response["body"])
    return answer


def schedules(stack: Stack) -> list[dict[str, Any]]:
    import boto3

    client = boto3.client("scheduler")
    summaries = client.list_schedules(GroupName="scheduled-sms")["Schedules"]
    return [client.get_schedule(GroupName="scheduled-sms", Name=s["Name"]) for s in summaries]


def test_a_long_delay_becomes_a_one_time_schedule(stack: Stack) -> None:
    # Given a message for two hours from now
    answer = schedule(stack, delay=2 * 3600 * 1000)
    # Then it is scheduled, not queued
    assert answer["status"] == "scheduled"
    assert stack.receive("SmsQueue", 10) == []
    (created,) = schedules(stack)
    send_at = datetime.fromisoformat(answer["sendAt"])
    assert created["Name"] == answer["messageId"]
    assert created["ScheduleExpressionTimezone"] == "UTC"
    assert created["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert created["ActionAfterCompletion"] == "DELETE"
    fire_at = datetime.strptime(created["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)
    assert send_at - timedelta(seconds=121) <= fire_at <= send_at - timedelta(seconds=118)
    target = created["Target"]
    assert target["Arn"] == UNIVERSAL_SQS_SEND
    assert target["RoleArn"] == stack.resolver.resources["SchedulerRole"].attributes["Arn"]
    request = json.loads(target["Input"])
    assert request["QueueUrl"] == stack.queue_url("SmsQueue")
    assert request["MessageGroupId"] == "workspace-id"
    assert 55 <= request["DelaySeconds"] <= 61
    assert json.loads(request["MessageBody"])["messageId"] == answer["messageId"]
    status, record = call(stack, "GET", answer["messageId"])
    assert (status, record["status"]) == (200, "scheduled")


def test_a_fired_schedule_that_lands_early_is_held_until_its_send_time(stack: Stack) -> None:
    # Given a scheduled message whose schedule fires (we deliver its Input as Scheduler would)
    answer = schedule(stack, delay=3600 * 1000)
    request = json.loads(schedules(stack)[0]["Target"]["Input"])
    request["DelaySeconds"] = 0
    stack.sqs.send_message(**request)
    # When the worker receives it an hour early
    result = stack.sms_worker.invoke(stack.receive_event("SmsQueue", 1))
    # Then it is not sent, nor counted, and SQS hides it until its send time
    assert len(result["batchItemFailures"]) == 1
    assert stack.sink.state.requests == []
    assert stack.receive("SmsQueue", 1) == []
    assert call(stack, "GET", answer["messageId"])[1]["status"] == "scheduled"


def test_status_moves_to_sent_with_attempts_and_provider_id(stack: Stack) -> None:
    answer = schedule(stack)
    status, record = call(stack, "GET", answer["messageId"])
    assert status == 200
    assert record["status"] == "queued"
    assert record["to"] == "+1******890"
    assert record["attempts"] == 0
    # First delivery: 503; second: sent
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate5xx": 1.0})
    event = stack.receive_event("SmsQueue", 1)
    stack.sms_worker.invoke(event)
    record = call(stack, "GET", answer["messageId"])[1]
    assert (record["status"], record["attempts"]) == ("queued", 1)
    assert record["lastError"].startswith("HTTP 503")
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate5xx": 0.0})
    assert stack.sms_worker.invoke(event) == {"batchItemFailures": []}
    record = call(stack, "GET", answer["messageId"])[1]
    assert (record["status"], record["attempts"]) == ("sent", 2)
    assert record["providerMessageId"].startswith("sink-")
    assert record["sentAt"]
    assert set(record) >= {"messageId", "channel", "workspaceId", "contactId", "sendAt", "createdAt", "updatedAt"}
    assert "payload" not in record


@pytest.mark.parametrize(
    ("text", "segments", "encoding"),
    [("Your code is 123456", 1, "GSM-7"), ("a" * 300, 2, "GSM-7"), ("Ça coûte 5 € " * 6, 2, "UCS-2")],
)
def test_an_sms_records_its_segments_and_encoding(stack: Stack, text: str, segments: int, encoding: str) -> None:
    answer = schedule(stack, message=text)
    record = call(stack, "GET", answer["messageId"])[1]
    assert (record["segments"], record["encoding"]) == (segments, encoding)
    # Still there once it is sent (the worker rewrites the record)
    stack.sms_worker.invoke(stack.receive_event("SmsQueue", 1))
    record = call(stack, "GET", answer["messageId"])[1]
    assert (record["status"], record["segments"], record["encoding"]) == ("sent", segments, encoding)


def test_permanent_failures_are_recorded_with_their_reason(stack: Stack) -> None:
    answer = schedule(stack, phoneNumber="+15550001234")
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"reject": ["+15550001234"]})
    stack.sms_worker.invoke(stack.receive_event("SmsQueue", 1))
    record = call(stack, "GET", answer["messageId"])[1]
    assert (record["status"], record["attempts"]) == ("failed", 1)
    assert record["lastError"].startswith("HTTP 400")


def test_unknown_and_foreign_messages_are_404(stack: Stack) -> None:
    answer = schedule(stack, workspaceId="ws-1")
    assert call(stack, "GET", "no-such-message")[0] == 404
    assert call(stack, "GET", answer["messageId"], caller=workspace_key("ws-2"))[0] == 404
    assert call(stack, "GET", answer["messageId"], caller=workspace_key("ws-1"))[0] == 200
    assert call(stack, "DELETE", answer["messageId"], caller=workspace_key("ws-2"))[0] == 404


def test_cancelling_a_queued_message_means_it_is_never_sent(stack: Stack) -> None:
    answer = schedule(stack, delay=1000)
    status, record = call(stack, "DELETE", answer["messageId"])
    assert (status, record["status"]) == (200, "cancelled")
    time.sleep(1.1)
    result = stack.sms_worker.invoke(stack.receive_event("SmsQueue", 1))
    assert result == {"batchItemFailures": []}  # deleted from the queue, not retried
    assert stack.sink.state.requests == []
    assert call(stack, "DELETE", answer["messageId"])[0] == 200  # cancelling twice is harmless


def test_cancelling_a_scheduled_message_deletes_its_schedule(stack: Stack) -> None:
    answer = schedule(stack, delay=3 * 3600 * 1000)
    assert len(schedules(stack)) == 1
    status, record = call(stack, "DELETE", answer["messageId"])
    assert (status, record["status"]) == (200, "cancelled")
    assert schedules(stack) == []


def test_cancelling_a_sent_message_is_a_409(stack: Stack) -> None:
    answer = schedule(stack)
    stack.sms_worker.invoke(stack.receive_event("SmsQueue", 1))
    status, body = call(stack, "DELETE", answer["messageId"])
    assert status == 409
    assert "sent" in body["message"]


def test_cancel_racing_send_never_yields_both(stack: Stack) -> None:
    # Given 30 queued messages, a worker sending them and a caller cancelling them at the same time
    ids = [schedule(stack, contactId=f"c{i}")["messageId"] for i in range(30)]
    event = stack.receive_event("SmsQueue", 30)
    answers: dict[str, int] = {}

    def cancel_all() -> None:
        for message_id in ids:
            answers[message_id] = call(stack, "DELETE", message_id)[0]

    canceller = threading.Thread(target=cancel_all)
    canceller.start()
    stack.sms_worker.invoke(event)
    canceller.join()
    delivered = {m["messageId"] for m in stack.sink_messages()}
    for message_id in ids:
        record = call(stack, "GET", message_id)[1]
        if message_id in delivered:
            assert record["status"] == "sent"
            assert answers[message_id] == 409
        else:
            assert record["status"] == "cancelled", (record, answers[message_id])
            assert answers[message_id] == 200


def test_rescheduling_a_queued_message_delivers_at_the_new_time_only(stack: Stack) -> None:
    answer = schedule(stack, delay=2000)
    new_time = datetime.now(UTC) + timedelta(seconds=4)
    status, record = call(stack, "PATCH", answer["messageId"], {"sendAt": new_time.isoformat()})
    assert (status, record["status"], record["version"]) == (200, "queued", 1)
    time.sleep(2.2)
    # The old copy is due first: it is stale and dropped
    old = stack.receive_event("SmsQueue", 10)
    assert len(old["Records"]) == 1
    assert stack.sms_worker.invoke(old) == {"batchItemFailures": []}
    assert stack.sink.state.requests == []
    new = stack.receive("SmsQueue", 10, wait_seconds=3)
    assert len(new) == 1
    assert time.time() >= new_time.timestamp() - 0.01
    assert stack.sms_worker.invoke(sqs_event_from_messages(new, stack.queue_arn("SmsQueue"))) == {
        "batchItemFailures": []
    }
    assert [m["messageId"] for m in stack.sink_messages()] == [answer["messageId"]]
    assert call(stack, "GET", answer["messageId"])[1]["status"] == "sent"


def test_rescheduling_moves_between_scheduler_and_queue(stack: Stack) -> None:
    answer = schedule(stack, delay=2 * 3600 * 1000)
    status, record = call(stack, "PATCH", answer["messageId"], {"delay": 1000})
    assert (status, record["status"]) == (200, "queued")
    assert schedules(stack) == []
    time.sleep(1.1)
    assert len(stack.receive("SmsQueue", 10)) == 1
    status, record = call(stack, "PATCH", answer["messageId"], {"delay": 5 * 3600 * 1000})
    assert (status, record["status"], record["version"]) == (200, "scheduled", 2)
    (moved,) = schedules(stack)
    assert moved["Name"] == f"{answer['messageId']}-v2"


def test_a_record_is_kept_thirty_days_after_its_send_time_even_when_rescheduled(stack: Stack) -> None:
    def retain_until(message_id: str) -> int:
        table = stack.resolver.resources["MessagesTable"].ref
        item = stack.dynamodb.get_item(TableName=table, Key={"messageId": {"S": message_id}})["Item"]
        return int(item["retainUntil"]["N"])

    # Given a message due in 60 days: the record outlives its send time by the retention (30 days)
    send_at = datetime.now(UTC) + timedelta(days=60)
    answer = schedule(stack, delay=None, sendAt=send_at.isoformat())
    assert retain_until(answer["messageId"]) >= (send_at + timedelta(days=30)).timestamp() - 1
    # When it is moved 200 days out, the record is kept until 30 days after that
    later = datetime.now(UTC) + timedelta(days=200)
    status, _ = call(stack, "PATCH", answer["messageId"], {"sendAt": later.isoformat()})
    assert status == 200
    assert retain_until(answer["messageId"]) >= (later + timedelta(days=30)).timestamp() - 1


@pytest.mark.parametrize(("body", "status"), [({}, 422), ({"delay": -1}, 422), ({"sendAt": "soon"}, 422)])
def test_reschedule_input_is_checked(stack: Stack, body: dict[str, Any], status: int) -> None:
    answer = schedule(stack)
    assert call(stack, "PATCH", answer["messageId"], body)[0] == status


def test_rescheduling_a_sent_message_is_a_409(stack: Stack) -> None:
    answer = schedule(stack)
    stack.sms_worker.invoke(stack.receive_event("SmsQueue", 1))
    assert call(stack, "PATCH", answer["messageId"], {"delay": 1000})[0] == 409


def test_the_full_recipient_and_text_are_kept_only_while_the_message_can_be_sent(stack: Stack) -> None:
    table = stack.resolver.resources["MessagesTable"].ref

    def stored(message_id: str) -> dict[str, Any]:
        item: dict[str, Any] = stack.dynamodb.get_item(TableName=table, Key={"messageId": {"S": message_id}})["Item"]
        return item

    queued_id, cancelled_id = schedule(stack)["messageId"], schedule(stack, delay=600_000)["messageId"]
    assert SEED_SMS["phoneNumber"] in stored(queued_id)["payload"]["S"]
    assert call(stack, "DELETE", cancelled_id)[0] == 200
    assert "payload" not in stored(cancelled_id)
    stack.sms_worker.invoke(stack.receive_event("SmsQueue", 1))
    assert call(stack, "GET", queued_id)[1]["status"] == "sent"
    assert "payload" not in stored(queued_id)
    assert SEED_SMS["phoneNumber"] not in json.dumps([stored(queued_id), stored(cancelled_id)])
