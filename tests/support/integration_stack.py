"""The integration tier's stack: moto in-process for AWS, handlers loaded in-process, the provider sink on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_stack.moto_patches import atomic_dynamodb_writes, emulate_message_move_task, one_backup_per_transaction
from local_stack.provision import provision
from local_stack.runtime import LocalFunction, load_function
from local_stack.sink import ProviderSink
from local_stack.template import Resolver, function_environment, load_template
from tests.support.events import api_event, sqs_event_from_messages
from tests.support.seeds import SEED_SMS

# The same emulator fixes the local stack's moto server runs with: conditional writes are atomic, and
# StartMessageMoveTask exists.
one_backup_per_transaction()
atomic_dynamodb_writes()
emulate_message_move_task()


@dataclass
class Stack:
    """The provisioned resources, the loaded handlers and the sink of one test."""

    resolver: Resolver
    sink: ProviderSink
    api: LocalFunction
    sms_worker: LocalFunction
    email_worker: LocalFunction
    sqs: Any
    dynamodb: Any

    def queue_url(self, logical_id: str) -> str:
        return self.resolver.resources[logical_id].ref

    def queue_arn(self, logical_id: str) -> str:
        return self.resolver.resources[logical_id].attributes["Arn"]

    def receive(self, logical_id: str, count: int, wait_seconds: float = 0) -> list[dict[str, Any]]:
        """Up to count messages from the queue, as the event source mapping would receive them."""
        received: list[dict[str, Any]] = []
        while len(received) < count:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url(logical_id),
                MaxNumberOfMessages=min(10, count - len(received)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=int(wait_seconds),
            )
            batch = answer.get("Messages", [])
            if not batch:
                break
            received.extend(batch)
        return received

    def receive_event(self, logical_id: str, count: int) -> dict[str, Any]:
        return sqs_event_from_messages(self.receive(logical_id, count), self.queue_arn(logical_id))

    def sink_messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.sink.state.messages if channel in (None, m["channel"])]


@pytest.fixture
def sink() -> Iterator[ProviderSink]:
    server = ProviderSink(seed=7).start()
    yield server
    server.stop()


@pytest.fixture
def stack(sink: ProviderSink, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Stack]:
    with mock_aws():
        template = load_template()
        resolver = Resolver(template, {"SmsApiUrl": sink.url, "EmailApiUrl": sink.url})
        session = boto3.Session()
        provision(resolver, session)
        for name, value in function_environment(template, resolver, "ApiFunction").items():
            monkeypatch.setenv(name, value)
        # A provider timeout long enough for a loaded machine's sink (0.5 s failed a send on CI); a test of
        # the timeout itself marks a short one, `@pytest.mark.provider_read_timeout(0.5)`, to stay quick.
        marker = request.node.get_closest_marker("provider_read_timeout")
        monkeypatch.setenv("PROVIDER_READ_TIMEOUT_SECONDS", str(marker.args[0] if marker else 5))
        monkeypatch.setenv("PROVIDER_CONNECT_TIMEOUT_SECONDS", "3")
        # Pacing has its own test at the template's rates; elsewhere it would only make the suite slow.
        monkeypatch.setenv("SMS_RATE_PER_SECOND", "5000")
        monkeypatch.setenv("EMAIL_RATE_PER_SECOND", "5000")
        yield Stack(
            resolver=resolver,
            sink=sink,
            api=load_function(template, "ApiFunction"),
            sms_worker=load_function(template, "SmsWorkerFunction"),
            email_worker=load_function(template, "EmailWorkerFunction"),
            sqs=session.client("sqs"),
            dynamodb=session.client("dynamodb"),
        )


def post_sms(stack: Stack, count: int, workspaces: tuple[str, ...] = ("workspace-123", "workspace-456")) -> list[str]:
    ids = []
    for index in range(count):
        body = {
            **SEED_SMS,
            "phoneNumber": f"+1555{index:07d}",
            "contactId": f"contact-{index}",
            "workspaceId": workspaces[index % len(workspaces)],
        }
        response = stack.api.invoke(api_event("api_schedule_sms", body))
        assert response["statusCode"] == 202
        ids.append(json.loads(response["body"])["messageId"])
    return ids


def metrics(stack: Stack) -> dict[str, Any]:
    response = stack.api.invoke(api_event("api_get_metrics"))
    assert response["statusCode"] == 200
    loaded: dict[str, Any] = json.loads(response["body"])
    return loaded


def failed_ids(result: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in result["batchItemFailures"]}


def with_receive_count(event: dict[str, Any], count: int) -> dict[str, Any]:
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = str(count)
    return event
