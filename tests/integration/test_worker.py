"""Workers under moto, sending to the provider sink over real HTTP."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local_stack.lambda_context import LocalLambdaContext
from queue_services.adapters.ledger import Ledger
from queue_services.channels import Channel
from queue_services.codec import decode_queued_message
from queue_services.statuses import MessageStatus
from queue_services.worker import NO_LEDGER_RECORD
from tests.support.builders import ledger_record
from tests.support.events import api_event, load_event, sqs_event_from_messages
from tests.support.integration_stack import Stack, failed_ids, metrics, post_sms
from tests.support.seeds import SEED_EMAIL, SEED_SMS


def sqs_ids_by_message_id(event: dict[str, Any]) -> dict[str, str]:
    return {json.loads(record["body"])["messageId"]: record["messageId"] for record in event["Records"]}


def test_fifty_records_across_two_workspaces_make_fifty_provider_requests(stack: Stack) -> None:
    # Given 50 queued SMS across two workspaces
    ids = post_sms(stack, 50)
    event = stack.receive_event("SmsQueue", 50)
    assert len(event["Records"]) == 50
    # When the worker gets them as one batch
    result = stack.sms_worker.invoke(event)
    # Then every one reached the provider once, with the contract's body and Idempotency-Key
    assert result == {"batchItemFailures": []}
    received = stack.sink_messages("sms")
    assert sorted(m["messageId"] for m in received) == sorted(ids)
    requests = stack.sink.state.requests
    assert all(r["idempotencyKey"] == r["messageId"] for r in requests)
    assert len(requests) == 50
    one = next(m for m in received if m["contactId"] == "contact-7")
    assert {k: v for k, v in one.items() if k not in ("receivedAt", "providerMessageId")} == {
        "messageId": one["messageId"],
        "to": "+15550000007",
        "message": "Your message content",
        "contactId": "contact-7",
        "workspaceId": "workspace-456",
        "metadata": {"source": "campaign", "campaignId": "campaign-uuid"},
        "channel": "sms",
    }
    # And the counters say so, per workspace, in the seed's shape
    sms = metrics(stack)["sms"]
    assert sms == {
        "total": 50,
        "success": 50,
        "failed": 0,
        "rateLimited": 0,
        "workspaces": {
            "workspace-123": {"total": 25, "success": 25, "failed": 0, "rateLimited": 0},
            "workspace-456": {"total": 25, "success": 25, "failed": 0, "rateLimited": 0},
        },
    }


def test_failures_are_exactly_the_retryable_refusals(stack: Stack) -> None:
    # Given a provider that refuses some recipients for good and answers others with 429 or 503
    post_sms(stack, 50)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(
        update={"rate429": 0.25, "rate5xx": 0.15, "reject": ["+15550000003", "+15550000010", "+15550000042"]}
    )
    event = stack.receive_event("SmsQueue", 50)
    sqs_id = sqs_ids_by_message_id(event)
    # When the worker sends the batch
    result = stack.sms_worker.invoke(event)
    # Then batchItemFailures names exactly the 429 and 5xx records; the 400s are counted, not retried
    statuses = {r["messageId"]: r["status"] for r in stack.sink.state.requests}
    assert len(statuses) == 50
    by_status = Counter(statuses.values())
    assert by_status[400] == 3
    assert by_status[429] > 0
    assert by_status[503] > 0
    retryable = {sqs_id[m] for m, status in statuses.items() if status in (429, 503)}
    assert failed_ids(result) == retryable
    sms = metrics(stack)["sms"]
    assert sms["success"] == by_status[200]
    assert sms["failed"] == 3
    assert sms["rateLimited"] == by_status[429]
    assert sms["total"] == by_status[200] + 3
    assert sum(ws["total"] for ws in sms["workspaces"].values()) == sms["total"]


@pytest.mark.parametrize(
    ("faults", "expect_rate_limited"),
    [
        pytest.param({"rate429": 1.0}, True, id="429"),
        pytest.param({"rate5xx": 1.0}, False, id="5xx"),
        pytest.param({"latencyMs": 800}, False, id="timeout", marks=pytest.mark.provider_read_timeout(0.5)),
    ],
)
def test_retryable_answers_fail_the_records_for_redelivery(
    stack: Stack, faults: dict[str, Any], expect_rate_limited: bool
) -> None:
    post_sms(stack, 3)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update=faults)
    event = stack.receive_event("SmsQueue", 3)
    result = stack.sms_worker.invoke(event)
    assert failed_ids(result) == {record["messageId"] for record in event["Records"]}
    sms = metrics(stack)["sms"]
    assert (sms["total"], sms["success"], sms["failed"]) == (0, 0, 0)
    assert sms["rateLimited"] == (3 if expect_rate_limited else 0)


def test_permanent_refusal_is_counted_failed_and_not_retried(stack: Stack) -> None:
    post_sms(stack, 2)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"reject": ["+15550000000"]})
    event = stack.receive_event("SmsQueue", 2)
    result = stack.sms_worker.invoke(event)
    assert result == {"batchItemFailures": []}
    sms = metrics(stack)["sms"]
    assert (sms["total"], sms["success"], sms["failed"]) == (2, 1, 1)


def test_redelivered_failures_are_sent_once_the_provider_recovers(stack: Stack) -> None:
    # Given a batch that failed with 503s and was handed back to SQS
    post_sms(stack, 4)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate5xx": 1.0})
    event = stack.receive_event("SmsQueue", 4)
    assert len(failed_ids(stack.sms_worker.invoke(event))) == 4
    for record in event["Records"]:
        stack.sqs.change_message_visibility(
            QueueUrl=stack.queue_url("SmsQueue"), ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
        )
    # When the provider is back and SQS delivers them again
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate5xx": 0.0})
    again = stack.receive_event("SmsQueue", 4)
    assert {r["attributes"]["ApproximateReceiveCount"] for r in again["Records"]} == {"2"}
    # Then all four are delivered
    assert stack.sms_worker.invoke(again) == {"batchItemFailures": []}
    assert len(stack.sink_messages("sms")) == 4


def test_rate_limited_records_come_back_after_retry_after(stack: Stack) -> None:
    # Given a provider answering 429 with Retry-After: 2
    post_sms(stack, 3)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"rate429": 1.0, "retryAfterSeconds": 2})
    event = stack.receive_event("SmsQueue", 3)
    failed = failed_ids(stack.sms_worker.invoke(event))
    # The worker hides them as its batch ends: the 2 s count from here (the batch itself waits out the
    # channel's 2 s pause, and longer on a busy machine).
    hidden_at = time.monotonic()
    assert len(failed) == 3
    # Then SQS hides them for those 2 s (not the queue's 370 s visibility timeout) and then redelivers them
    assert stack.receive("SmsQueue", 3) == []
    time.sleep(max(0.0, 1.5 - (time.monotonic() - hidden_at)))
    assert stack.receive("SmsQueue", 3) == []
    again = stack.receive("SmsQueue", 3, wait_seconds=3)
    assert len(again) == 3
    assert time.monotonic() - hidden_at < 4.5


def test_email_worker_sends_the_email_contract(stack: Stack) -> None:
    body = {**SEED_EMAIL, "text": "Email content"}
    response = stack.api.invoke(api_event("api_schedule_email", body))
    message_id = json.loads(response["body"])["messageId"]
    result = stack.email_worker.invoke(stack.receive_event("EmailQueue", 100))
    assert result == {"batchItemFailures": []}
    (received,) = stack.sink_messages("email")
    assert {k: v for k, v in received.items() if k not in ("receivedAt", "providerMessageId")} == {
        "messageId": message_id,
        "to": "recipient@example.com",
        "subject": "Email subject",
        "html": "<p>Email content</p>",
        "text": "Email content",
        "contactId": "contact-uuid",
        "workspaceId": "workspace-id",
        "metadata": {"source": "campaign", "campaignId": "campaign-uuid"},
        "channel": "email",
    }
    assert metrics(stack)["email"]["workspaces"] == {
        "workspace-id": {"total": 1, "success": 1, "failed": 0, "rateLimited": 0}
    }


@pytest.mark.parametrize(
    ("event_name", "function"), [("sqs_sms_worker", "sms_worker"), ("sqs_email_worker", "email_worker")]
)
def test_sample_events_are_sent_once_the_api_has_recorded_their_messages(
    stack: Stack, event_name: str, function: str
) -> None:
    # Given the ledger records the api writes before it queues a message
    event = load_event(event_name)
    ledger = Ledger(stack.dynamodb, stack.resolver.resources["MessagesTable"].ref, retention_days=30)
    for record in event["Records"]:
        message = decode_queued_message(record["body"], Channel(json.loads(record["body"])["channel"]))
        ledger.create(ledger_record(message, MessageStatus.QUEUED, channel=message.channel))
    # When the sample event runs through its worker, then both are sent
    result = getattr(stack, function).invoke(event)
    assert result == {"batchItemFailures": []}
    assert len(stack.sink_messages()) == 2


@pytest.mark.parametrize(
    ("event_name", "function", "dlq"),
    [
        ("sqs_sms_worker", "sms_worker", "SmsDeadLetterQueue"),
        ("sqs_email_worker", "email_worker", "EmailDeadLetterQueue"),
    ],
)
def test_well_formed_messages_without_a_ledger_record_are_refused_into_the_dlq(
    stack: Stack, event_name: str, function: str, dlq: str
) -> None:
    # Given well-formed queued messages the api never accepted (no ledger record), as in `sam local invoke`
    event = load_event(event_name)
    result = getattr(stack, function).invoke(event)
    # Then none is sent or handed back for retry, none is counted, and both are in the DLQ with the reason
    assert result == {"batchItemFailures": []}
    assert stack.sink_messages() == []
    buried = stack.receive(dlq, 3)
    assert sorted(m["Body"] for m in buried) == sorted(record["body"] for record in event["Records"])
    assert {m["MessageAttributes"]["deadLetterReason"]["StringValue"] for m in buried} == {NO_LEDGER_RECORD}
    assert all(channel["total"] == 0 for channel in (metrics(stack)["sms"], metrics(stack)["email"]))


def test_unreadable_records_are_dead_lettered_at_once_with_their_reason(stack: Stack) -> None:
    post_sms(stack, 2)
    messages = stack.receive("SmsQueue", 2)
    messages.append({"MessageId": "bad-1", "ReceiptHandle": "rh", "Body": '{"hello": "world"}'})
    email_body = json.loads(load_event("sqs_email_worker")["Records"][0]["body"])
    messages.append({"MessageId": "bad-2", "ReceiptHandle": "rh2", "Body": json.dumps(email_body)})
    messages.append({"MessageId": "bad-3", "ReceiptHandle": "rh3", "Body": "not json"})
    result = stack.sms_worker.invoke(sqs_event_from_messages(messages, stack.queue_arn("SmsQueue")))
    # No retry can make them readable: none is handed back for another delivery
    assert failed_ids(result) == set()
    assert len(stack.sink_messages()) == 2
    # They are in the DLQ as they came, each with why, and the peek shows the reason
    buried = stack.receive("SmsDeadLetterQueue", 3)
    reasons = {m["Body"]: m["MessageAttributes"]["deadLetterReason"]["StringValue"] for m in buried}
    assert reasons == {
        '{"hello": "world"}': "not a queued message of this channel: bad or missing channel",
        json.dumps(email_body): "not a queued message of this channel: a message of the email channel on the sms queue",
        "not json": "not a queued message of this channel: the body is not JSON",
    }


def test_empty_batch_is_a_success(stack: Stack) -> None:
    assert stack.sms_worker.invoke({"Records": []}) == {"batchItemFailures": []}


def test_concurrent_invocations_share_one_channel_rate(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the template's 50 SMS/s and two execution environments sending 60 messages each at the same time:
    # each with its own worker, provider session and limiter handle (as on Lambda), sharing only the table
    monkeypatch.setenv("SMS_RATE_PER_SECOND", "50")
    from queue_services import composition, worker_composition

    composition.reset()
    environments = []
    for _ in range(2):
        worker_composition.slot_claimer.cache_clear()
        worker = worker_composition.channel_worker.__wrapped__(Channel.SMS)
        environments.append((worker, worker_composition.slot_claimer(Channel.SMS)))
    post_sms(stack, 120)
    events = [stack.receive_event("SmsQueue", 60), stack.receive_event("SmsQueue", 60)]

    def invoke(worker: Any, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = worker.process(event, LocalLambdaContext("SmsWorkerFunction", 512, 60))
        return result

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(invoke, [worker for worker, _ in environments], events))
    assert results == [{"batchItemFailures": []}] * 2
    # Then together they keep to 50/s, not twice that, and are not much slower either. (This sink shares the
    # test's process and GIL, so its arrival times jitter by tens of ms: the exact bound of 50 in any second
    # is asserted where the sink is a process of its own, tests/e2e/test_pacing.py.)
    stamps = sorted(m["receivedAt"] for m in stack.sink_messages())
    assert len(stamps) == 120
    busiest = max(sum(1 for s in stamps if start <= s < start + 1.0) for start in stamps)
    assert busiest <= 60, f"{busiest} calls in one second"
    rate = 119 / (stamps[-1] - stamps[0])
    # Well above the 25/s of two invocations taking turns a second at a time (33.6-46.3/s measured here
    # with a third core's worth of load beside it; the throughput figures are bench/RESULTS.md's)
    assert rate >= 30, f"only {rate:.1f}/s"
    # And the limiter wrote far less than once per message: claims of 5 slots, 24 writes at best, plus the
    # writes refused when the two claimed the same second at once (42-69 measured as above)
    writes = sum(claimer.writes for _, claimer in environments)
    assert writes < 120 * 0.75, f"{writes} limiter writes for 120 messages"


def test_batch_metrics_are_emitted_as_emf(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    post_sms(stack, 3)
    stack.sink.state.faults = stack.sink.state.faults.model_copy(update={"reject": ["+15550000001"]})
    capsys.readouterr()
    stack.sms_worker.invoke(stack.receive_event("SmsQueue", 3))
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (blob,) = blobs
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "QueueServices"
    assert ["channel", "service"] in directive["Dimensions"]
    assert blob["channel"] == "sms"
    assert blob["Sent"] == [2.0]
    assert blob["Failed"] == [1.0]
    assert blob["BatchSize"] == [3.0]
    assert "BatchDuration" in blob


def test_metrics_reset_clears_only_the_named_channel(stack: Stack) -> None:
    post_sms(stack, 2)
    stack.api.invoke(api_event("api_schedule_email"))
    stack.sms_worker.invoke(stack.receive_event("SmsQueue", 2))
    stack.email_worker.invoke(stack.receive_event("EmailQueue", 1))
    assert metrics(stack)["sms"]["total"] == 2

    response = stack.api.invoke(api_event("api_reset_metrics", {"type": "sms"}))
    assert response["statusCode"] == 200
    after = metrics(stack)
    assert after["sms"] == {"total": 0, "success": 0, "failed": 0, "rateLimited": 0, "workspaces": {}}
    assert after["email"]["total"] == 1

    assert stack.api.invoke(api_event("api_reset_metrics", {"type": "all"}))["statusCode"] == 200
    assert metrics(stack)["email"]["total"] == 0


@pytest.mark.parametrize("body", [{"type": "push"}, {"type": None}, {}, {"type": "sms", "extra": 1}])
def test_metrics_reset_refuses_other_types(stack: Stack, body: dict[str, Any]) -> None:
    response = stack.api.invoke(api_event("api_reset_metrics", body))
    assert response["statusCode"] == 422
    assert json.loads(response["body"])["detail"]


def test_metrics_shape_when_empty(stack: Stack) -> None:
    answer = metrics(stack)
    assert set(answer) == {"sms", "email", "timestamp"}
    for channel in ("sms", "email"):
        assert answer[channel] == {"total": 0, "success": 0, "failed": 0, "rateLimited": 0, "workspaces": {}}
    assert answer["timestamp"].endswith("Z")


@pytest.mark.parametrize(("unit", "slots_spanned"), [("messages", 2), ("segments", 5)])
def test_sms_counted_in_segments_wait_for_one_slot_per_segment(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, unit: str, slots_spanned: int
) -> None:
    # Given 10 SMS/s (9 slots a second, 111 ms apart) counted in the given unit
    monkeypatch.setenv("SMS_RATE_PER_SECOND", "10")
    monkeypatch.setenv("SMS_RATE_UNIT", unit)
    from queue_services import composition, worker_composition

    composition.reset()
    worker_composition.slot_claimer.cache_clear()
    worker = worker_composition.channel_worker.__wrapped__(Channel.SMS)
    # And texts of 1, 2 and 3 segments (160 GSM-7 characters fit in one; then 153 a part)
    for index, length in enumerate([20, 300, 400]):
        body = {**SEED_SMS, "phoneNumber": f"+1555000{index:04d}", "message": "a" * length}
        assert stack.api.invoke(api_event("api_schedule_sms", body))["statusCode"] == 202
    # When one batch sends them
    worker.process(stack.receive_event("SmsQueue", 3), LocalLambdaContext("SmsWorkerFunction", 512, 60))
    # Then in messages they take 3 consecutive slots, in segments 6: the last call goes at least 2 or 5
    # slots after the first (each call waits for its last slot; a claim cut short by the end of a second
    # can cost a multipart call a slot or two more)
    stamps = sorted(m["receivedAt"] for m in stack.sink_messages("sms"))
    assert len(stamps) == 3
    # (the first may go up to the lateness allowed, 55 ms, after its slot's time, and the sink stamps a call
    # after its idempotency write and HTTP request: with both cores busy the first one's path took about
    # 115 ms longer than the last one's. Still apart: a messages-mode span is at most 0.50 s, a segments-mode
    # one at least 0.41 s, and either mode counting the other's way fails one of the bounds.)
    assert slots_spanned / 9 - 0.15 <= stamps[-1] - stamps[0] <= (slots_spanned + 2) / 9 + 0.06
