"""Fault tests through the local stack: injected 429s, 5xxs, latency, an outage, and a final accounting."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.local_stack_process import SEED_SMS, LocalStackProcess, post, wait_until


def post_many(stack: LocalStackProcess, bodies: list[dict[str, Any]]) -> list[str]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda body: post(stack, "schedule-sms", body), bodies))


def numbered(index: int, **changes: Any) -> dict[str, Any]:
    return {**SEED_SMS, "phoneNumber": f"+1555{index:07d}", "workspaceId": f"workspace-{index % 3}", **changes}


def queue_is_empty(stack: LocalStackProcess, name: str) -> bool:
    sqs = stack.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return all(int(value) == 0 for value in attributes.values())


def dead_letter_ids(stack: LocalStackProcess) -> list[str]:
    import json

    sqs = stack.aws_client("sqs")
    url = sqs.get_queue_url(QueueName="send-sms-dlq")["QueueUrl"]
    found: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        if not messages:
            return found
        found.extend(json.loads(m["Body"])["messageId"] for m in messages)


def test_under_429s_5xxs_and_latency_500_sms_each_arrive_exactly_once(stack: LocalStackProcess) -> None:
    # Given a provider answering 20 % 429 (Retry-After 1), 10 % 503, and 30 ms slow
    stack.set_faults(rate429=0.2, rate5xx=0.1, latencyMs=30, retryAfterSeconds=1)
    # When 500 SMS are posted
    ids = post_many(stack, [numbered(i) for i in range(500)])
    # Then every one is delivered, once
    wait_until(lambda: len({m["messageId"] for m in stack.sink_messages("sms")}) >= 500, timeout=240, interval=1)
    time.sleep(2)
    received = [m["messageId"] for m in stack.sink_messages("sms")]
    assert len(received) == 500
    assert set(received) == set(ids)
    statuses = [r["status"] for r in stack.sink_requests()]
    assert statuses.count(429) > 0
    assert statuses.count(503) > 0
    sms = stack.metrics()["sms"]
    assert sms["success"] == 500
    assert sms["rateLimited"] == statuses.count(429)
    assert dead_letter_ids(stack) == []


def test_a_provider_outage_delays_sending_but_dead_letters_nothing(stack: LocalStackProcess) -> None:
    # Given a provider that is down (every call 503)
    stack.set_faults(rate5xx=1.0)
    ids = post_many(stack, [numbered(i) for i in range(30)])
    wait_until(lambda: len(stack.sink_requests()) >= 30, timeout=20)
    time.sleep(4)
    assert stack.sink_messages() == []
    # When it comes back
    stack.set_faults(rate5xx=0.0)
    # Then everything drains, and nothing went to the DLQ
    wait_until(lambda: {m["messageId"] for m in stack.sink_messages()} >= set(ids), timeout=90, interval=1)
    assert len(stack.sink_messages()) == 30
    assert dead_letter_ids(stack) == []


def test_every_accepted_message_ends_sent_failed_or_dead_lettered(stack: LocalStackProcess) -> None:
    # Given a flaky provider that refuses some recipients for good and is down for the first 4 s
    rejected_numbers = [f"+1555{i:07d}" for i in range(5)]
    stack.set_faults(rate429=0.1, rate5xx=1.0, retryAfterSeconds=1, reject=rejected_numbers)
    rejected = post_many(stack, [numbered(i) for i in range(5)])
    expiring = post_many(stack, [numbered(i, ttlSeconds=2) for i in range(5, 10)])
    normal = post_many(stack, [numbered(i) for i in range(10, 50)])
    time.sleep(4)
    stack.set_faults(rate5xx=0.0)
    # When the queue has drained
    wait_until(lambda: queue_is_empty(stack, "send-sms-queue"), timeout=120, interval=1)
    time.sleep(1)
    # Then each message is accounted for: sent once, failed (rejected or expired), or dead-lettered
    sent = [m["messageId"] for m in stack.sink_messages()]
    assert len(sent) == len(set(sent))
    dead = dead_letter_ids(stack)
    accepted = set(rejected) | set(expiring) | set(normal)
    failed = set(rejected) | set(expiring)
    assert set(sent) | failed | set(dead) == accepted
    assert not (set(sent) & failed), (len(set(sent) & set(rejected)), len(set(sent) & set(expiring)))
    assert set(normal) <= set(sent) | set(dead)
    sms = stack.metrics()["sms"]
    assert sms["failed"] == len(failed)
    assert sms["success"] == len(sent)
    assert sms["total"] == len(sent) + len(failed)
