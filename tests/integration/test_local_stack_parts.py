"""The local stack's event source pollers and schedule firing, against moto in-process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from moto import mock_aws

from local_stack.pollers import MappingConfig, QueuePoller, mappings_from_template
from local_stack.runtime import LocalFunction
from local_stack.scheduler import ScheduleFirer
from queue_services.adapters.schedules import UNIVERSAL_SQS_SEND
from tests.support.integration_stack import Stack


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs")


def make_queue(sqs: Any, name: str, visibility: int = 30, max_receive: int | None = None) -> tuple[str, str]:
    attributes = {"VisibilityTimeout": str(visibility)}
    if max_receive:
        dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


class Recorder:
    """A handler that records every event and answers as told."""

    def __init__(self, answer: Any = None, delay: float = 0.0) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer
        self.delay = delay
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self.lock:
            self.events.append(event)
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.delay)
        with self.lock:
            self.active -= 1
        return self.answer(event) if callable(self.answer) else self.answer

    @property
    def records(self) -> list[dict[str, Any]]:
        return [record for event in self.events for record in event["Records"]]


@contextmanager
def polling(sqs: Any, url: str, arn: str, handler: Recorder, **overrides: Any) -> Iterator[QueuePoller]:
    """A started poller for the queue, stopped when the block ends."""
    settings = {
        "function_id": "Fn",
        "queue_url": url,
        "queue_arn": arn,
        "batch_size": 10,
        "batching_window_seconds": 0.5,
        "maximum_concurrency": 2,
        "report_batch_item_failures": True,
        **overrides,
    }
    function = LocalFunction.in_process("Fn", handler, timeout_seconds=30)
    poller = QueuePoller(MappingConfig(**settings), function, sqs).start()
    try:
        yield poller
    finally:
        poller.stop()
        poller.join(3)


def send(sqs: Any, url: str, count: int) -> None:
    for start in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps({"n": start + i})} for i in range(min(10, count - start))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def test_mappings_come_from_the_template(stack: Stack) -> None:
    # Each worker has two event sources: its send queue and its bulk queue (SMS: concurrency 3 and 2)
    by_queue = {m.queue_url.rsplit("/", 1)[-1]: m for m in mappings_from_template(stack.resolver)}
    sms, bulk = by_queue["send-sms-queue"], by_queue["send-sms-bulk-queue"]
    assert sms.function_id == bulk.function_id == "SmsWorkerFunction"
    assert (sms.batch_size, sms.batching_window_seconds, sms.maximum_concurrency) == (50, 1.0, 3)
    assert (bulk.batch_size, bulk.batching_window_seconds, bulk.maximum_concurrency) == (50, 1.0, 2)
    assert sms.report_batch_item_failures
    assert by_queue["send-email-queue"].batch_size == by_queue["send-email-bulk-queue"].batch_size == 100


def test_batches_fill_up_to_batch_size_and_everything_is_deleted(sqs: Any) -> None:
    url, arn = make_queue(sqs, "q1")
    send(sqs, url, 45)
    handler = Recorder()
    with polling(sqs, url, arn, handler, batch_size=20, maximum_concurrency=1):
        wait_for(lambda: len(handler.records) == 45 and depth(sqs, url) == 0)
    sizes = [len(event["Records"]) for event in handler.events]
    assert max(sizes) <= 20
    assert sizes[0] == 20
    record = handler.records[0]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert {"ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])


def test_only_reported_failures_stay_and_reach_the_dlq_after_max_receives(sqs: Any) -> None:
    url, arn = make_queue(sqs, "q2", visibility=1, max_receive=2)

    def fail_odd(event: dict[str, Any]) -> dict[str, Any]:
        failures = [r["messageId"] for r in event["Records"] if json.loads(r["body"])["n"] % 2]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failures]}

    send(sqs, url, 6)
    handler = Recorder(answer=fail_odd)
    dlq_url = sqs.get_queue_url(QueueName="q2-dlq")["QueueUrl"]
    with polling(sqs, url, arn, handler, batching_window_seconds=0.2):
        wait_for(lambda: depth(sqs, dlq_url) == 3, timeout=15)
    numbers = [json.loads(r["body"])["n"] for r in handler.records]
    # Even messages were deleted after one delivery; odd ones were delivered twice, then dead-lettered.
    assert sorted(n for n in numbers if n % 2 == 0) == [0, 2, 4]
    assert sorted(n for n in numbers if n % 2) == [1, 1, 3, 3, 5, 5]
    assert depth(sqs, url) == 0


def test_a_raising_handler_deletes_nothing(sqs: Any) -> None:
    url, arn = make_queue(sqs, "q3", visibility=30)

    def boom(event: dict[str, Any]) -> Any:
        raise RuntimeError("handler crashed")

    send(sqs, url, 3)
    handler = Recorder(answer=boom)
    with polling(sqs, url, arn, handler, maximum_concurrency=1):
        wait_for(lambda: len(handler.records) == 3)
        time.sleep(0.3)
    assert depth(sqs, url) == 3


def test_malformed_failure_response_counts_as_complete_failure(sqs: Any) -> None:
    url, arn = make_queue(sqs, "q4", visibility=30)
    send(sqs, url, 2)
    handler = Recorder(answer={"batchItemFailures": [{"itemIdentifier": ""}]})
    with polling(sqs, url, arn, handler, maximum_concurrency=1):
        wait_for(lambda: len(handler.records) == 2)
        time.sleep(0.3)
    assert depth(sqs, url) == 2


def test_concurrency_never_exceeds_maximum_concurrency(sqs: Any) -> None:
    url, arn = make_queue(sqs, "q5")
    send(sqs, url, 30)
    handler = Recorder(delay=0.3)
    with polling(sqs, url, arn, handler, batch_size=2, batching_window_seconds=0, maximum_concurrency=3):
        wait_for(lambda: len(handler.records) == 30 and depth(sqs, url) == 0, timeout=15)
    assert handler.peak == 3


def in_flight(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])


def test_the_next_batch_is_read_while_the_current_one_is_in_the_function(sqs: Any) -> None:
    url, arn = make_queue(sqs, "q6")
    send(sqs, url, 20)
    seen_in_flight: list[int] = []

    def watch(event: dict[str, Any]) -> None:
        # While the first batch is in the function, the poller reads the second (as Lambda's pollers do).
        if len(seen_in_flight) == 0:
            deadline = time.monotonic() + 3
            while in_flight(sqs, url) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
        seen_in_flight.append(in_flight(sqs, url))

    handler = Recorder(answer=watch)
    with polling(sqs, url, arn, handler, batch_size=10, batching_window_seconds=0, maximum_concurrency=1):
        wait_for(lambda: len(handler.records) == 20 and depth(sqs, url) == 0)
    assert seen_in_flight[0] == 20
    # One batch ahead at most: the second invocation's read found nothing more to hold.
    assert len(handler.events) == 2


def test_a_batch_read_ahead_is_released_when_the_poller_stops(sqs: Any) -> None:
    url, arn = make_queue(sqs, "q7", visibility=30)
    send(sqs, url, 20)
    handler = Recorder(delay=0.5)
    with polling(sqs, url, arn, handler, batch_size=10, batching_window_seconds=0, maximum_concurrency=1):
        wait_for(lambda: len(handler.events) == 1 and in_flight(sqs, url) == 20)
    # The first batch was processed and deleted; the one read ahead is visible again, not in flight for 30 s.
    wait_for(lambda: depth(sqs, url) == 10, timeout=5)
    assert in_flight(sqs, url) == 0
    assert len(handler.records) == 10


@pytest.fixture
def scheduler_clients() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        yield boto3.client("scheduler"), boto3.client("sqs")


def create_at_schedule(scheduler: Any, name: str, at_local: datetime, zone: str, target: dict[str, Any]) -> None:
    scheduler.create_schedule(
        Name=name,
        GroupName="test-group",
        ScheduleExpression=f"at({at_local.strftime('%Y-%m-%dT%H:%M:%S')})",
        ScheduleExpressionTimezone=zone,
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target=target,
    )


def test_due_schedules_fire_into_their_queue_and_are_deleted(scheduler_clients: tuple[Any, Any]) -> None:
    scheduler, sqs = scheduler_clients
    url, arn = make_queue(sqs, "target")
    scheduler.create_schedule_group(Name="test-group")
    role = "arn:aws:iam::123456789012:role/scheduler"
    now = datetime.now(UTC).replace(microsecond=0)
    tokyo = ZoneInfo("Asia/Tokyo")
    # Given one schedule due a second ago (written in Tokyo time) and one due in an hour
    create_at_schedule(
        scheduler,
        "due",
        (now - timedelta(seconds=1)).astimezone(tokyo),
        "Asia/Tokyo",
        {"Arn": arn, "RoleArn": role, "Input": '{"hello": "due"}'},
    )
    create_at_schedule(
        scheduler,
        "later",
        now + timedelta(hours=1),
        "UTC",
        {"Arn": arn, "RoleArn": role, "Input": '{"hello": "later"}'},
    )
    firer = ScheduleFirer(scheduler, sqs)
    # When the firer runs now
    assert firer.fire_due(now) == 1
    # Then the due one's Input is on the queue and the schedule is gone; the later one waits
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"]) == {"hello": "due"}
    names = {s["Name"] for s in scheduler.list_schedules(GroupName="test-group")["Schedules"]}
    assert names == {"later"}
    assert firer.fire_due(now) == 0
    assert firer.fire_due(now + timedelta(hours=1)) == 1


def test_the_time_zone_is_respected(scheduler_clients: tuple[Any, Any]) -> None:
    scheduler, sqs = scheduler_clients
    _, arn = make_queue(sqs, "tz")
    scheduler.create_schedule_group(Name="test-group")
    now = datetime.now(UTC).replace(microsecond=0)
    # 10:00 in New York is not 10:00 UTC: written as New York time, a schedule an hour ahead is not due yet.
    ahead = (now + timedelta(hours=1)).astimezone(ZoneInfo("America/New_York"))
    create_at_schedule(scheduler, "ny", ahead, "America/New_York", {"Arn": arn, "RoleArn": "r", "Input": "{}"})
    firer = ScheduleFirer(scheduler, sqs)
    assert firer.fire_due(now) == 0
    assert firer.fire_due(now + timedelta(hours=1)) == 1


def test_universal_send_message_target_passes_its_parameters(scheduler_clients: tuple[Any, Any]) -> None:
    scheduler, sqs = scheduler_clients
    url, _ = make_queue(sqs, "universal")
    scheduler.create_schedule_group(Name="test-group")
    now = datetime.now(UTC).replace(microsecond=0)
    request = {"QueueUrl": url, "MessageBody": '{"hello": "delayed"}', "DelaySeconds": 2}
    create_at_schedule(
        scheduler, "u", now, "UTC", {"Arn": UNIVERSAL_SQS_SEND, "RoleArn": "r", "Input": json.dumps(request)}
    )
    assert ScheduleFirer(scheduler, sqs).fire_due(now) == 1
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    (message,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=4)["Messages"]
    assert json.loads(message["Body"]) == {"hello": "delayed"}


def test_a_failed_transaction_rolls_back_the_items_it_changed() -> None:
    # The emulator's cheaper transaction backup must still restore what a refused transaction touched.
    with mock_aws():
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName="t",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for key in ("a", "b", "c"):
            ddb.put_item(TableName="t", Item={"id": {"S": key}, "n": {"N": "0"}})

        def bump(key: str, expected: str) -> dict[str, Any]:
            return {
                "Update": {
                    "TableName": "t",
                    "Key": {"id": {"S": key}},
                    "UpdateExpression": "SET n = :one",
                    "ConditionExpression": "n = :expected",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":expected": {"N": expected}},
                }
            }

        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(TransactItems=[bump("a", "0"), bump("b", "5")])
        values = {i["id"]["S"]: i["n"]["N"] for i in ddb.scan(TableName="t")["Items"]}
        assert values == {"a": "0", "b": "0", "c": "0"}
        ddb.transact_write_items(TransactItems=[bump("a", "0"), bump("c", "0")])
        values = {i["id"]["S"]: i["n"]["N"] for i in ddb.scan(TableName="t")["Items"]}
        assert values == {"a": "1", "b": "0", "c": "1"}
