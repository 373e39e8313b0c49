"""Broadcasts under moto with the provider sink: bulk accept with rejections by index, delivery from the bulk
queue, progress from the ledger, cancel, Idempotency-Key, isolation and retries to the bulk queue's DLQ."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from local_stack.lambda_context import LocalLambdaContext
from local_stack.runtime import FunctionError
from queue_services import composition
from queue_services.adapters.ledger import Ledger
from queue_services.adapters.metrics_store import MetricsStore
from queue_services.adapters.settlement import Settlement
from queue_services.batch_outcomes import earned_counts
from queue_services.channels import Channel
from queue_services.delivery import BatchSender
from queue_services.statuses import MessageStatus
from tests.support.events import ADMIN, route_event, workspace_key
from tests.support.integration_stack import Stack, metrics, post_sms, with_receive_count


class WorkerDied(Exception):
    """Stands for the invocation dying (timeout, out of memory) after its provider calls."""


def recipients(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"phoneNumber": f"+1555{index:07d}", "contactId": f"contact-{index}", "variables": {"firstName": f"N{index}"}}
        for index in range(start, start + count)
    ]


def bulk_sms(
    stack: Stack,
    people: list[dict[str, Any]],
    caller: dict[str, str] | None = ADMIN,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> tuple[int, dict[str, Any]]:
    body = {"workspaceId": "workspace-123", "message": "Hi {{firstName}}", "recipients": people, **extra}
    event = route_event("POST", "/api/bulk-sms", body=body, caller=caller)
    event["headers"].update(headers or {})
    answer = stack.api.invoke(event)
    return answer["statusCode"], json.loads(answer["body"])


def broadcast(stack: Stack, broadcast_id: str, method: str = "GET", caller: dict[str, str] | None = ADMIN) -> Any:
    event = route_event(
        method,
        f"/api/broadcasts/{broadcast_id}",
        resource="/api/broadcasts/{broadcastId}",
        caller=caller,
        path_parameters={"broadcastId": broadcast_id},
    )
    answer = stack.api.invoke(event)
    return answer["statusCode"], json.loads(answer["body"])


def drain_bulk(stack: Stack, batches: int | None = None, size: int = 50) -> None:
    """Invoke the SMS worker on the bulk queue's messages, as its second event source would."""
    done = 0
    while batches is None or done < batches:
        event = stack.receive_event("SmsBulkQueue", size)
        if not event["Records"]:
            return
        stack.sms_worker.invoke(event)
        done += 1


def test_a_bulk_request_accepts_the_valid_recipients_and_reports_the_others_by_index(stack: Stack) -> None:
    people = recipients(5)
    people[1]["phoneNumber"] = "12"
    people[3]["variables"] = {}
    status, answer = bulk_sms(stack, people, name="spring")
    assert status == 202
    assert answer["accepted"] == 3
    assert [(r["index"], r["contactId"]) for r in answer["rejected"]] == [(1, "contact-1"), (3, "contact-3")]
    assert answer["rejected"][0]["error"].startswith("phoneNumber")
    assert answer["rejected"][1]["error"].startswith("variables")
    # Then the accepted copies are on the bulk queue, not the single sends' queue, each rendered
    bodies = [json.loads(m["Body"]) for m in stack.receive("SmsBulkQueue", 10)]
    assert sorted(b["message"] for b in bodies) == ["Hi N0", "Hi N2", "Hi N4"]
    assert {b["broadcastId"] for b in bodies} == {answer["broadcastId"]}
    assert stack.receive("SmsQueue", 10) == []


def test_a_request_with_no_valid_recipient_is_a_422_naming_recipients(stack: Stack) -> None:
    status, answer = bulk_sms(stack, [{"phoneNumber": "x", "contactId": "c"}])
    assert status == 422
    assert answer["message"].startswith("recipients:")
    assert stack.receive("SmsBulkQueue", 10) == []


def test_a_broadcast_is_delivered_once_and_its_progress_counts_every_message(stack: Stack) -> None:
    status, answer = bulk_sms(stack, recipients(120))
    assert status == 202
    assert broadcast(stack, answer["broadcastId"])[1]["state"] == "active"
    drain_bulk(stack)
    sent = stack.sink_messages("sms")
    assert len(sent) == 120
    assert len({m["to"] for m in sent}) == 120
    status, progress = broadcast(stack, answer["broadcastId"])
    assert status == 200
    assert (progress["total"], progress["sent"], progress["queued"], progress["failed"]) == (120, 120, 0, 0)
    assert (progress["state"], progress["etaSeconds"]) == ("done", None)


def test_a_done_broadcast_is_listed_done_and_a_cancel_leaves_it_done(stack: Stack) -> None:
    _, answer = bulk_sms(stack, recipients(20))
    drain_bulk(stack)
    listed = stack.api.invoke(
        route_event("GET", "/api/broadcasts", query={"workspaceId": "workspace-123"}, caller=ADMIN)
    )
    assert [b["state"] for b in json.loads(listed["body"])["broadcasts"]] == ["done"]
    status, after_cancel = broadcast(stack, answer["broadcastId"], "DELETE")
    assert status == 200
    assert (after_cancel["state"], after_cancel["cancelled"], after_cancel["cancelledAt"]) == ("done", 0, None)
    assert broadcast(stack, answer["broadcastId"])[1]["state"] == "done"


def test_a_cancel_mid_broadcast_stops_the_rest(stack: Stack) -> None:
    _, answer = bulk_sms(stack, recipients(60))
    drain_bulk(stack, batches=1, size=10)
    status, cancelled = broadcast(stack, answer["broadcastId"], "DELETE")
    assert status == 200
    assert cancelled["state"] == "cancelled"
    drain_bulk(stack)
    assert len(stack.sink_messages("sms")) == 10
    _, progress = broadcast(stack, answer["broadcastId"])
    assert (progress["sent"], progress["cancelled"], progress["queued"]) == (10, 50, 0)


def test_a_retried_bulk_request_with_its_idempotency_key_creates_nothing_twice(stack: Stack) -> None:
    people = recipients(12)
    people[0]["phoneNumber"] = "bad"
    first = bulk_sms(stack, people, headers={"Idempotency-Key": "campaign-7"})
    again = bulk_sms(stack, people, headers={"Idempotency-Key": "campaign-7"})
    assert first == again
    assert first[1]["accepted"] == 11
    assert len(stack.receive("SmsBulkQueue", 30)) == 11


def test_another_workspace_cannot_see_list_or_cancel_a_broadcast(stack: Stack) -> None:
    _, answer = bulk_sms(stack, recipients(2))
    other = workspace_key("workspace-456")
    assert broadcast(stack, answer["broadcastId"], caller=other)[0] == 404
    assert broadcast(stack, answer["broadcastId"], "DELETE", caller=other)[0] == 404
    assert bulk_sms(stack, recipients(2), caller=other)[0] == 403
    listing = route_event("GET", "/api/broadcasts", caller=other)
    listing["queryStringParameters"] = {"workspaceId": "workspace-123"}
    assert stack.api.invoke(listing)["statusCode"] == 403


def test_broadcasts_are_listed_newest_first_by_pages(stack: Stack) -> None:
    ids = [bulk_sms(stack, recipients(1), name=f"b{n}")[1]["broadcastId"] for n in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        event = route_event("GET", "/api/broadcasts", caller=workspace_key("workspace-123"))
        event["queryStringParameters"] = {"workspaceId": "workspace-123", "limit": "2"}
        if cursor:
            event["queryStringParameters"]["cursor"] = cursor
        page = json.loads(stack.api.invoke(event)["body"])
        seen += [b["broadcastId"] for b in page["broadcasts"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


def test_a_refused_field_is_located_in_the_query_path_or_body_it_came_in(stack: Stack) -> None:
    other = workspace_key("workspace-456")
    listing = route_event("GET", "/api/broadcasts", caller=ADMIN)
    listing["queryStringParameters"] = {"workspaceId": "workspace-123", "cursor": "not-a-cursor"}
    foreign = route_event("GET", "/api/broadcasts", caller=other)
    foreign["queryStringParameters"] = {"workspaceId": "workspace-123"}
    answers = [
        stack.api.invoke(listing),
        stack.api.invoke(foreign),
        stack.api.invoke(route_event("DELETE", "/api/admin/keys/no-such-key", caller=ADMIN)),
    ]
    status, posted = bulk_sms(stack, recipients(1), caller=other)
    details = [json.loads(answer["body"])["detail"][0] for answer in answers] + [posted["detail"][0]]
    assert [answer["statusCode"] for answer in answers] + [status] == [422, 403, 404, 403]
    assert [detail["loc"] for detail in details] == [
        ["query", "cursor"],
        ["query", "workspaceId"],
        ["path", "keyId"],
        ["body", "workspaceId"],
    ]


def test_a_bulk_message_failing_after_its_attempts_goes_to_the_bulk_queue_dlq(stack: Stack) -> None:
    # Retries go back to the queue the batch came from: a broadcast's message dead-letters into its own DLQ
    bulk_sms(stack, recipients(1))
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate5xx": 1.0})
    event = with_receive_count(stack.receive_event("SmsBulkQueue", 1), 8)
    assert stack.sms_worker.invoke(event) == {"batchItemFailures": []}
    assert len(stack.receive("SmsBulkDeadLetterQueue", 10)) == 1
    assert stack.receive("SmsDeadLetterQueue", 10) == []


def test_a_crash_after_the_sends_leaves_the_counters_and_the_progress_exact(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a broadcast of 40 and a worker that dies right after its sends, before it writes anything else
    _, answer = bulk_sms(stack, recipients(40))
    event = stack.receive_event("SmsBulkQueue", 40)
    original = BatchSender.send_all

    def dying_send_all(self: BatchSender, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        raise WorkerDied("invocation died after the provider calls")

    monkeypatch.setattr(BatchSender, "send_all", dying_send_all)
    with pytest.raises(FunctionError, match="invocation died"):
        stack.sms_worker.invoke(event)
    assert len(stack.sink_messages("sms")) == 40
    # When SQS delivers the batch again to a healthy worker, and then once more (a delete was lost)
    monkeypatch.setattr(BatchSender, "send_all", original)
    assert stack.sms_worker.invoke(event) == {"batchItemFailures": []}
    assert stack.sms_worker.invoke(event) == {"batchItemFailures": []}
    # Then nothing was sent twice, and the counters and the broadcast's progress end exactly at 40
    assert len(stack.sink.state.requests) == 40
    counts = metrics(stack)["sms"]["workspaces"]["workspace-123"]
    assert (counts["total"], counts["success"], counts["failed"]) == (40, 40, 0)
    _, progress = broadcast(stack, answer["broadcastId"])
    assert (progress["sent"], progress["queued"], progress["sending"]) == (40, 0, 0)


def test_single_sends_are_counted_once_however_often_their_batch_is_delivered(stack: Stack) -> None:
    ids = post_sms(stack, 8, workspaces=("workspace-456",))
    event = stack.receive_event("SmsQueue", 8)
    for _ in range(3):
        assert stack.sms_worker.invoke(event) == {"batchItemFailures": []}
    assert len(ids) == len(stack.sink.state.requests) == 8
    assert metrics(stack)["sms"]["workspaces"]["workspace-456"]["success"] == 8


def broadcast_schedules(stack: Stack) -> list[dict[str, Any]]:
    client = boto3.client("scheduler")
    summaries = client.list_schedules(GroupName="scheduled-sms")["Schedules"]
    return [client.get_schedule(GroupName="scheduled-sms", Name=s["Name"]) for s in summaries]


def fire(stack: Stack, schedule: dict[str, Any]) -> None:
    """Deliver a schedule's target input as Scheduler would, without its delay."""
    request = json.loads(schedule["Target"]["Input"])
    request["DelaySeconds"] = 0
    stack.sqs.send_message(**request)


@pytest.fixture
def short_sqs_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything due more than 3 s ahead goes through the Scheduler (as the e2e stack does), so that a
    scheduled broadcast's messages are due seconds after its fan-out."""
    monkeypatch.setenv("MAX_SQS_DELAY_SECONDS", "3")
    composition.reset()


def test_a_broadcast_due_later_than_sqs_can_delay_has_one_schedule_and_fans_out_when_it_fires(
    stack: Stack, short_sqs_delay: None
) -> None:
    # Due 6 s ahead, past the 3 s SQS limit, once the api is warm: on a loaded machine its first request
    # (clients built) took over 2 s, and a broadcast then due in under 3 s rightly went through SQS.
    metrics(stack)
    send_at = (datetime.now(UTC) + timedelta(seconds=6)).isoformat()
    status, answer = bulk_sms(stack, recipients(30), sendAt=send_at)
    assert status == 202
    # One schedule for the whole broadcast; nothing queued, every message scheduled
    (schedule,) = broadcast_schedules(stack)
    assert json.loads(json.loads(schedule["Target"]["Input"])["MessageBody"]) == {
        "fanout": answer["broadcastId"],
        "channel": "sms",
    }
    assert stack.receive("SmsBulkQueue", 10) == []
    assert broadcast(stack, answer["broadcastId"])[1]["queued"] == 30
    # When it fires, the worker that gets the order queues the messages; at their time they are sent once
    fire(stack, schedule)
    assert stack.sms_worker.invoke(stack.receive_event("SmsBulkQueue", 10)) == {"batchItemFailures": []}
    time.sleep(max(0.0, (datetime.fromisoformat(send_at) - datetime.now(UTC)).total_seconds()) + 1.2)
    drain_bulk(stack)
    assert sorted(m["to"] for m in stack.sink_messages("sms")) == sorted(r["phoneNumber"] for r in recipients(30))
    _, progress = broadcast(stack, answer["broadcastId"])
    assert (progress["sent"], progress["queued"]) == (30, 0)
    # And the order delivered again (SQS is at-least-once) queues nothing more
    fire(stack, schedule)
    assert stack.sms_worker.invoke(stack.receive_event("SmsBulkQueue", 10)) == {"batchItemFailures": []}
    assert stack.receive("SmsBulkQueue", 10) == []


def test_a_scheduled_broadcast_cancelled_before_it_fires_sends_nothing(stack: Stack, short_sqs_delay: None) -> None:
    send_at = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    _, answer = bulk_sms(stack, recipients(12), sendAt=send_at)
    (schedule,) = broadcast_schedules(stack)
    status, cancelled = broadcast(stack, answer["broadcastId"], "DELETE")
    # The cancel answers at once: the broadcast is cancelled, its schedule gone, and its fan-out order on
    # the bulk queue, so that a worker cancels the 12 scheduled messages (not this request)
    assert status == 200
    assert (cancelled["state"], cancelled["queued"] + cancelled["cancelled"]) == ("cancelled", 12)
    assert broadcast_schedules(stack) == []
    orders = stack.receive_event("SmsBulkQueue", 10)
    assert [json.loads(r["body"]) for r in orders["Records"]] == [{"fanout": answer["broadcastId"], "channel": "sms"}]
    assert stack.sms_worker.invoke(orders) == {"batchItemFailures": []}
    _, progress = broadcast(stack, answer["broadcastId"])
    assert (progress["cancelled"], progress["queued"], progress["sent"]) == (12, 0, 0)
    # An order already on its way (the schedule fired as the cancel came) queues nothing either
    fire(stack, schedule)
    assert stack.sms_worker.invoke(stack.receive_event("SmsBulkQueue", 10)) == {"batchItemFailures": []}
    assert stack.receive("SmsBulkQueue", 10) == []
    assert stack.sink_messages("sms") == []


def test_a_broadcasts_failures_by_reason_and_its_messages_cancelled_one_by_one_are_counted(stack: Stack) -> None:
    # Given a broadcast of 30, three of whose recipients the provider refuses, and one message cancelled alone
    people = recipients(30)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(
        update={"reject": [person["phoneNumber"] for person in people[:3]]}
    )
    _, answer = bulk_sms(stack, people)
    table = stack.resolver.resources["MessagesTable"].ref
    ids = [
        item["messageId"]["S"]
        for item in stack.dynamodb.query(
            TableName=table,
            IndexName="byBroadcast",
            KeyConditionExpression="broadcastId = :b",
            ExpressionAttributeValues={":b": {"S": answer["broadcastId"]}},
        )["Items"]
    ]
    records = [stack.dynamodb.get_item(TableName=table, Key={"messageId": {"S": i}})["Item"] for i in ids]
    alone = next(r["messageId"]["S"] for r in records if r["contactId"]["S"] == "contact-29")
    event = route_event(
        "DELETE",
        f"/api/messages/{alone}",
        resource="/api/messages/{messageId}",
        caller=ADMIN,
        path_parameters={"messageId": alone},
    )
    assert stack.api.invoke(event)["statusCode"] == 200
    _, before = broadcast(stack, answer["broadcastId"])
    assert (before["queued"], before["cancelled"]) == (29, 1)
    # When its messages are sent
    drain_bulk(stack)
    # Then its progress holds every message once: sent, failed by reason, cancelled
    _, progress = broadcast(stack, answer["broadcastId"])
    assert len(stack.sink_messages("sms")) == 26
    assert (progress["sent"], progress["failed"], progress["cancelled"]) == (26, 3, 1)
    assert (progress["queued"], progress["sending"], progress["failedByReason"]) == (0, 0, {"HTTP 400": 3})
    assert progress["state"] == "done"


def test_a_late_settlement_refused_by_the_ledger_adds_nothing_to_the_progress_or_the_counters(stack: Stack) -> None:
    # Given a broadcast of 5, sent and counted
    _, answer = bulk_sms(stack, recipients(5))
    drain_bulk(stack)
    tables = {name: stack.resolver.resources[name].ref for name in ("MessagesTable", "MetricsTable", "BroadcastsTable")}
    ledger = Ledger(stack.dynamodb, tables["MessagesTable"], 30)
    ids = [
        item["messageId"]["S"]
        for item in stack.dynamodb.query(
            TableName=tables["MessagesTable"],
            IndexName="byBroadcast",
            KeyConditionExpression="broadcastId = :b",
            ExpressionAttributeValues={":b": {"S": answer["broadcastId"]}},
        )["Items"]
    ]
    late = [
        record.model_copy(update={"status": MessageStatus.FAILED, "last_error": "HTTP 400: late"})
        for record in ledger.get_many(ids).values()
    ]
    # When a delivery that lost them (its claim long taken over) settles them as failed
    settlement = Settlement(
        stack.dynamodb,
        tables["MessagesTable"],
        MetricsStore(stack.dynamodb, tables["MetricsTable"]),
        tables["BroadcastsTable"],
    )
    assert settlement.settle(Channel.SMS, late, earned_counts) == set()
    # Then the refused transactions wrote nothing: neither the records, nor the progress, nor the metrics
    _, progress = broadcast(stack, answer["broadcastId"])
    assert (progress["sent"], progress["failed"], progress["sending"], progress["failedByReason"]) == (5, 0, 0, {})
    counts = metrics(stack)["sms"]["workspaces"]["workspace-123"]
    assert (counts["success"], counts["failed"]) == (5, 0)
    assert {record.status for record in ledger.get_many(ids).values()} == {MessageStatus.SENT}


def test_a_batchs_independent_reads_and_writes_run_side_by_side(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each round trip before a batch's first send (or after its last) is time its environment sends nothing:
    # the ledger read and the broadcasts' state, then the settlement and the counters, go at the same time.
    # Each pair meets at a barrier; done one after the other, the first to arrive waits alone and breaks it.
    from queue_services import worker_composition

    _, answer = bulk_sms(stack, recipients(20))
    worker = worker_composition.channel_worker.__wrapped__(Channel.SMS)
    reads, writes = threading.Barrier(2, timeout=5), threading.Barrier(2, timeout=5)
    met: list[str] = []

    def meeting(barrier: threading.Barrier, name: str, call: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            barrier.wait()
            met.append(name)
            return call(*args, **kwargs)

        return wrapped

    for part, method, barrier, name in [
        (worker._ledger, "get_many", reads, "ledger read"),
        (worker._broadcasts, "cancelled_among", reads, "broadcasts read"),
        (worker._settlement, "settle", writes, "settlement"),
        (worker._metrics_store, "record", writes, "counters"),
    ]:
        monkeypatch.setattr(part, method, meeting(barrier, name, getattr(part, method)))
    event = stack.receive_event("SmsBulkQueue", 20)
    assert worker.process(event, LocalLambdaContext("SmsWorkerFunction", 512, 60)) == {"batchItemFailures": []}
    assert sorted(met) == ["broadcasts read", "counters", "ledger read", "settlement"]
    assert len(stack.sink_messages("sms")) == 20
    _, progress = broadcast(stack, answer["broadcastId"])
    assert progress["sent"] == 20
