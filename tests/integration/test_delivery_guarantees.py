"""Delivery guarantees under moto with the provider sink: no duplicates after a crash, retries that never
dead-letter a throttled message, dead letters that carry their last error, and freshness."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_stack.runtime import FunctionError
from queue_services.delivery import BatchSender
from tests.support.events import api_event
from tests.support.integration_stack import Stack, failed_ids, metrics, post_sms, with_receive_count
from tests.support.seeds import SEED_SMS


class WorkerDied(Exception):
    """Stands for the invocation dying (timeout, out of memory) after some messages were sent."""


def test_an_invocation_that_dies_after_some_sends_loses_nothing_and_sends_nothing_twice(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 20 queued messages and a worker that dies right after its 5th successful provider call
    ids = post_sms(stack, 20)
    event = stack.receive_event("SmsQueue", 20)
    original = BatchSender._attempt
    sent = 0

    def dying_attempt(self: BatchSender, *args: Any) -> Any:
        nonlocal sent
        outcome = original(self, *args)
        if outcome.kind == "sent":
            sent += 1
            if sent == 5:
                raise WorkerDied("invocation died after the provider call")
        return outcome

    monkeypatch.setattr(BatchSender, "_attempt", dying_attempt)
    with pytest.raises(FunctionError, match="invocation died"):
        stack.sms_worker.invoke(event)
    reached_before_crash = {m["messageId"] for m in stack.sink_messages()}
    assert len(reached_before_crash) >= 5
    # When SQS delivers the whole batch again (nothing was deleted) to a healthy worker
    monkeypatch.setattr(BatchSender, "_attempt", original)
    assert stack.sms_worker.invoke(event) == {"batchItemFailures": []}
    # Then every message reached the provider exactly once
    received = [m["messageId"] for m in stack.sink_messages()]
    assert sorted(received) == sorted(ids)
    # And the provider was never called twice for one message
    calls = [r["messageId"] for r in stack.sink.state.requests]
    assert len(calls) == len(set(calls)) == 20


def test_a_redelivered_batch_is_not_resent(stack: Stack) -> None:
    post_sms(stack, 6)
    event = stack.receive_event("SmsQueue", 6)
    assert stack.sms_worker.invoke(event) == {"batchItemFailures": []}
    # SQS is at-least-once: the same records arrive again (say, a delete was lost)
    assert stack.sms_worker.invoke(event) == {"batchItemFailures": []}
    assert len(stack.sink.state.requests) == 6
    assert metrics(stack)["sms"]["success"] == 6  # replays are not counted again


def dead_letters(stack: Stack) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in stack.receive("SmsDeadLetterQueue", 10)]


def test_transient_failures_dead_letter_after_max_attempts_with_their_last_error(stack: Stack) -> None:
    # Given a provider answering 503 and a message on its 8th delivery (RETRY_MAX_ATTEMPTS = 8)
    (message_id,) = post_sms(stack, 1)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate5xx": 1.0})
    event = with_receive_count(stack.receive_event("SmsQueue", 1), 8)
    # When it fails again
    result = stack.sms_worker.invoke(event)
    # Then the worker moved it to the DLQ itself, with the attempts and the last error, and let SQS delete it
    assert result == {"batchItemFailures": []}
    (dead,) = dead_letters(stack)
    assert dead["messageId"] == message_id
    assert dead["attempts"] == 8
    assert dead["lastError"].startswith("HTTP 503")
    time.sleep(0.1)
    assert stack.receive("SmsQueue", 10) == []


def test_transient_failures_before_max_attempts_wait_for_their_backoff(stack: Stack) -> None:
    post_sms(stack, 1)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate5xx": 1.0})
    event = with_receive_count(stack.receive_event("SmsQueue", 1), 3)
    assert len(failed_ids(stack.sms_worker.invoke(event))) == 1
    assert dead_letters(stack) == []


def test_a_throttled_message_near_max_receive_count_is_requeued_not_dead_lettered(stack: Stack) -> None:
    # Given a message already received 9 times (maxReceiveCount 10) that the provider rate-limits again
    (message_id,) = post_sms(stack, 1)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate429": 1.0, "retryAfterSeconds": 0})
    event = with_receive_count(stack.receive_event("SmsQueue", 1), 9)
    result = stack.sms_worker.invoke(event)
    # Then a fresh copy (receive count 1, attempts carried) replaces it; nothing is dead-lettered
    assert result == {"batchItemFailures": []}
    assert dead_letters(stack) == []
    stack.sqs.change_message_visibility(
        QueueUrl=stack.queue_url("SmsQueue"), ReceiptHandle=event["Records"][0]["receiptHandle"], VisibilityTimeout=0
    )
    time.sleep(1.2)
    copies = stack.receive("SmsQueue", 10, wait_seconds=2)
    bodies = [json.loads(m["Body"]) for m in copies]
    assert [b["messageId"] for b in bodies if b["attempts"] == 9] == [message_id]
    fresh = next(m for m in copies if json.loads(m["Body"])["attempts"] == 9)
    assert fresh["Attributes"]["ApproximateReceiveCount"] == "1"


def test_expired_messages_are_failed_not_sent(stack: Stack) -> None:
    response = stack.api.invoke(api_event("api_schedule_sms", {**SEED_SMS, "ttlSeconds": 1}))
    assert response["statusCode"] == 202
    time.sleep(1.1)
    assert stack.sms_worker.invoke(stack.receive_event("SmsQueue", 1)) == {"batchItemFailures": []}
    assert stack.sink.state.requests == []
    sms = metrics(stack)["sms"]
    assert (sms["failed"], sms["success"]) == (1, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ttlSeconds": 0}, "ttlSeconds"),
        ({"ttlSeconds": 5, "expiresAt": "2099-01-01T00:00:00Z"}, "expiresAt"),
        ({"expiresAt": "2000-01-01T00:00:00Z"}, "expiresAt"),
        ({"delay": 5000, "ttlSeconds": 2}, "expiresAt"),
    ],
)
def test_freshness_input_is_checked(stack: Stack, change: dict[str, Any], field: str) -> None:
    response = stack.api.invoke(api_event("api_schedule_sms", {**SEED_SMS, **change}))
    assert response["statusCode"] == 422
    assert json.loads(response["body"])["detail"][0]["field"] == field


def test_expires_at_travels_with_the_message(stack: Stack) -> None:
    at = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
    response = stack.api.invoke(api_event("api_schedule_sms", {**SEED_SMS, "expiresAt": at.isoformat()}))
    assert response["statusCode"] == 202
    (message,) = stack.receive("SmsQueue", 1)
    assert datetime.fromisoformat(json.loads(message["Body"])["expiresAt"]) == at
