"""Through the local stack over real HTTP: gateway → api → SQS (moto server) → pollers → workers → sink."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from queue_services.adapters.ledger import to_item
from queue_services.channels import Channel
from queue_services.codec import decode_queued_message
from queue_services.statuses import MessageStatus
from tests.support.builders import ledger_record
from tests.support.local_stack_process import (
    ROOT,
    SEED_EMAIL,
    SEED_SMS,
    LocalStackProcess,
    delivered,
    keyed_session,
    post,
    wait_until,
)


def without_sink_fields(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in ("receivedAt", "providerMessageId", "channel")}


def test_seed_bodies_arrive_at_the_provider_with_every_field(stack: LocalStackProcess) -> None:
    sms_id = post(stack, "schedule-sms", SEED_SMS)
    email_id = post(stack, "schedule-email", SEED_EMAIL)
    sms = wait_until(lambda: delivered(stack, sms_id), timeout=15)
    email = wait_until(lambda: delivered(stack, email_id), timeout=15)
    assert sms["channel"] == "sms"
    assert without_sink_fields(sms) == {
        "messageId": sms_id,
        "to": "+1234567890",
        "message": "Your message content",
        "contactId": "contact-uuid",
        "workspaceId": "workspace-123",
        "metadata": {"source": "campaign", "campaignId": "campaign-uuid"},
    }
    assert email["channel"] == "email"
    assert without_sink_fields(email) == {
        "messageId": email_id,
        "to": "recipient@example.com",
        "subject": "Email subject",
        "html": "<p>Email content</p>",
        "contactId": "contact-uuid",
        "workspaceId": "workspace-123",
        "metadata": {"source": "campaign", "campaignId": "campaign-uuid"},
    }
    keys = {r["messageId"]: r["idempotencyKey"] for r in stack.sink_requests()}
    assert keys == {sms_id: sms_id, email_id: email_id}


def test_a_delay_is_honoured(stack: LocalStackProcess) -> None:
    posted = time.time()
    message_id = post(stack, "schedule-sms", {**SEED_SMS, "delay": 3000})
    message = wait_until(lambda: delivered(stack, message_id), timeout=20)
    assert message["receivedAt"] >= posted + 3.0


def test_rate_limited_sends_are_retried_until_delivered_and_counted(stack: LocalStackProcess) -> None:
    # Given a provider that answers 60 % of calls with 429 and Retry-After: 1
    stack.set_faults(rate429=0.6, retryAfterSeconds=1)
    ids = [post(stack, "schedule-sms", {**SEED_SMS, "contactId": f"c{i}"}) for i in range(10)]
    # Then every message is still delivered, once, and the 429s are counted
    wait_until(lambda: {m["messageId"] for m in stack.sink_messages()} >= set(ids), timeout=45)
    answers = [r["status"] for r in stack.sink_requests()]
    assert answers.count(429) > 0
    received = [m["messageId"] for m in stack.sink_messages()]
    assert sorted(received) == sorted(ids)
    sms = wait_until(lambda: stack.metrics()["sms"] if stack.metrics()["sms"]["success"] == 10 else None, timeout=10)
    assert sms["rateLimited"] == answers.count(429)
    assert sms["workspaces"]["workspace-123"]["rateLimited"] == answers.count(429)


def test_a_permanently_refused_recipient_is_not_retried(stack: LocalStackProcess) -> None:
    stack.set_faults(reject=["+15550001111"])
    refused = post(stack, "schedule-sms", {**SEED_SMS, "phoneNumber": "+1 555 000 1111"})
    accepted = post(stack, "schedule-sms", SEED_SMS)
    wait_until(lambda: stack.metrics()["sms"]["total"] == 2, timeout=15)
    time.sleep(2.5)  # longer than any retry delay would be
    attempts = [r for r in stack.sink_requests() if r["messageId"] == refused]
    assert [r["status"] for r in attempts] == [400]
    assert delivered(stack, accepted) is not None
    assert stack.metrics()["sms"]["failed"] == 1


def test_three_hundred_messages_each_arrive_exactly_once(stack: LocalStackProcess) -> None:
    def send(index: int) -> str:
        body = {**SEED_SMS, "phoneNumber": f"+1555{index:07d}", "workspaceId": f"workspace-{index % 3}"}
        return post(stack, "schedule-sms", body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(send, range(300)))
    wait_until(lambda: len(stack.sink_messages("sms")) >= 300, timeout=60, interval=0.5)
    time.sleep(1.5)  # any duplicate would land in this time
    received = [m["messageId"] for m in stack.sink_messages("sms")]
    assert len(received) == 300
    assert set(received) == set(ids)
    assert stack.metrics()["sms"]["success"] == 300


def test_a_schedule_created_in_the_emulator_fires_into_its_queue_and_is_deleted(stack: LocalStackProcess) -> None:
    scheduler = stack.aws_client("scheduler")
    sqs = stack.aws_client("sqs")
    group = f"e2e-{uuid.uuid4().hex[:8]}"
    scheduler.create_schedule_group(Name=group)
    queue_url = sqs.get_queue_url(QueueName="send-sms-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    message_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    body = {
        "schemaVersion": 1,
        "channel": "sms",
        "messageId": message_id,
        "workspaceId": "workspace-123",
        "contactId": "contact-uuid",
        "metadata": {},
        "createdAt": now.isoformat(),
        "sendAt": now.isoformat(),
        "to": "+15551234567",
        "message": "from a schedule",
    }
    # The ledger record the api writes first: the worker refuses a message without one.
    queued = decode_queued_message(json.dumps(body), Channel.SMS)
    record = ledger_record(queued, MessageStatus.SCHEDULED)
    stack.aws_client("dynamodb").put_item(TableName="MessagesTable", Item=to_item(record))
    at = (now + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    scheduler.create_schedule(
        Name=message_id,
        GroupName=group,
        ScheduleExpression=f"at({at})",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": queue_arn, "RoleArn": "arn:aws:iam::123456789012:role/scheduler", "Input": json.dumps(body)},
    )
    message = wait_until(lambda: delivered(stack, message_id), timeout=20)
    assert message["message"] == "from a schedule"
    assert message["receivedAt"] >= now.timestamp() + 1
    assert scheduler.list_schedules(GroupName=group)["Schedules"] == []


def test_bad_input_is_a_4xx_through_the_gateway(stack: LocalStackProcess) -> None:
    response = stack.http.post(
        f"{stack.api}/api/schedule-sms", data="not json", headers={"Content-Type": "application/json"}, timeout=5
    )
    assert response.status_code == 422
    response = stack.http.post(f"{stack.api}/api/schedule-sms", json={**SEED_SMS, "phoneNumber": "12"}, timeout=5)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "phoneNumber"
    assert stack.http.get(f"{stack.api}/api/nothing-here", timeout=5).status_code == 403


def test_logs_say_what_happened_with_ids_and_without_recipients_or_texts(stack: LocalStackProcess) -> None:
    # Given a provider that refuses one recipient for good
    stack.set_faults(reject=["+15550004444"])
    sent = post(stack, "schedule-sms", {**SEED_SMS, "phoneNumber": "+15559876543", "message": "secret code 4242"})
    refused = post(stack, "schedule-sms", {**SEED_SMS, "phoneNumber": "+15550004444", "message": "secret code 4343"})
    email = post(stack, "schedule-email", {**SEED_EMAIL, "to": "someone.private@example.com"})
    wait_until(lambda: delivered(stack, sent) and delivered(stack, email), timeout=15)

    def lines_about(message_id: str, text: str) -> list[str]:
        return [line for line in stack.log().splitlines() if message_id in line and text in line]

    wait_until(lambda: lines_about(refused, "message failed"), timeout=15)
    # Then the request line names the message, and each worker line says what happened, in the right function
    assert lines_about(sent, "POST /api/schedule-sms 202")
    (sent_line,) = lines_about(sent, "message sent")
    assert " INFO " in sent_line
    assert "SmsWorkerFunction" in sent_line
    (failed_line,) = lines_about(refused, "message failed")
    assert " WARNING " in failed_line
    assert "SmsWorkerFunction" in failed_line
    assert "recipient rejected" in failed_line
    # The worker logs once its batch is done, a moment after the sink has the message.
    wait_until(lambda: lines_about(email, "message sent"), timeout=15)
    (email_line,) = lines_about(email, "message sent")
    assert "EmailWorkerFunction" in email_line
    # Each batch line carries its own invocation's request id, shared with the worker's lines of that batch
    request = sent_line.rsplit("request=", 1)[1]
    batch_lines = [line for line in stack.log().splitlines() if f"request {request})" in line]
    assert len(batch_lines) == 1
    assert "SmsWorkerFunction batch of" in batch_lines[0]
    assert request != email_line.rsplit("request=", 1)[1]
    # And no recipient or text in clear
    log = stack.log()
    for secret in ("5559876543", "5550004444", "secret code", "someone.private", "recipient@example.com"):
        assert secret not in log


def test_a_port_in_use_is_a_one_line_error_naming_the_variable(local_stack: LocalStackProcess) -> None:
    api_port = local_stack.api.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "local_stack"],
        cwd=ROOT,
        env={"QS_API_PORT": api_port, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: port {api_port} is already in use; set QS_API_PORT to a free port"
    ]


def test_help_documents_the_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local_stack", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for text in ("--api-port", "QS_API_PORT", "QS_AWS_PORT", "QS_SINK_PORT", "--param"):
        assert text in result.stdout


def test_ctrl_c_stops_everything_within_a_few_seconds(tmp_path: Any) -> None:
    from tests.support.local_stack_process import free_port

    ports = {"QS_API_PORT": free_port(), "QS_AWS_PORT": free_port(), "QS_SINK_PORT": free_port()}
    env = {"PATH": "/usr/bin:/bin", **{k: str(v) for k, v in ports.items()}}
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack", "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        api = f"http://127.0.0.1:{ports['QS_API_PORT']}"

        def up() -> bool:
            try:
                return requests.get(f"{api}/health", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(up, timeout=60)
        post(
            LocalStackProcess(api, "", "", process, tmp_path / "unused"),
            "schedule-sms",
            {**SEED_SMS, "delay": 5000},
        )
        started = time.monotonic()
        process.send_signal(2)  # SIGINT, as Ctrl-C
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        if process.poll() is None:
            process.kill()
    for port in ports.values():
        with socket.socket() as probe:
            # As a server binds (the stack's own port check too): connections the emulator closed on exit
            # linger in TIME_WAIT on its port, which only a bind without SO_REUSEADDR trips over.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))  # every port is free again: nothing left running


def test_concurrent_receives_never_hand_out_one_message_twice(stack: LocalStackProcess) -> None:
    # moto alone lets two concurrent ReceiveMessage calls take the same message; the emulator serializes them.
    sqs = stack.aws_client("sqs")
    queue = sqs.create_queue(QueueName=f"race-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "300"})
    url = queue["QueueUrl"]
    for start in range(0, 400, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(start + i)} for i in range(10)])

    def drain(_: int) -> list[str]:
        client = stack.aws_client("sqs")
        bodies: list[str] = []
        while True:
            messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            bodies.extend(m["Body"] for m in messages)

    with ThreadPoolExecutor(max_workers=8) as pool:
        received = [body for bodies in pool.map(drain, range(8)) for body in bodies]
    assert len(received) == 400
    assert len(set(received)) == 400


def test_api_keys_decide_who_may_do_what(stack: LocalStackProcess) -> None:
    route = f"{stack.api}/api/schedule-sms"
    mine = {**SEED_SMS, "workspaceId": "workspace-123"}
    # No key, or an unknown one: 401
    assert requests.post(route, json=mine, timeout=5).status_code == 401
    assert keyed_session("not-a-key").post(route, json=mine, timeout=5).status_code == 401
    # A workspace key acts for its own workspace only
    key_123 = keyed_session("local-key-123")
    assert key_123.post(route, json=mine, timeout=5).status_code == 202
    refused = key_123.post(route, json={**mine, "workspaceId": "workspace-456"}, timeout=5)
    assert refused.status_code == 403
    assert refused.json()["detail"][0]["field"] == "workspaceId"
    # It sees only its own workspace's metrics, and may not reset them
    keyed_session("local-key-456").post(route, json={**mine, "workspaceId": "workspace-456"}, timeout=5)
    wait_until(lambda: stack.metrics()["sms"]["total"] == 2, timeout=15)
    seen = key_123.get(f"{stack.api}/api/metrics", timeout=5).json()
    assert set(seen["sms"]["workspaces"]) == {"workspace-123"}
    assert seen["sms"]["total"] == 1
    assert key_123.post(f"{stack.api}/api/metrics/reset", json={"type": "all"}, timeout=5).status_code == 403
    # The admin key sees everything; /health needs no key
    assert set(stack.metrics()["sms"]["workspaces"]) == {"workspace-123", "workspace-456"}
    assert requests.get(f"{stack.api}/health", timeout=5).status_code == 200
